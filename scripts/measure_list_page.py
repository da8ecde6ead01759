"""Time the list endpoint's page query for a user with 100 tasks and one with 100,000.

    .venv/bin/python scripts/measure_list_page.py postgresql://postgres@127.0.0.1/scratch_db

Migrates the given (scratch) database, fills it, runs the exact statement `GET .../tasks`
runs (page + total count) for every sort order, and prints median milliseconds. A rough
check, not a benchmark: issue 6 measures the API under load.
"""

import asyncio
import statistics
import sys
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.db import create_engine
from backend.migrate import upgrade
from backend.schemas import TaskSort
from backend.sql_runner import EngineRunner
from backend.task_store import OwnedTasks

SIZES = {"small-user": 100, "big-user": 100_000}
OTHER_USERS = 200
OTHER_TASKS_EACH = 500
RUNS = 30

_FILL = """
    INSERT INTO task (user_id, title, description, completed, created_at, updated_at, version)
    SELECT :owner, 'task ' || n, NULL, n % 3 = 0,
           now() - n * interval '1 second', now() - n * interval '1 second', 1
    FROM generate_series(1, :tasks) AS n
"""


async def fill(engine: AsyncEngine) -> None:
    owners = {**SIZES, **{f"other-{n}": OTHER_TASKS_EACH for n in range(OTHER_USERS)}}
    async with engine.begin() as connection:
        await connection.execute(text('TRUNCATE task, "user" CASCADE'))
        for owner, tasks in owners.items():
            await connection.execute(
                text('INSERT INTO "user" (id, created_at) VALUES (:owner, now())'),
                {"owner": owner},
            )
            await connection.execute(text(_FILL), {"owner": owner, "tasks": tasks})
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE task"))


async def median_ms(engine: AsyncEngine, owner: str, sort: str) -> float:
    timings = []
    tasks = OwnedTasks(EngineRunner(engine), owner)
    for _ in range(RUNS):
        started = time.perf_counter()
        await tasks.page(completed=None, search=None, sort=sort, limit=100, offset=0)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def main(database_url: str) -> None:
    engine = create_engine(Settings(_env_file=None, database_url=database_url))  # type: ignore[call-arg]
    await upgrade(engine)
    await fill(engine)
    print(f"{'sort':<12} {'100 tasks':>10} {'100k tasks':>11}  (median ms of {RUNS}, page of 100)")
    for sort in TaskSort:
        small = await median_ms(engine, "small-user", sort.value)
        big = await median_ms(engine, "big-user", sort.value)
        print(f"{sort.value:<12} {small:>10.2f} {big:>11.2f}")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
