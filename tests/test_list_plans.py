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
from backend.task_store import NO_PLANNING_FILTERS, OwnedTasks, PlanningFilters

from support import ApiUser

TASKS = 100_000

_BULK_INSERT = {
    "postgresql": """
        INSERT INTO task (user_id, title, description, completed, created_at, updated_at, version,
                          priority, due_at)
        SELECT :owner, 'task ' || n, NULL, n % 3 = 0,
               now() - n * interval '1 second', now() - n * interval '1 second', 1,
               n % 4, CASE WHEN n % 2 = 0 THEN now() + (n - :tasks / 2) * interval '1 minute' END
        FROM generate_series(1, :tasks) AS n
    """,
    "sqlite": """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :tasks)
        INSERT INTO task (user_id, title, description, completed, created_at, updated_at, version,
                          priority, due_at)
        SELECT :owner, 'task ' || i, NULL, i % 3 = 0,
               datetime('now', '-' || i || ' seconds'), datetime('now', '-' || i || ' seconds'), 1,
               i % 4,
               CASE WHEN i % 2 = 0 THEN datetime('now', (i - :tasks / 2) || ' minutes') END
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


async def _seed(engine: AsyncEngine, alice: ApiUser, bob: ApiUser) -> None:
    """`TASKS` tasks for alice besides her first: every priority, half of them due (half of
    those overdue), a third completed; and one task of bob's."""
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


# `-due_at` keeps tasks without a due date last, where a backward read of the due date index
# would give them first: PostgreSQL sorts its page (a top-N sort), as the docs say.
_INDEXED_SORTS = [sort for sort in TaskSort if sort is not TaskSort.DUE_AT_DESC]


async def test_every_sort_order_pages_off_an_index_at_100k_tasks(
    engine: AsyncEngine, alice: ApiUser, bob: ApiUser
) -> None:
    await _seed(engine, alice, bob)
    dialect = engine.dialect.name

    plans = {}
    async with engine.connect() as connection:
        tasks = OwnedTasks(connection, alice.id)
        for sort in _INDEXED_SORTS:
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
            # The only aggregate is the subplan of each task's tag names.
            assert plan.count("Aggregate") == plan.count("SubPlan") == 1, plan
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


# Page 1 of the lists a planner shows, each with the indexes its page and its total read.
PLANNED_PAGES = {
    "priority=high": (
        TaskSort.CREATED_AT_DESC,
        PlanningFilters(priorities=frozenset({"high"})),
        "ix_task_user_id_created_at_id",
        "ix_task_user_id_priority_id",
    ),
    "overdue=true": (
        TaskSort.CREATED_AT_DESC,
        PlanningFilters(overdue=True),
        "ix_task_user_id_created_at_id",
        "ix_task_user_id_due_at_id",
    ),
    "sort=due_at": (
        TaskSort.DUE_AT,
        NO_PLANNING_FILTERS,
        "ix_task_user_id_due_at_id",
        "pk_task_count",
    ),
    "sort=-priority&priority=high&priority=medium": (
        TaskSort.PRIORITY_DESC,
        PlanningFilters(priorities=frozenset({"high", "medium"})),
        "ix_task_user_id_priority_id",
        "ix_task_user_id_priority_id",
    ),
}


async def test_planned_page_one_reads_an_index_at_100k_tasks(
    engine: AsyncEngine, alice: ApiUser, bob: ApiUser
) -> None:
    """Filtered by priority or overdue, the page walks a sort index and stops at its limit, and
    the total is counted off the filter's own index; sorted by due date, the page is read off
    the due date index (tasks without one last, where the index keeps them)."""
    await _seed(engine, alice, bob)
    dialect = engine.dialect.name
    plans = {}
    async with engine.connect() as connection:
        tasks = OwnedTasks(connection, alice.id)
        for name, (sort, planning, _page, _total) in PLANNED_PAGES.items():
            page, _count = tasks.page_query(
                completed=None,
                search=None,
                sort=sort.value,
                limit=100,
                offset=0,
                planning=planning,
            )
            plans[name] = await explain(connection, page)

    for name, (_sort, _planning, page_index, total_index) in PLANNED_PAGES.items():
        plan = plans[name]
        if dialect == "postgresql":
            assert plan.startswith("Limit"), plan
            assert re.search(rf"Index Scan( Backward)? using {page_index} on task\s+\(", plan), plan
            assert re.search(
                rf"(Index|Index Only|Bitmap Index) Scan (using|on) {total_index}", plan
            )
            assert "Seq Scan" not in plan, plan
            assert "Sort" not in plan, plan
        else:
            assert f"SEARCH task USING INDEX {page_index}" in plan, (name, plan)
            assert "TEMP B-TREE" not in plan, (name, plan)
            assert "SCAN " not in plan, (name, plan)

    overdue = await alice.request("GET", params={"overdue": "true", "limit": 5})
    assert overdue.status_code == 200
    # Tasks 2, 4, ... 50,000 are due before now; two in three of them are open.
    assert int(overdue.headers["x-total-count"]) in range(16_660, 16_670)


# Tags on alice's bulk tasks: `errands` on one in ten, `rare` on one in a thousand; and bob's
# `errands` on each of as many tasks of his, so that most links are someone else's.
_BULK_TAGS = [
    "INSERT INTO tag (user_id, key, name) VALUES (:owner, 'errands', 'Errands'), "
    "(:owner, 'rare', 'rare'), (:other, 'errands', 'errands')",
    """
    INSERT INTO task_tag (task_id, user_id, key)
    SELECT id, user_id, 'errands' FROM task WHERE user_id = :owner AND id % 10 = 0
    UNION ALL
    SELECT id, user_id, 'rare' FROM task WHERE user_id = :owner AND id % 1000 = 0
    UNION ALL
    SELECT id, user_id, 'errands' FROM task WHERE user_id = :other
    """,
]


async def test_a_tag_filtered_page_one_reads_indexes_at_100k_tasks(
    engine: AsyncEngine, alice: ApiUser, bob: ApiUser
) -> None:
    """`tag=` finds the tag by its key, and its tasks off the link index: page 1 walks the sort
    index and probes each task's link (a common tag) or reads the tag's few tasks and sorts
    them (a rare one), as the planner estimates; the total counts the links. Nothing is read
    whole, and each task's tag names come from its own links, in the same statement."""
    await _seed(engine, alice, bob)
    dialect = engine.dialect.name
    async with engine.begin() as connection:
        await connection.execute(text(_BULK_INSERT[dialect]), {"owner": bob.id, "tasks": TASKS})
        for statement in _BULK_TAGS:
            await connection.execute(text(statement), {"owner": alice.id, "other": bob.id})
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(
            text("VACUUM ANALYZE task, tag, task_tag" if dialect == "postgresql" else "ANALYZE")
        )
    plans = {}
    async with engine.connect() as connection:
        tasks = OwnedTasks(connection, alice.id)
        for tags in (("errands",), ("rare",), ("errands", "rare")):
            for sort in (TaskSort.CREATED_AT_DESC, TaskSort.DUE_AT):
                page, count = tasks.page_query(
                    completed=None,
                    search=None,
                    sort=sort.value,
                    limit=100,
                    offset=0,
                    planning=PlanningFilters(tags=frozenset(tags)),
                )
                plans[tags, sort] = (
                    await explain(connection, page),
                    await explain(connection, count),
                )

    for (tags, sort), (plan, total) in plans.items():
        if dialect == "postgresql":
            assert plan.startswith("Limit"), plan
            # Nothing reads the user's tasks whole (a small `tag` table may be scanned).
            assert not re.search(r"Seq Scan on (task|task_tag)\b", plan), (tags, sort, plan)
            # The total counts the tag's links, off their index, without reading a task.
            assert "Index Only Scan using ix_task_tag_user_id_key_task_id" in total, total
            assert not re.search(r"on task\b", total), total
            # Each task's tag names: read off the link table's primary key.
            assert "Index Scan using pk_task_tag on task_tag" in plan, plan
        else:
            assert not re.search(r"SCAN (task|task_tag)\b", plan), (tags, sort, plan)
            assert "USING COVERING INDEX ix_task_tag_user_id_key_task_id" in plan, plan
    # A common tag: page 1 walks the sort index, probing each task's link; a rare one (the
    # planner knows from the keys' statistics): its few tasks are read and sorted.
    if dialect == "postgresql":
        common = plans[("errands",), TaskSort.CREATED_AT_DESC][0]
        assert "Index Scan Backward using ix_task_user_id_created_at_id on task" in common
        rare = plans[("rare",), TaskSort.CREATED_AT_DESC][0]
        assert re.search(r"Index Scan using (pk_task|ix_task_user_id_id) on task\b", rare), rare

    errands = await alice.request("GET", params={"tag": "ERRANDS", "limit": 5})
    assert errands.status_code == 200
    assert errands.json()[0]["tags"] == ["Errands"]
    assert int(errands.headers["x-total-count"]) in range(9_990, 10_011)
    both = await alice.request("GET", params=[("tag", "errands"), ("tag", "rare")])
    assert int(both.headers["x-total-count"]) in range(99, 102)
