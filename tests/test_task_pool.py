"""The PostgreSQL task path (raw asyncpg pool): dropped connections heal, and are never a 500."""

import asyncpg
import pytest

from support import ApiUser

pytestmark = pytest.mark.parametrize("engine_name", ["postgresql"])


async def _drop_other_connections(dsn: str) -> int:
    """What a database restart or a Neon compute suspend does to the app's open connections."""
    admin = await asyncpg.connect(dsn)
    try:
        return int(
            await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await admin.close()


async def test_dropped_connections_are_a_503_at_worst_and_then_heal(
    alice: ApiUser, postgres_dsn: str
) -> None:
    created = await alice.create(title="Survives a restart")
    assert await _drop_other_connections(postgres_dsn) >= 1

    first = await alice.request("GET", f"/{created['id']}")
    assert first.status_code in (200, 503)
    if first.status_code == 503:
        assert first.headers["retry-after"] == "2"

    for _ in range(3):
        again = await alice.request("GET", f"/{created['id']}")
        assert again.status_code == 200
        assert again.json() == created


async def test_every_operation_commits_on_its_own(alice: ApiUser, postgres_dsn: str) -> None:
    """Autocommit: what one request wrote is there for the next one, on another connection."""
    created = await alice.create(title="Committed")
    toggled = await alice.request("PATCH", f"/{created['id']}/complete")
    assert toggled.json()["completed"] is True
    reader = await asyncpg.connect(postgres_dsn)
    try:
        row = await reader.fetchrow(
            "SELECT title, completed FROM task WHERE id = $1", created["id"]
        )
    finally:
        await reader.close()
    assert (row["title"], row["completed"]) == ("Committed", True)
