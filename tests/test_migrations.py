"""The migrated schema is exactly the models' schema, with the indexes the queries need, and
replicas migrating at once take turns."""

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db import create_engine
from backend.migrate import MIGRATION_LOCK_KEY, alembic_config
from backend.models import SQLModel, utc_now
from backend.schema_revision import code_revisions

from processes import ROOT
from support import SECRET, ApiUser, fresh_postgres, make_settings


def schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def task_indexes(connection: Connection) -> dict[str, list[str]]:
    return {
        index["name"]: index["column_names"] for index in inspect(connection).get_indexes("task")
    }


async def test_migrations_create_exactly_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(schema_differences)

    assert differences == []


async def test_task_indexes_serve_the_queries(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        indexes = await connection.run_sync(task_indexes)

    # One per sort order of the list, each ending in the id tie-breaker.
    assert indexes["ix_task_user_id_created_at_id"] == ["user_id", "created_at", "id"]
    assert indexes["ix_task_user_id_updated_at_id"] == ["user_id", "updated_at", "id"]
    assert indexes["ix_task_user_id_title_id"] == ["user_id", "title", "id"]
    assert indexes["ix_task_user_id_id"] == ["user_id", "id"]
    assert indexes["ix_task_user_id_priority_id"] == ["user_id", "priority", "id"]
    assert indexes["ix_task_user_id_due_at_id"] == ["user_id", "due_at", "id"]


def _alembic(connection: Connection, command_name: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, command_name)(config, revision)


async def test_task_counts_are_backfilled_and_every_revision_downgrades(
    engine: AsyncEngine, alice: ApiUser
) -> None:
    await alice.create(title="before", completed=True)
    await alice.create(title="before too")
    async with engine.begin() as connection:
        await connection.run_sync(_alembic, "downgrade", "0002")
        await connection.execute(
            text(
                "INSERT INTO task (user_id, title, completed, created_at, updated_at, version) "
                "VALUES (:owner, 'added without triggers', true, :now, :now, 1)"
            ),
            {"owner": alice.id, "now": utc_now()},
        )
        await connection.run_sync(_alembic, "upgrade", "head")
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []

    response = await alice.request("GET", params={"completed": "true"})
    assert response.headers["x-total-count"] == "2"

    async with engine.begin() as connection:
        await connection.run_sync(_alembic, "downgrade", "base")
        await connection.run_sync(_alembic, "upgrade", "head")
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []


async def test_existing_tasks_get_no_priority_and_no_due_date(
    engine: AsyncEngine, alice: ApiUser
) -> None:
    await alice.create(title="before", completed=True)
    async with engine.begin() as connection:
        await connection.run_sync(_alembic, "downgrade", "0003")
        await connection.execute(
            text(
                "INSERT INTO task (user_id, title, completed, created_at, updated_at, version) "
                "VALUES (:owner, 'written by the old schema', false, :now, :now, 1)"
            ),
            {"owner": alice.id, "now": utc_now()},
        )
        await connection.run_sync(_alembic, "upgrade", "head")
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []

    response = await alice.request("GET", params={"sort": "id"})
    tasks = response.json()
    assert [(task["priority"], task["due_at"]) for task in tasks] == [("none", None)] * 2
    assert response.headers["x-total-count"] == "2"
    done = await alice.request("GET", params={"completed": "true"})
    assert done.headers["x-total-count"] == "1", "the task count triggers survive"


async def test_existing_tasks_get_no_tags_and_no_recurrence_and_keep_their_counts(
    engine: AsyncEngine, alice: ApiUser
) -> None:
    await alice.create(title="tagged", tags=["Home"], due_at="2026-12-01T08:00:00Z")
    async with engine.begin() as connection:
        await connection.run_sync(_alembic, "downgrade", "0004")
        await connection.execute(
            text(
                "INSERT INTO task (user_id, title, completed, created_at, updated_at, version) "
                "VALUES (:owner, 'written by the old schema', true, :now, :now, 1)"
            ),
            {"owner": alice.id, "now": utc_now()},
        )
        await connection.run_sync(_alembic, "upgrade", "head")
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []

    response = await alice.request("GET", params={"sort": "id"})
    tasks = response.json()
    assert [(task["tags"], task["recurrence"]) for task in tasks] == [([], None)] * 2
    done = await alice.request("GET", params={"completed": "true"})
    assert done.headers["x-total-count"] == "1", "the task count triggers survive"
    retagged = await alice.request("PATCH", f"/{tasks[0]['id']}", json={"tags": ["home"]})
    assert retagged.json()["tags"] == ["home"]


def has_open(pid: int, path: Path) -> bool:
    """Whether process `pid` has the file at `path` open (Linux)."""
    descriptors = Path(f"/proc/{pid}/fd")
    try:
        return any(Path(os.readlink(fd)) == path for fd in descriptors.iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False


@asynccontextmanager
async def migration_lock_held(
    database_url: str,
) -> AsyncIterator[Callable[[list[int]], Awaitable[bool]]]:
    """Hold the lock `migrate` takes, as a migration in progress would; yields a test of whether
    the given processes all wait for it: PostgreSQL lists its lock waiters; on SQLite a process
    with the database open is in (or a statement from) its wait for the write lock."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("BEGIN IMMEDIATE")

        async def opened(pids: list[int]) -> bool:
            return all(has_open(pid, path) for pid in pids)

        try:
            yield opened
        finally:
            holder.execute("COMMIT")
            holder.close()
        return
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    holder, observer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    key = MIGRATION_LOCK_KEY

    async def queued(pids: list[int]) -> bool:
        # An advisory lock's bigint key is split into classid (high half) and objid (low half).
        waiters = await observer.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = $1 AND objid = $2",
            key >> 32,
            key & 0xFFFFFFFF,
        )
        return int(waiters) == len(pids)

    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", key)
            yield queued
    finally:
        await holder.close()
        await observer.close()


@pytest.mark.direct_postgres  # watches the server's lock table; migrations use the direct URL
async def test_replicas_migrating_a_fresh_database_at_once_all_succeed(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """Three `migrate` processes started together (replicas starting together) take turns:
    the first migrates, the others find the schema up to date, and every one exits 0, however
    long it waited (longer than its statement timeout here)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": fresh_database_url,
        "BETTER_AUTH_SECRET": SECRET,
        "ENVIRONMENT": "development",
        "LOG_FORMAT": "text",
        "DB_STATEMENT_TIMEOUT": "1",
    }
    async with migration_lock_held(fresh_database_url) as all_waiting:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "backend",
                "migrate",
                env=env,
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        pids = [process.pid for process in processes]
        for _ in range(300):
            if await all_waiting(pids):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the three migrations never all waited for the lock")
        await asyncio.sleep(1.5)
    outputs = [(await process.communicate())[0].decode() for process in processes]
    # Shown in full when the test fails (an assertion message is cut short).
    print(
        "\n".join(
            f"--- migrate {pid}:\n{output}" for pid, output in zip(pids, outputs, strict=True)
        )
    )

    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    assert all("database schema is up to date" in output for output in outputs)
    assert all("Traceback" not in output for output in outputs)
    assert sum("Running upgrade  -> 0001" in output for output in outputs) == 1
    engine = create_engine(make_settings(fresh_database_url))
    try:
        async with engine.connect() as connection:
            versions = await connection.execute(text("SELECT version_num FROM alembic_version"))
            assert versions.scalars().all() == [code_revisions().head]
            assert await connection.run_sync(schema_differences) == []
    finally:
        await engine.dispose()


@pytest.mark.direct_postgres  # holds a table lock; migrations use the direct URL
async def test_a_migration_step_slower_than_the_statement_timeout_completes(
    postgres_url: str, tmp_path: Path
) -> None:
    """A release migrating behind a long read of `task` (or building an index on millions of
    rows) outlasts `DB_STATEMENT_TIMEOUT`, which bounds requests: the migration waits and
    completes instead of failing the release."""
    async with fresh_postgres(postgres_url) as url:
        engine = create_engine(make_settings(url))
        try:
            async with engine.begin() as connection:
                await connection.run_sync(_alembic, "upgrade", "0004")
        finally:
            await engine.dispose()
        output, returncode = await _migrate_behind_a_reader(url, tmp_path)
    print(output)

    assert returncode == 0, output
    assert "Running upgrade 0004 -> 0005" in output
    assert "database schema is up to date" in output


async def _migrate_behind_a_reader(url: str, cwd: Path) -> tuple[str, int | None]:
    """`migrate` with a 1 s statement timeout, while a transaction reads `task` for 1.5 s more
    than it takes the migration to queue behind it."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    reader, observer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": url,
        "BETTER_AUTH_SECRET": SECRET,
        "ENVIRONMENT": "development",
        "LOG_FORMAT": "text",
        "DB_STATEMENT_TIMEOUT": "1",
    }
    queued = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'task'::regclass"
    try:
        async with reader.transaction():
            await reader.execute("LOCK TABLE task IN ACCESS SHARE MODE")
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "backend", "migrate", env=env, cwd=cwd,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            for _ in range(300):
                if await observer.fetchval(queued):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the migration never waited for the table")
            await asyncio.sleep(1.5)
        output = (await process.communicate())[0].decode()
    finally:
        await reader.close()
        await observer.close()
    return output, process.returncode
