"""Helpers the tests import: tokens and settings, a signed-in API user, an app served over
HTTP, free ports, and skips that fail in CI. The fixtures that use them live in conftest.py.
"""

import asyncio
import itertools
import os
import socket
import uuid
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.engine import make_url

from backend.config import Settings
from backend.db import create_engine
from backend.tokens import mint_token

SECRET = "test-secret-for-hs256-tokens-" + "0123456789abcdef" * 3
IN_CI = os.environ.get("CI") == "true"
# Set on a test whose body failed (conftest's report hook), for fixtures that keep evidence then.
FAILED_CALL = pytest.StashKey[bool]()

# Servers the tests start listen on these ports, away from the ones other programs use.
_first, _, _last = os.environ.get("TEST_PORT_RANGE", "18500-18599").partition("-")
PORTS = range(int(_first), int(_last) + 1)
_start = os.getpid() % len(PORTS)
_PORT_ROTATION = itertools.cycle([*PORTS[_start:], *PORTS[:_start]])


def free_ports(count: int) -> list[int]:
    """`count` loopback ports of TEST_PORT_RANGE that nothing listens on now.

    The range is walked round-robin, so a port handed out is not handed out again before the
    rest of the range has been: the server it went to has time to bind it. Each test run starts
    at a place of its own in the range, so two runs on one machine seldom probe the same ports.
    """
    ports: list[int] = []
    for _ in PORTS:
        port = next(_PORT_ROTATION)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"fewer than {count} free ports in TEST_PORT_RANGE {PORTS}")


def free_port() -> int:
    return free_ports(1)[0]


def missing_dependency(message: str) -> None:
    """Skip on a developer's machine; fail in CI, where every dependency must be present."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def run_in_fresh_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run session setup on its own event loop (a test's loop may already be running)."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, coroutine).result()


def token_for(user_id: str, secret: str = SECRET, **claims: Any) -> str:
    return mint_token(secret, user_id=user_id, **claims)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "better_auth_secret": SECRET,
        "environment": "development",
        "cors_origins": ["http://localhost:3000"],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def emptied_postgres(url: str) -> str:
    """The migrated PostgreSQL test database with every table emptied."""
    engine = create_engine(make_settings(url))
    async with engine.begin() as connection:
        await connection.execute(text('TRUNCATE task, "user" RESTART IDENTITY CASCADE'))
    await engine.dispose()
    return url


@asynccontextmanager
async def fresh_postgres(url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of `url`, dropped when the block ends."""
    server = make_url(url)
    name = f"{server.database}_fresh_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def serving(app: FastAPI, **transport_options: Any) -> AsyncIterator[AsyncClient]:
    """Start the app's lifespan and talk to it over HTTP."""
    transport = ASGITransport(app=app, **transport_options)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://test") as http,
    ):
        yield http


@dataclass
class ApiUser:
    """A signed-in user of the API: their id, token, and shortcuts to their task URLs."""

    client: AsyncClient
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, suffix: str = "") -> str:
        return f"/api/{self.id}/tasks{suffix}"

    async def request(self, method: str, suffix: str = "", **kwargs: Any) -> Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, self.url(suffix), headers=headers, **kwargs)

    async def create(self, **body: Any) -> dict[str, Any]:
        response = await self.request("POST", json={"title": "A task", **body})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created
