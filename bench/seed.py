"""Seed the benchmark database and write the token files wrk reads.

Migrates with `python -m backend migrate` (as production does), then fills the tables through
SQL: 1,000 users x 20 tasks (every priority, half of them with a due date), plus two users for
the page-1 latency check (100 tasks and 100,000 tasks), and, for the `many_users` scenario, a
crowd of 20,000 users x 50 tasks (1M rows). For every user it mints an HS256 token with the
CLI's own `mint_token`, and writes Lua data files (see bench/wrk/tasks.lua) listing each user's
path, lists, token and task ids.

    python bench/seed.py --database-url postgresql://postgres@127.0.0.1:5432/tasks_bench
"""

import argparse
import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from backend.tokens import mint_token

USERS = 1000
TASKS_PER_USER = 20
# The `many_users` scenario's crowd: far more active users than the caches of a small setup hold.
CROWD_USERS = 20_000
CROWD_TASKS_PER_USER = 50
PAGE_USERS = {"bench-page-100": 100, "bench-page-100000": 100_000}
PAGE_QUERY = "?limit=100"
# The `filtered` scenario's list: a planner's "what matters most, soonest first".
FILTERED_QUERY = "?priority=high&priority=medium&sort=due_at"
TOKEN_LIFETIME_SECONDS = 12 * 3600


def user_id(index: int) -> str:
    return f"bench-user-{index:04d}"


@dataclass(frozen=True)
class Seeded:
    """What the runner needs: the data files, and the id above which tasks are benchmark-made."""

    users_file: Path
    page_files: dict[int, Path]
    max_seeded_id: int
    users: int
    probe_path: str
    probe_authorization: str
    # The crowd's data file, when it was seeded.
    crowd_file: Path | None = None
    crowd_users: int = 0


def migrate(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "backend", "migrate"], check=True, env=env)


async def ensure_database(database_url: str) -> None:
    """Create the benchmark database if it does not exist yet."""
    base, _, name = database_url.rpartition("/")
    connection = await asyncpg.connect(f"{base}/postgres")
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _fill_users(
    connection: asyncpg.Connection, prefix: str, digits: int, users: int, tasks: int
) -> None:
    """`users` users named `prefix` + a zero-padded number, each with `tasks` tasks."""
    await connection.execute(
        """
        INSERT INTO "user" (id, email, name, created_at)
        SELECT $1 || lpad(u::text, $2, '0'), $1 || lpad(u::text, $2, '0') || '@bench.example',
               'Bench User ' || u, now()
        FROM generate_series(0, $3 - 1) AS u
        """,
        prefix,
        digits,
        users,
    )
    await connection.execute(
        """
        INSERT INTO task (user_id, title, description, completed, created_at, updated_at,
                          priority, due_at)
        SELECT $1 || lpad(u::text, $2, '0'),
               'Task ' || t || ' of user ' || u,
               CASE WHEN t % 2 = 0 THEN 'Seeded by bench/seed.py for the benchmark' END,
               t % 3 = 0,
               now() - make_interval(secs => t * 60 + u),
               now() - make_interval(secs => t * 60 + u),
               t % 4,
               CASE WHEN t % 2 = 1 THEN now() + make_interval(hours => t - 10) END
        FROM generate_series(0, $3 - 1) AS u, generate_series(1, $4) AS t
        ORDER BY u, t
        """,
        prefix,
        digits,
        users,
        tasks,
    )


async def _fill(connection: asyncpg.Connection, crowd: bool) -> None:
    await connection.execute('TRUNCATE task, "user" RESTART IDENTITY CASCADE')
    await _fill_users(connection, "bench-user-", 4, USERS, TASKS_PER_USER)
    for page_user, count in PAGE_USERS.items():
        await connection.execute(
            'INSERT INTO "user" (id, email, name, created_at) VALUES ($1, NULL, $1, now())',
            page_user,
        )
        await connection.execute(
            """
            INSERT INTO task (user_id, title, description, completed, created_at, updated_at)
            SELECT $1, 'Task ' || t, NULL, t % 2 = 0,
                   now() - make_interval(secs => t), now() - make_interval(secs => t)
            FROM generate_series(1, $2) AS t
            """,
            page_user,
            count,
        )
    if crowd:
        await _fill_users(connection, "crowd-user-", 5, CROWD_USERS, CROWD_TASKS_PER_USER)
    await connection.execute("ANALYZE")


def _lua_entry(owner: str, token: str, task_ids: list[int], query: str = "") -> str:
    path = f"/api/{owner}/tasks"
    ids = ",".join(str(task_id) for task_id in task_ids)
    lists = f'list="{path}{query}", filtered="{path}{FILTERED_QUERY}"'
    return f'{{path="{path}", {lists}, auth="Bearer {token}", tasks={{{ids}}}}},\n'


def _write_lua(path: Path, entries: list[str]) -> Path:
    path.write_text("return {\n" + "".join(entries) + "}\n")
    return path


_TASK_IDS = (
    "SELECT user_id, array_agg(id ORDER BY id) AS ids FROM task "
    "WHERE user_id LIKE $1 GROUP BY user_id ORDER BY user_id"
)


async def _fill_and_read(
    database_url: str, crowd: bool
) -> tuple[list[asyncpg.Record], list[asyncpg.Record], int]:
    """Fill the tables; return each benchmark user's and each crowd user's task ids, and the
    highest seeded id."""
    connection = await asyncpg.connect(database_url)
    try:
        await _fill(connection, crowd)
        rows = await connection.fetch(_TASK_IDS, "bench-user-%")
        crowd_rows = await connection.fetch(_TASK_IDS, "crowd-user-%") if crowd else []
        return rows, crowd_rows, await connection.fetchval("SELECT max(id) FROM task")
    finally:
        await connection.close()


def _user_entries(rows: list[asyncpg.Record], secret: str) -> tuple[list[str], dict[str, str]]:
    """Each user's Lua entry, and their tokens."""
    entries = []
    tokens = {}
    for row in rows:
        owner = row["user_id"]
        token = mint_token(
            secret,
            user_id=owner,
            email=f"{owner}@bench.example",
            name=f"Bench User {int(owner.rsplit('-', 1)[1])}",
            expires_in=TOKEN_LIFETIME_SECONDS,
        )
        tokens[owner] = token
        entries.append(_lua_entry(owner, token, list(row["ids"])))
    return entries, tokens


def seed(database_url: str, secret: str, work_dir: Path, *, crowd: bool = False) -> Seeded:
    """Migrate, fill the tables (with the crowd, if asked) and write the wrk data files into
    `work_dir`."""
    asyncio.run(ensure_database(database_url))
    migrate(database_url)
    work_dir.mkdir(parents=True, exist_ok=True)
    rows, crowd_rows, max_seeded_id = asyncio.run(_fill_and_read(database_url, crowd))

    entries, tokens = _user_entries(rows, secret)
    users_file = _write_lua(work_dir / "users.lua", entries)
    crowd_file = None
    if crowd:
        crowd_file = _write_lua(work_dir / "crowd.lua", _user_entries(crowd_rows, secret)[0])

    page_files = {}
    for page_user, count in PAGE_USERS.items():
        token = mint_token(secret, user_id=page_user, expires_in=TOKEN_LIFETIME_SECONDS)
        page_files[count] = _write_lua(
            work_dir / f"page-{count}.lua", [_lua_entry(page_user, token, [], PAGE_QUERY)]
        )
    first = user_id(0)
    return Seeded(
        users_file,
        page_files,
        max_seeded_id,
        len(rows),
        f"/api/{first}/tasks",
        f"Bearer {tokens[first]}",
        crowd_file,
        len(crowd_rows),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--secret", required=True, help="HS256 secret the servers verify with")
    parser.add_argument("--work-dir", type=Path, default=Path("bench/.work"))
    parser.add_argument("--crowd", action="store_true", help="also seed the many_users crowd")
    args = parser.parse_args()
    seeded = seed(args.database_url, args.secret, args.work_dir, crowd=args.crowd)
    print(f"seeded; wrk data in {seeded.users_file}")


if __name__ == "__main__":
    main()
