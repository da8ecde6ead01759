"""The PostgreSQL task path (raw asyncpg pool): dropped connections heal, and are never a 500."""

import asyncpg
import pytest

from conftest import TEST_DATABASE_URL
from support import ApiUser

pytestmark = [
    pytest.mark.skipif(
        TEST_DATABASE_URL is None, reason="the asyncpg task pool is PostgreSQL's (CI sets it)"
    ),
    pytest.mark.parametrize("engine_name", ["postgresql"]),
]


async def _drop_other_connections() -> int:
    """What a database restart or a Neon compute suspend does to the app's open connections."""
    assert TEST_DATABASE_URL is not None
    admin = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        return int(
            await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await admin.close()


async def test_dropped_connections_are_a_503_at_worst_and_then_heal(alice: ApiUser) -> None:
    created = await alice.create(title="Survives a restart")
    assert await _drop_other_connections() >= 1

    first = await alice.request("GET", f"/{created['id']}")
    assert first.status_code in (200, 503)
    if first.status_code == 503:
        assert first.headers["retry-after"] == "2"

    for _ in range(3):
        again = await alice.request("GET", f"/{created['id']}")
        assert again.status_code == 200
        assert again.json() == created


async def test_every_operation_commits_on_its_own(alice: ApiUser) -> None:
    """Autocommit: what one request wrote is there for the next one, on another connection."""
    created = await alice.create(title="Committed")
    toggled = await alice.request("PATCH", f"/{created['id']}/complete")
    assert toggled.json()["completed"] is True
    assert TEST_DATABASE_URL is not None
    reader = await asyncpg.connect(TEST_DATABASE_URL)
    try:
        row = await reader.fetchrow(
            "SELECT title, completed FROM task WHERE id = $1", created["id"]
        )
    finally:
        await reader.close()
    assert (row["title"], row["completed"]) == ("Committed", True)
