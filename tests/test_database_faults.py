"""Database faults: 503 with Retry-After (never a 500), nothing half-written, and recovery
without a restart: a slow statement is cut off, a full pool answers 503, and a PostgreSQL
cluster of the test's own is stopped under traffic and started again."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.db import create_engine
from backend.errors import DATABASE_TIMED_OUT, DATABASE_UNAVAILABLE
from backend.main import create_app
from backend.migrate import upgrade

from processes import ThrowawayPostgres
from support import ApiUser, make_settings, serving, token_for


def as_alice(client: AsyncClient) -> ApiUser:
    return ApiUser(client, "alice-id", token_for("alice-id"))


def assert_retryable(response: Response, message: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    assert response.json() == {"detail": {"error": message}}


@asynccontextmanager
async def row_locked(url: str, task_id: int) -> AsyncIterator[AsyncConnection]:
    """Hold a lock on one task row from another session until the block ends."""
    engine = create_engine(make_settings(url))
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(
                text("SELECT id FROM task WHERE id = :id FOR UPDATE"), {"id": task_id}
            )
            yield connection
            await transaction.rollback()
    finally:
        await engine.dispose()


async def wait_for_lock_waiter(connection: AsyncConnection) -> None:
    for _ in range(300):
        # Statistics are a snapshot per transaction: drop it to see the present.
        await connection.execute(text("SELECT pg_stat_clear_snapshot()"))
        waiting = await connection.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no request ever waited for the lock")


async def test_a_statement_stuck_behind_a_lock_is_cut_off(postgresql_url: str) -> None:
    app = create_app(make_settings(postgresql_url, db_statement_timeout=0.5))

    async with serving(app) as client:
        alice = as_alice(client)
        task = await alice.create(title="Original")
        async with row_locked(postgresql_url, task["id"]):
            blocked = await alice.request("PUT", f"/{task['id']}", json={"title": "Changed"})
        unchanged = await alice.request("GET", f"/{task['id']}")
        retried = await alice.request("PUT", f"/{task['id']}", json={"title": "Changed"})

    assert_retryable(blocked, DATABASE_TIMED_OUT)
    assert unchanged.json()["title"] == "Original"
    assert retried.status_code == 200
    assert retried.json()["title"] == "Changed"


async def test_a_request_that_finds_the_pool_exhausted_gets_503(postgresql_url: str) -> None:
    settings = make_settings(postgresql_url, db_pool_size=1, db_pool_timeout=0.5)
    app = create_app(settings)

    async with serving(app) as client:
        alice = as_alice(client)
        task = await alice.create(title="Original")
        async with row_locked(postgresql_url, task["id"]) as locker:
            holder = asyncio.create_task(
                alice.request("PUT", f"/{task['id']}", json={"title": "Changed"})
            )
            await wait_for_lock_waiter(locker)
            queued = await alice.request("GET")
        held = await holder
        after = await alice.request("GET")

    assert_retryable(queued, DATABASE_TIMED_OUT)
    assert held.status_code == 200
    assert after.json()[0]["title"] == "Changed"


@dataclass
class Traffic:
    """Requests one client keeps sending, and everything it was told."""

    alice: ApiUser
    statuses: Counter[int] = field(default_factory=Counter)
    created: set[int] = field(default_factory=set)
    unavailable: list[Response] = field(default_factory=list)
    posts: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self.stop.is_set():
            self.posts += 1
            created = await self.alice.request("POST", json={"title": f"task {self.posts}"})
            listed = await self.alice.request("GET")
            for response in (created, listed):
                self.statuses[response.status_code] += 1
                if response.status_code == 503:
                    self.unavailable.append(response)
            if created.status_code == 201:
                self.created.add(created.json()["id"])
            await asyncio.sleep(0.01)

    async def until(self, status: int, more_than: int, seconds: float = 60) -> None:
        target = self.statuses[status] + more_than
        for _ in range(int(seconds / 0.05)):
            if self.statuses[status] >= target:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never saw {more_than} more {status}s: {self.statuses}")


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    cluster = ThrowawayPostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.mark.own_cluster
async def test_the_service_rides_out_a_database_restart(own_postgres: ThrowawayPostgres) -> None:
    settings = make_settings(own_postgres.url, db_connect_timeout=2, db_pool_timeout=2)
    engine = create_engine(settings)
    await upgrade(engine)
    await engine.dispose()
    await asyncio.to_thread(own_postgres.stop)

    async with serving(create_app(settings)) as client:
        # Started while the database is down: alive, not ready, and honest about it.
        alive, ready = await client.get("/healthz"), await client.get("/readyz")
        early = await as_alice(client).request("POST", json={"title": "too early"})
        await asyncio.to_thread(own_postgres.start)
        ready_again = await client.get("/readyz")

        traffic = Traffic(as_alice(client))
        sender = asyncio.create_task(traffic.run())
        await traffic.until(201, more_than=10)
        await asyncio.to_thread(own_postgres.stop, "fast")
        await traffic.until(503, more_than=5)
        down = await client.get("/readyz")
        await asyncio.to_thread(own_postgres.start)
        await traffic.until(201, more_than=10)
        up = await client.get("/readyz")
        traffic.stop.set()
        await sender
        stored = await as_alice(client).request("GET")

    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["detail"]["failed"] == ["database"]
    assert_retryable(early, DATABASE_UNAVAILABLE)
    assert ready_again.status_code == 200

    assert set(traffic.statuses) <= {200, 201, 503}, traffic.statuses
    for response in traffic.unavailable:
        assert response.headers["retry-after"] == "2"
        assert response.json()["detail"]["error"] in (DATABASE_UNAVAILABLE, DATABASE_TIMED_OUT)
    assert down.status_code == 503
    assert up.status_code == 200

    stored_ids = {task["id"] for task in stored.json()}
    # Every task the client was told about is there; at most the ones whose answer was lost
    # in the outage (a commit the client saw as 503) are there besides.
    assert traffic.created <= stored_ids
    assert len(stored_ids - traffic.created) <= traffic.statuses[503]
