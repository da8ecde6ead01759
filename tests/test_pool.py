"""One pool per process on PostgreSQL: `DB_POOL_SIZE` connections serve every request (tasks,
users, idempotency keys, readiness), and `DB_POOL_RECYCLE` and `DB_POOL_PRE_PING` act on it."""

import asyncio
import socket
import struct
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from httpx import AsyncClient

from backend.main import create_app

from support import make_settings, serving, token_for


async def _app_connections(url: str) -> list[int]:
    """The server process ids of every other connection to the test database."""
    admin = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        rows = await admin.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    return sorted(row["pid"] for row in rows)


def _user(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user_id)}"}


async def _burst(client: AsyncClient, users: int) -> list[int]:
    """Concurrent first requests of many users: provisioning, creates, lists, keyed creates."""

    async def one(index: int) -> int:
        user = f"pool-user-{index}"
        tasks = f"/api/{user}/tasks"
        created = await client.post(tasks, json={"title": "t"}, headers=_user(user))
        keyed = await client.post(
            tasks,
            json={"title": "k"},
            headers={**_user(user), "Idempotency-Key": f"key-{index}"},
        )
        listed = await client.get(tasks, headers=_user(user))
        ready = await client.get("/readyz")
        return max(created.status_code, keyed.status_code, listed.status_code, ready.status_code)

    return list(await asyncio.gather(*(one(index) for index in range(users))))


@pytest.mark.direct_postgres
async def test_db_pool_size_is_the_connections_of_the_process(postgresql_url: str) -> None:
    settings = make_settings(postgresql_url, db_pool_size=3)
    async with serving(create_app(settings)) as client:
        statuses = await _burst(client, 30)
        connections = await _app_connections(postgresql_url)

    assert statuses == [201] * 30
    assert len(connections) == 3


@pytest.mark.direct_postgres
async def test_connections_older_than_db_pool_recycle_are_replaced(postgresql_url: str) -> None:
    settings = make_settings(
        postgresql_url, db_pool_size=1, db_pool_recycle=1, db_pool_pre_ping=False
    )
    async with serving(create_app(settings)) as client:
        assert (await client.get("/api/rita/tasks", headers=_user("rita"))).status_code == 200
        before = await _app_connections(postgresql_url)
        await asyncio.sleep(1.2)
        assert (await client.get("/api/rita/tasks", headers=_user("rita"))).status_code == 200
        after = await _app_connections(postgresql_url)

    assert len(before) == len(after) == 1
    assert before != after


class _DroppingProxy:
    """TCP between the app and PostgreSQL that can drop every open connection silently, as a
    NAT or load balancer drops idle ones: nothing is sent until the client next writes, which
    then meets a reset. New connections pass as before."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._clients: list[asyncio.StreamWriter] = []
        self._dropped: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def drop_open_connections(self) -> None:
        self._dropped.update(self._clients)

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._clients:
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        self._clients.append(writer)
        to_server = asyncio.create_task(self._pump(reader, upstream_writer, client=writer))
        await self._pump(upstream_reader, writer, client=writer)
        await to_server

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, client: Any
    ) -> None:
        try:
            while data := await source.read(65536):
                if client in self._dropped:
                    sock = client.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    client.transport.abort()
                    sink.transport.abort()
                    return
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            return
        finally:
            sink.close()


async def _after_a_silent_drop(postgresql_url: str, *, pre_ping: bool) -> int:
    parts = urlsplit(postgresql_url)
    proxy = _DroppingProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    port = await proxy.start()
    through_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))
    settings = make_settings(through_proxy, db_pool_size=1, db_pool_pre_ping=pre_ping)
    try:
        async with serving(create_app(settings)) as client:
            assert (await client.get("/api/pia/tasks", headers=_user("pia"))).status_code == 200
            proxy.drop_open_connections()
            await asyncio.sleep(1.2)
            return (await client.get("/api/pia/tasks", headers=_user("pia"))).status_code
    finally:
        await proxy.close()


async def test_db_pool_pre_ping_replaces_a_connection_that_died_while_idle(
    postgresql_url: str,
) -> None:
    assert await _after_a_silent_drop(postgresql_url, pre_ping=True) == 200


async def test_without_pre_ping_that_request_is_a_503(postgresql_url: str) -> None:
    assert await _after_a_silent_drop(postgresql_url, pre_ping=False) == 503
