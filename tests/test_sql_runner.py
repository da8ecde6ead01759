"""The PostgreSQL statement path: prebuilt statements become asyncpg SQL, and values arguments.

These need no database: compilation is SQLAlchemy's own, and an unreachable server is real.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, select, update
from sqlalchemy.sql import ClauseElement

from backend.db import create_engine, create_task_runner
from backend.sql_runner import AsyncpgRunner, CompiledStatements
from backend.task_store import OwnedTasks, _columns, task_table

from support import make_settings

_OWNED_LIST = select(*_columns).where(task_table.c.user_id == bindparam("owner_id"))


class _Recorder:
    """A runner that keeps what it is asked to run, and returns no row."""

    dialect_name = "postgresql"

    def __init__(self) -> None:
        self.calls: list[tuple[ClauseElement, Mapping[str, Any]]] = []

    async def all(self, statement: ClauseElement, params: Mapping[str, Any]) -> list[Any]:
        self.calls.append((statement, params))
        return []

    async def one_or_none(self, statement: ClauseElement, params: Mapping[str, Any]) -> None:
        self.calls.append((statement, params))


def test_a_statement_is_compiled_once_and_bound_per_owner() -> None:
    statements = CompiledStatements()
    alice_shape, alice_args = statements.bind(_OWNED_LIST, {"owner_id": "alice"})
    bob_shape, bob_args = statements.bind(_OWNED_LIST, {"owner_id": "bob"})
    assert alice_shape is bob_shape
    assert "task.user_id = $1" in alice_shape.sql
    assert (alice_args, bob_args) == (["alice"], ["bob"])


async def test_the_store_binds_its_owner_into_one_statement_per_shape() -> None:
    runner = _Recorder()
    await OwnedTasks(runner, "alice").get(7)  # type: ignore[arg-type]
    await OwnedTasks(runner, "bob").get(8)  # type: ignore[arg-type]
    (alice_statement, alice_params), (bob_statement, bob_params) = runner.calls
    assert alice_statement is bob_statement
    assert dict(alice_params) == {"owner_id": "alice", "task_id": 7}
    assert dict(bob_params) == {"owner_id": "bob", "task_id": 8}


async def test_like_wildcards_stay_literal_on_the_asyncpg_path() -> None:
    runner = _Recorder()
    tasks = OwnedTasks(runner, "alice")  # type: ignore[arg-type]
    await tasks.page(completed=None, search="50%_off/a\\b", sort="id", limit=10, offset=0)
    [(statement, params)] = runner.calls
    shape, arguments = CompiledStatements().bind(statement, params)
    assert shape.sql.count("ESCAPE '/'") == 4  # title and description, in the page and its total
    assert "50/%/_off//a\\b" in arguments


def test_literals_are_bound_with_their_own_values() -> None:
    statement = (
        update(task_table)
        .where(task_table.c.user_id == bindparam("owner_id"))
        .values(version=task_table.c.version + 1)
    )
    _shape, arguments = CompiledStatements().bind(statement, {"owner_id": "alice"})
    assert arguments == [1, "alice"]


def test_a_missing_value_is_an_error_not_null() -> None:
    with pytest.raises(KeyError, match="owner_id"):
        CompiledStatements().bind(_OWNED_LIST, {})


def test_bound_timestamps_go_through_the_column_type() -> None:
    now = datetime.now(UTC)
    statement = (
        update(task_table)
        .where(
            task_table.c.user_id == bindparam("owner_id"), task_table.c.id == bindparam("task_id")
        )
        .values(completed=~task_table.c.completed, updated_at=bindparam("updated_at"))
        .returning(*_columns)
    )
    statements = CompiledStatements()
    shape, arguments = statements.bind(
        statement, {"updated_at": now, "owner_id": "alice", "task_id": 7}
    )
    assert arguments == [now, "alice", 7]
    # PostgreSQL reads timestamptz back zone-aware: no per-row processing is left to do.
    assert shape.result_processors == []

    naive = {"updated_at": datetime(2026, 1, 1), "owner_id": "alice", "task_id": 7}
    with pytest.raises(ValueError, match="naive"):
        statements.bind(statement, naive)


async def test_an_unreachable_server_is_a_connection_error_not_a_hang() -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:1/nowhere", db_pool_timeout=2)
    engine = create_engine(settings)
    runner = await create_task_runner(settings, engine)  # connects lazily: nothing fails here
    assert isinstance(runner, AsyncpgRunner)
    try:
        with pytest.raises(ConnectionRefusedError):
            await runner.all(_OWNED_LIST, {"owner_id": "alice"})
        with pytest.raises(ConnectionRefusedError):
            await runner.one(_OWNED_LIST, {"owner_id": "alice"})
    finally:
        await runner.close()
        await engine.dispose()
