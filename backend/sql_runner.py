"""How the stores' statements reach the database: through SQLAlchemy, or straight to asyncpg.

`task_store.py` and `idempotency.py` build every statement with SQLAlchemy Core (the owner
filter is added there); a runner only executes it and returns plain dict rows.

- `EngineRunner` runs each statement in its own transaction on the SQLAlchemy engine (SQLite).
- `AsyncpgRunner` is the PostgreSQL request path. SQLAlchemy's execution layer (pool checkout
  with pre-ping, BEGIN/COMMIT, greenlet hops, result machinery) costs several times the query
  itself here (bench/README.md): so each statement is compiled by SQLAlchemy's own compiler
  once per shape (its cache key, as the engine does), and the bound parameters, with the column
  types' processors applied, go to a raw asyncpg connection from a dedicated pool, in
  autocommit. Each task operation is one statement, so autocommit is exactly as atomic as the
  BEGIN/COMMIT pair it saves. It relies on SQLAlchemy internals the engine itself uses
  (`_generate_cache_key`, `_bind_processors`, `_result_columns`), pinned by the SQLAlchemy
  version and exercised by the whole test suite on PostgreSQL.

Work that must commit together (an idempotency key, the task and the stored response) runs in
`transaction()`: one connection, one transaction, the same statements.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Dialect
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement

Row = dict[str, Any]
_COMPILED_CACHE_SIZE = 500


class StatementRunner(Protocol):
    """Runs one statement and returns its rows as dicts."""

    @property
    def dialect_name(self) -> str: ...

    async def all(self, statement: ClauseElement) -> list[Row]: ...

    async def one_or_none(self, statement: ClauseElement) -> Row | None: ...

    async def one(self, statement: ClauseElement) -> Row: ...

    def transaction(self) -> AbstractAsyncContextManager["StatementRunner"]: ...


class _RowReads:
    """`one_or_none` and `one` in terms of `all`; runners with a cheaper single-row read
    override `one_or_none`."""

    __slots__ = ()

    async def all(self, statement: ClauseElement) -> list[Row]:
        raise NotImplementedError

    async def one_or_none(self, statement: ClauseElement) -> Row | None:
        rows = await self.all(statement)
        return rows[0] if rows else None

    async def one(self, statement: ClauseElement) -> Row:
        row = await self.one_or_none(statement)
        if row is None:
            raise LookupError("the statement returned no row")
        return row


class _ConnectionRunner(_RowReads):
    """Statements on one SQLAlchemy connection, inside the transaction its owner opened."""

    __slots__ = ("_connection",)

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    @property
    def dialect_name(self) -> str:
        return self._connection.dialect.name

    async def all(self, statement: ClauseElement) -> list[Row]:
        result = await self._connection.execute(statement)  # type: ignore[call-overload]
        return [dict(row) for row in result.mappings()] if result.returns_rows else []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["_ConnectionRunner"]:
        yield self


class EngineRunner(_RowReads):
    """Each statement in its own transaction on the SQLAlchemy engine."""

    __slots__ = ("_engine",)

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def dialect_name(self) -> str:
        return self._engine.dialect.name

    async def all(self, statement: ClauseElement) -> list[Row]:
        async with self._engine.begin() as connection:
            return await _ConnectionRunner(connection).all(statement)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_ConnectionRunner]:
        async with self._engine.begin() as connection:
            yield _ConnectionRunner(connection)

    async def close(self) -> None:
        """The engine is disposed of by its owner."""


class _Shape:
    """One compiled statement shape: its SQL and how to bind and read its values."""

    __slots__ = ("bind_processors", "compiled", "positions", "result_processors", "sql")

    def __init__(self, compiled: Any, dialect: Dialect) -> None:
        if compiled.insert_prefetch or compiled.update_prefetch or compiled.post_compile_params:
            raise TypeError("statement needs SQLAlchemy's execution context: use EngineRunner")
        self.compiled = compiled
        self.sql: str = compiled.string
        self.positions: Sequence[str] = compiled.positiontup or ()
        self.bind_processors: dict[str, Callable[[Any], Any]] = dict(compiled._bind_processors)
        self.result_processors: list[tuple[str, Callable[[Any], Any]]] = []
        for column in compiled._result_columns or ():
            processor = column.type.result_processor(dialect, None)
            if processor is not None:
                self.result_processors.append((column.keyname, processor))


class CompiledStatements:
    """SQLAlchemy statements as asyncpg SQL and arguments, compiled once per shape."""

    def __init__(self, dialect: Dialect | None = None) -> None:
        self._dialect = dialect or PGDialect_asyncpg()
        self._shapes: dict[Any, _Shape] = {}

    def bind(self, statement: ClauseElement) -> tuple[_Shape, list[Any]]:
        cache_key = statement._generate_cache_key()
        if cache_key is None:
            raise TypeError("statement has no cache key: use EngineRunner")
        shape = self._shapes.get(cache_key.key)
        if shape is None:
            compiled = statement.compile(dialect=self._dialect, cache_key=cache_key, column_keys=[])
            shape = _Shape(compiled, self._dialect)
            if len(self._shapes) >= _COMPILED_CACHE_SIZE:
                self._shapes.clear()
            self._shapes[cache_key.key] = shape
        values = shape.compiled.construct_params(
            extracted_parameters=cache_key.bindparams,
            escape_names=False,
            _collected_params=cache_key.params,
        )
        processors = shape.bind_processors
        arguments = [
            processors[name](values[name]) if name in processors else values[name]
            for name in shape.positions
        ]
        return shape, arguments


def _row(shape: _Shape, record: asyncpg.Record) -> Row:
    row = dict(record)
    for key, processor in shape.result_processors:
        row[key] = processor(row[key])
    return row


class _AsyncpgConnectionRunner(_RowReads):
    """Statements on one asyncpg connection, inside the transaction its owner opened."""

    __slots__ = ("_connection", "_statements")

    dialect_name = "postgresql"

    def __init__(self, connection: asyncpg.Connection, statements: CompiledStatements) -> None:
        self._connection = connection
        self._statements = statements

    async def all(self, statement: ClauseElement) -> list[Row]:
        shape, arguments = self._statements.bind(statement)
        records = await self._connection.fetch(shape.sql, *arguments)
        return [_row(shape, record) for record in records]

    async def one_or_none(self, statement: ClauseElement) -> Row | None:
        shape, arguments = self._statements.bind(statement)
        record = await self._connection.fetchrow(shape.sql, *arguments)
        return None if record is None else _row(shape, record)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["_AsyncpgConnectionRunner"]:
        yield self


class AsyncpgRunner(_RowReads):
    """Each statement on a connection of a dedicated asyncpg pool, in autocommit."""

    __slots__ = ("_acquire_timeout", "_pool", "_statements")

    dialect_name = "postgresql"

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._statements = CompiledStatements()

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def _acquire(self) -> asyncpg.Connection:
        """A pooled connection, or `TimeoutError` (a 503) after `DB_POOL_TIMEOUT`.

        `asyncio.timeout` is one timer; asyncpg's own acquire timeout runs an extra task per call.
        """
        async with asyncio.timeout(self._acquire_timeout):
            return await self._pool.acquire()

    async def all(self, statement: ClauseElement) -> list[Row]:
        shape, arguments = self._statements.bind(statement)
        connection = await self._acquire()
        try:
            records = await connection.fetch(shape.sql, *arguments)
        finally:
            await self._pool.release(connection)
        return [_row(shape, record) for record in records]

    async def one_or_none(self, statement: ClauseElement) -> Row | None:
        shape, arguments = self._statements.bind(statement)
        connection = await self._acquire()
        try:
            record = await connection.fetchrow(shape.sql, *arguments)
        finally:
            await self._pool.release(connection)
        return None if record is None else _row(shape, record)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_AsyncpgConnectionRunner]:
        """One connection in one transaction: committed if the block ends normally."""
        connection = await self._acquire()
        try:
            async with connection.transaction():
                yield _AsyncpgConnectionRunner(connection, self._statements)
        finally:
            await self._pool.release(connection)

    def connections(self) -> tuple[int, int]:
        """(in use, idle) connections of the pool, for the pool gauge."""
        idle = self._pool.get_idle_size()
        return self._pool.get_size() - idle, idle

    async def close(self) -> None:
        await self._pool.close()
