"""At 100,000 tasks for one user, page 1 costs what it costs at 100.

Every sort order reads its page off an index, with no sort step, and the total is one row of
the trigger-kept `task_count` table, not a count over the tasks. The plans are the database's
own (`EXPLAIN` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite) for the exact statement the
list endpoint runs.
"""

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backend.schemas import TaskSort
from backend.task_store import OwnedTasks

from support import ApiUser

TASKS = 100_000

_BULK_INSERT = {
    "postgresql": """
        INSERT INTO task (user_id, title, description, completed, created_at, updated_at, version)
        SELECT :owner, 'task ' || n, NULL, n % 3 = 0,
               now() - n * interval '1 second', now() - n * interval '1 second', 1
        FROM generate_series(1, :tasks) AS n
    """,
    "sqlite": """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :tasks)
        INSERT INTO task (user_id, title, description, completed, created_at, updated_at, version)
        SELECT :owner, 'task ' || i, NULL, i % 3 = 0,
               datetime('now', '-' || i || ' seconds'), datetime('now', '-' || i || ' seconds'), 1
        FROM n
    """,
}


async def explain(connection: AsyncConnection, statement: Any) -> str:
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "postgresql":
        rows = await connection.execute(text(f"EXPLAIN {sql}"))
        return "\n".join(row[0] for row in rows)
    rows = await connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
    return "\n".join(row[-1] for row in rows)


async def test_every_sort_order_pages_off_an_index_at_100k_tasks(
    engine: AsyncEngine, alice: ApiUser, bob: ApiUser
) -> None:
    await alice.create(title="first")
    await bob.create(title="someone else's")
    dialect = engine.dialect.name
    async with engine.begin() as connection:
        await connection.execute(text(_BULK_INSERT[dialect]), {"owner": alice.id, "tasks": TASKS})
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(
            text("VACUUM ANALYZE task" if dialect == "postgresql" else "ANALYZE")
        )

    plans = {}
    async with engine.connect() as connection:
        tasks = OwnedTasks(connection, alice.id)
        for sort in TaskSort:
            for completed in (None, True, False):
                page, _count = tasks.page_query(
                    completed=completed, search=None, sort=sort.value, limit=100, offset=0
                )
                plans[sort.value, completed] = await explain(connection, page)

    for (sort, completed), plan in plans.items():
        field = sort.removeprefix("-")
        index = f"ix_task_user_id_{field}_id" if field != "id" else "ix_task_user_id_id"
        if dialect == "postgresql":
            direction = " Backward" if sort.startswith("-") else ""
            assert plan.startswith("Limit"), plan
            # For `id`, the primary key reads ids in order too; PostgreSQL prefers it while one
            # user owns nearly every row (with many users it takes ix_task_user_id_id).
            indexes = f"({index}|pk_task)" if field == "id" else index
            assert re.search(rf"Index Scan{direction} using {indexes} on task\s+\(", plan), plan
            # The total is one row of task_count, not a count over the user's tasks.
            assert "Index Scan using pk_task_count on task_count" in plan, plan
            assert "Aggregate" not in plan, plan
            assert "Seq Scan" not in plan, plan
            assert "Sort" not in plan, plan
        else:
            assert f"SEARCH task USING INDEX {index}" in plan, (sort, completed, plan)
            assert "SEARCH task_count USING INDEX" in plan, plan
            assert "TEMP B-TREE" not in plan, (sort, completed, plan)
            assert "SCAN " not in plan, (sort, completed, plan)

    response = await alice.request("GET", params={"limit": 5})
    assert response.headers["x-total-count"] == str(TASKS + 1)
    assert response.json()[0]["title"] == "first"
    done = await alice.request("GET", params={"limit": 5, "completed": "true"})
    assert done.headers["x-total-count"] == str(TASKS // 3)
