"""The database from settings: the serving process's one pool (`open_runner`), and the
SQLAlchemy engine that migrations, the CLI and SQLite use (`create_engine`)."""

from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from backend.config import Settings
from backend.database_url import asyncpg_connect_args
from backend.sql_runner import POOL_MAX_IDLE_SECONDS, AsyncpgRunner, EngineRunner

COMMAND_TIMEOUT_MARGIN_SECONDS = 1.0


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the async engine; connects lazily, so nothing touches the database here."""
    if settings.is_sqlite:
        return _create_sqlite_engine(settings)
    # Every connection detail is in connect_args, decided once from DATABASE_URL.
    return create_async_engine(
        "postgresql+asyncpg://",
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=settings.db_pool_recycle,
        pool_pre_ping=settings.db_pool_pre_ping,
        connect_args=postgres_connect_args(settings),
    )


def postgres_connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg arguments: DATABASE_URL's (`database_url.asyncpg_connect_args`: where, who,
    TLS), the settings' timeouts and, behind a transaction pooler, no prepared statements.

    PgBouncer in transaction mode hands each transaction a different server connection, so a
    statement prepared by name on one may be missing (or taken) on the next: both caches are
    off there, and asyncpg then uses unnamed statements that live within one transaction. The
    pooler also refuses unknown startup parameters, so the server-side `statement_timeout` is
    only sent on direct connections; asyncpg's client-side `command_timeout` applies to both.
    The URL's own `connect_timeout` and `options` settings win over the settings' defaults.
    """
    url_args = asyncpg_connect_args(settings.database_url)
    args: dict[str, Any] = {"timeout": settings.db_connect_timeout, **url_args}
    server_settings: dict[str, str] = {}
    timeout = settings.db_statement_timeout
    if timeout:
        # The client-side limit trails the server's, so the server's clean error comes first.
        args["command_timeout"] = timeout + COMMAND_TIMEOUT_MARGIN_SECONDS
    if settings.uses_transaction_pooler:
        args["statement_cache_size"] = 0
        args["prepared_statement_cache_size"] = 0
    elif timeout:
        server_settings["statement_timeout"] = str(int(timeout * 1000))
    server_settings.update(url_args.get("server_settings", {}))
    if server_settings:
        args["server_settings"] = server_settings
    return args


async def open_runner(settings: Settings) -> AsyncpgRunner | EngineRunner:
    """The process's one pool, and the runner every statement of the app goes through.

    On PostgreSQL an asyncpg pool of at most `DB_POOL_SIZE` connections, opened lazily
    (nothing touches the database here), with the engine's timeouts and, behind a transaction
    pooler, no statement cache. It skips asyncpg's reset query on release: no statement leaves
    session state, and a transaction block always ends before release. On SQLite, the engine.
    """
    if settings.is_sqlite:
        return EngineRunner(create_engine(settings))
    options = postgres_connect_args(settings)
    # SQLAlchemy's own statement cache; the asyncpg one is `statement_cache_size`.
    options.pop("prepared_statement_cache_size", None)
    pool = await asyncpg.create_pool(
        min_size=0,
        max_size=settings.db_pool_size,
        max_inactive_connection_lifetime=POOL_MAX_IDLE_SECONDS,
        reset=_keep_session,
        **options,
    )
    return AsyncpgRunner(
        pool,
        settings.db_pool_timeout,
        recycle=settings.db_pool_recycle,
        pre_ping=settings.db_pool_pre_ping,
    )


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query: statements leave no session state."""


def _create_sqlite_engine(settings: Settings) -> AsyncEngine:
    database = make_url(settings.database_url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        settings.database_url,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout,
        connect_args={"timeout": settings.db_pool_timeout},
    )
    event.listen(engine.sync_engine, "connect", _tune_sqlite_connection)
    return engine


# What `lower()` must do differently from Python's `str.lower` to map each character on its own,
# as PostgreSQL's does (glibc's `towlower`): no final-sigma rule, and `İ` to a plain `i`.
_CONTEXT_FREE_LOWER = str.maketrans({"\u03a3": "\u03c3", "\u0130": "i"})


def unicode_lower(text: str | None) -> str | None:
    """SQLite's `lower()` for every character, not only ASCII, so that `search` (`lower(...)
    LIKE lower(...)`) means what `ILIKE` means on PostgreSQL with a UTF-8 locale."""
    if text is None:
        return None
    if text.isascii():
        return text.lower()
    return text.translate(_CONTEXT_FREE_LOWER).lower()


def _tune_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys, let readers run beside the single writer (WAL), and fold case
    beyond ASCII in `lower()`."""
    dbapi_connection.create_function("lower", 1, unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
