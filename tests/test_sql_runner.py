"""The PostgreSQL statement path: SQLAlchemy statements become asyncpg SQL and arguments.

These need no database: compilation is SQLAlchemy's own, and an unreachable server is real.
"""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from backend.db import create_engine, create_task_runner
from backend.sql_runner import AsyncpgRunner, CompiledStatements
from backend.task_store import _columns, task_table

from conftest import make_settings


def _owned_list(owner: str, search: str | None = None) -> object:
    statement = select(*_columns).where(task_table.c.user_id == owner)
    if search:
        statement = statement.where(task_table.c.title.icontains(search, autoescape=True))
    return statement


def test_one_shape_is_compiled_once_and_bound_per_owner() -> None:
    statements = CompiledStatements()
    alice_shape, alice_args = statements.bind(_owned_list("alice"))
    bob_shape, bob_args = statements.bind(_owned_list("bob"))
    assert alice_shape is bob_shape
    assert "task.user_id = $1" in alice_shape.sql
    assert (alice_args, bob_args) == (["alice"], ["bob"])


def test_like_wildcards_stay_literal_on_the_asyncpg_path() -> None:
    shape, arguments = CompiledStatements().bind(_owned_list("alice", search="50%_off"))
    assert "ESCAPE '/'" in shape.sql
    assert arguments == ["alice", "50/%/_off"]


def test_bound_timestamps_go_through_the_column_type() -> None:
    now = datetime.now(UTC)
    statement = (
        update(task_table)
        .where(task_table.c.user_id == "alice", task_table.c.id == 7)
        .values(completed=~task_table.c.completed, updated_at=now)
        .returning(*_columns)
    )
    shape, arguments = CompiledStatements().bind(statement)
    assert arguments == [now, "alice", 7]
    assert {key for key, _ in shape.result_processors} == {"created_at", "updated_at"}

    naive = statement.values(updated_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        CompiledStatements().bind(naive)


async def test_an_unreachable_server_is_a_connection_error_not_a_hang() -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:1/nowhere", db_pool_timeout=2)
    engine = create_engine(settings)
    runner = await create_task_runner(settings, engine)  # connects lazily: nothing fails here
    assert isinstance(runner, AsyncpgRunner)
    try:
        with pytest.raises(ConnectionRefusedError):
            await runner.all(_owned_list("alice"))  # type: ignore[arg-type]
        with pytest.raises(ConnectionRefusedError):
            await runner.one(_owned_list("alice"))  # type: ignore[arg-type]
    finally:
        await runner.close()
        await engine.dispose()
