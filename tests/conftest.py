"""Fixtures: every test runs on SQLite, and again on PostgreSQL when TEST_DATABASE_URL is set.

Each test gets a freshly migrated database (a copy of a migrated SQLite file, or truncated
PostgreSQL tables) and its own app instance, talked to over HTTP through httpx. Tests of
shared rate limits use the Redis at TEST_REDIS_URL (default: the local one), each under a key
prefix of its own. With DB_TRANSACTION_POOLING=true and TEST_DATABASE_URL pointing at
PgBouncer, the whole suite runs through the pooler (`.ci/run` does that once).
"""

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from backend.config import Settings, normalize_database_url
from backend.db import create_engine
from backend.main import create_app
from backend.migrate import upgrade

from support import (
    IN_CI,
    ApiUser,
    emptied_postgres,
    make_settings,
    missing_dependency,
    run_in_fresh_loop,
    token_for,
)

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ENGINES = ["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"]

if IN_CI and not TEST_DATABASE_URL:
    raise pytest.UsageError("CI must run the PostgreSQL tests: set TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "tasks.db"
    settings = make_settings(f"sqlite:///{path}")

    async def migrate() -> None:
        engine = create_engine(settings)
        await upgrade(engine)
        await engine.dispose()

    run_in_fresh_loop(migrate())
    return path


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL test database, wiped and migrated once per session."""
    assert TEST_DATABASE_URL is not None
    url = normalize_database_url(TEST_DATABASE_URL)

    async def reset_and_migrate() -> None:
        engine = create_engine(make_settings(url))
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
        await engine.dispose()

    run_in_fresh_loop(reset_and_migrate())
    return url


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(engine_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "tasks.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    return await emptied_postgres(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def postgresql_url(request: pytest.FixtureRequest) -> str:
    """A freshly truncated PostgreSQL database, for tests that need PostgreSQL itself."""
    if not TEST_DATABASE_URL:
        missing_dependency("needs PostgreSQL: set TEST_DATABASE_URL")
    return await emptied_postgres(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def redis_url() -> str:
    """The shared Redis, checked to answer; tests pair it with `redis_prefix`."""
    client = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError):
        missing_dependency(f"needs Redis at {TEST_REDIS_URL} (set TEST_REDIS_URL)")
    finally:
        await client.aclose()
    return TEST_REDIS_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"ops:test:{uuid.uuid4().hex}:"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        yield http


@pytest.fixture
def alice(client: AsyncClient) -> ApiUser:
    return ApiUser(
        client, "alice-id", token_for("alice-id", email="alice@example.com", name="Alice")
    )


@pytest.fixture
def bob(client: AsyncClient) -> ApiUser:
    return ApiUser(client, "bob-id", token_for("bob-id", email="bob@example.com", name="Bob"))


@pytest.fixture
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory with no project settings in the environment."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
