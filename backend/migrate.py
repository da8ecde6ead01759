"""Schema migrations: Alembic, driven programmatically on the app's own async engine.

Replicas that start together each run `python -m backend migrate`: the runs take turns, each
under a lock held for its whole transaction, so the later ones find the schema up to date
instead of failing on a table or version row the first one just created.
"""

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

logger = logging.getLogger("backend.migrate")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The PostgreSQL advisory lock key of migrations (any fixed bigint; the bytes spell "tasksmig").
MIGRATION_LOCK_KEY = 0x7461736B736D6967


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def _take_migration_lock(connection: AsyncConnection) -> None:
    """Wait until no other migration runs, holding the lock until this transaction ends.

    PostgreSQL: a transaction-level advisory lock, released by the commit or rollback (also
    through a transaction pooler, unlike a session lock); the wait is as long as the other
    migration takes, and neither it nor a migration's own statements are cut short by a
    statement timeout (`python -m backend migrate` sets none). SQLite: the database's write
    lock, taken now rather than at the first write (the driver would begin the transaction only
    then, after Alembic has read the revision); a wait longer than `DB_POOL_TIMEOUT` fails with
    "database is locked".
    """
    if connection.dialect.name != "postgresql":
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    # Nor a server-side one (`ALTER ROLE ... SET statement_timeout`), for this transaction.
    await connection.execute(text("SET LOCAL statement_timeout = 0"))
    key = {"key": MIGRATION_LOCK_KEY}
    if await connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), key):
        return
    logger.info("another migration is running: waiting for it to end")
    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision` in one transaction, one migration run at a time."""
    async with engine.begin() as connection:
        await _take_migration_lock(connection)
        await connection.run_sync(_upgrade, revision)
