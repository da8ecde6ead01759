"""How the stores' statements reach the database: through SQLAlchemy, or straight to asyncpg.

`task_store.py` and `idempotency.py` build each statement shape once, with a `bindparam()` for
every value (the owner filter included, added there), and pass a runner that statement with a
dict of values per call; a runner only executes it and returns plain dict rows.

- `EngineRunner` runs each statement in its own transaction on the SQLAlchemy engine (SQLite),
  as `connection.execute(statement, params)`.
- `AsyncpgRunner` is the PostgreSQL request path. SQLAlchemy's execution layer (pool checkout
  with pre-ping, BEGIN/COMMIT, greenlet hops, result machinery) costs several times the query
  itself here (bench/README.md), and so would building a statement and its cache key per
  request: so each prebuilt statement object is compiled by SQLAlchemy's own compiler once
  (cached by the object's identity, which is why statements must be long-lived), and a call
  only picks its values by name, through the column types' bind processors, into asyncpg's
  positional arguments, for a raw asyncpg connection from a dedicated pool, in autocommit.
  Each task operation is one statement, so autocommit is exactly as atomic as the
  BEGIN/COMMIT pair it saves. It relies on SQLAlchemy internals the engine itself uses
  (`positiontup`, `binds`, `_bind_processors`, `_result_columns`), pinned by the SQLAlchemy
  version and exercised by the whole test suite on PostgreSQL.

Work that must commit together (an idempotency key, the task and the stored response) runs in
`transaction()`: one connection, one transaction, the same statements.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Dialect
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement

Row = dict[str, Any]
Params = Mapping[str, Any]
_COMPILED_CACHE_SIZE = 500


class StatementRunner(Protocol):
    """Runs one prebuilt statement with the values of its bound parameters, and returns its rows
    as dicts. A parameter missing from `params` is an error (KeyError on the asyncpg path), never
    NULL."""

    @property
    def dialect_name(self) -> str: ...

    async def all(self, statement: ClauseElement, params: Params) -> list[Row]: ...

    async def one_or_none(self, statement: ClauseElement, params: Params) -> Row | None: ...

    async def one(self, statement: ClauseElement, params: Params) -> Row: ...

    def transaction(self) -> AbstractAsyncContextManager["StatementRunner"]: ...


class _RowReads:
    """`one_or_none` and `one` in terms of `all`; runners with a cheaper single-row read
    override `one_or_none`."""

    __slots__ = ()

    async def all(self, statement: ClauseElement, params: Params) -> list[Row]:
        raise NotImplementedError

    async def one_or_none(self, statement: ClauseElement, params: Params) -> Row | None:
        rows = await self.all(statement, params)
        return rows[0] if rows else None

    async def one(self, statement: ClauseElement, params: Params) -> Row:
        row = await self.one_or_none(statement, params)
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

    async def all(self, statement: ClauseElement, params: Params) -> list[Row]:
        result = await self._connection.execute(statement, params)  # type: ignore[call-overload]
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

    async def all(self, statement: ClauseElement, params: Params) -> list[Row]:
        async with self._engine.begin() as connection:
            return await _ConnectionRunner(connection).all(statement, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_ConnectionRunner]:
        async with self._engine.begin() as connection:
            yield _ConnectionRunner(connection)

    async def close(self) -> None:
        """The engine is disposed of by its owner."""


class _Shape:
    """One compiled statement: its SQL, where each positional argument comes from, and how its
    result columns are read."""

    __slots__ = ("arguments", "result_processors", "sql", "statement")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled: Any = statement.compile(dialect=dialect, column_keys=[])
        if compiled.insert_prefetch or compiled.update_prefetch or compiled.post_compile_params:
            raise TypeError("statement needs SQLAlchemy's execution context: use EngineRunner")
        # Held so that the statement's id, the cache key, cannot be reused while cached.
        self.statement = statement
        self.sql: str = compiled.string
        processors = compiled._bind_processors
        # Per position: (the caller's parameter name, its processor, None), or, for a bound
        # parameter that carries its own value (a literal such as `version = 1`),
        # (None, None, that value already processed).
        self.arguments: list[tuple[str | None, Callable[[Any], Any] | None, Any]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            processor = processors.get(name)
            if bind.required:
                self.arguments.append((bind.key, processor, None))
            else:
                value = bind.effective_value
                self.arguments.append(
                    (None, None, value if processor is None else processor(value))
                )
        self.result_processors: list[tuple[str, Callable[[Any], Any]]] = []
        for column in compiled._result_columns or ():
            processor = column.type.result_processor(dialect, None)
            if processor is not None:
                self.result_processors.append((column.keyname, processor))

    def bind(self, params: Params) -> list[Any]:
        """asyncpg's positional arguments: KeyError for a parameter missing from `params`."""
        arguments = []
        for name, processor, value in self.arguments:
            if name is None:
                arguments.append(value)
            elif processor is None:
                arguments.append(params[name])
            else:
                arguments.append(processor(params[name]))
        return arguments


class CompiledStatements:
    """Prebuilt SQLAlchemy statements as asyncpg SQL, compiled once per statement object."""

    def __init__(self, dialect: Dialect | None = None) -> None:
        self._dialect = dialect or PGDialect_asyncpg()
        self._shapes: dict[int, _Shape] = {}

    def bind(self, statement: ClauseElement, params: Params) -> tuple[_Shape, list[Any]]:
        shape = self._shapes.get(id(statement))
        if shape is None:
            shape = _Shape(statement, self._dialect)
            if len(self._shapes) >= _COMPILED_CACHE_SIZE:
                self._shapes.clear()
            self._shapes[id(statement)] = shape
        return shape, shape.bind(params)


def _rows(shape: _Shape, records: list[asyncpg.Record]) -> list[Row]:
    """Records as dicts: zipped with the column names read once, about twice as fast as
    `dict(record)`, which looks every name up again."""
    if not records:
        return []
    keys = tuple(records[0].keys())
    rows = [dict(zip(keys, record, strict=True)) for record in records]
    for key, processor in shape.result_processors:
        for row in rows:
            row[key] = processor(row[key])
    return rows


def _row(shape: _Shape, record: asyncpg.Record | None) -> Row | None:
    return None if record is None else _rows(shape, [record])[0]


class _AsyncpgConnectionRunner(_RowReads):
    """Statements on one asyncpg connection, inside the transaction its owner opened."""

    __slots__ = ("_connection", "_statements")

    dialect_name = "postgresql"

    def __init__(self, connection: asyncpg.Connection, statements: CompiledStatements) -> None:
        self._connection = connection
        self._statements = statements

    async def all(self, statement: ClauseElement, params: Params) -> list[Row]:
        shape, arguments = self._statements.bind(statement, params)
        records = await self._connection.fetch(shape.sql, *arguments)
        return _rows(shape, records)

    async def one_or_none(self, statement: ClauseElement, params: Params) -> Row | None:
        shape, arguments = self._statements.bind(statement, params)
        record = await self._connection.fetchrow(shape.sql, *arguments)
        return _row(shape, record)

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

    async def all(self, statement: ClauseElement, params: Params) -> list[Row]:
        shape, arguments = self._statements.bind(statement, params)
        connection = await self._acquire()
        try:
            records = await connection.fetch(shape.sql, *arguments)
        finally:
            await self._pool.release(connection)
        return _rows(shape, records)

    async def one_or_none(self, statement: ClauseElement, params: Params) -> Row | None:
        shape, arguments = self._statements.bind(statement, params)
        connection = await self._acquire()
        try:
            record = await connection.fetchrow(shape.sql, *arguments)
        finally:
            await self._pool.release(connection)
        return _row(shape, record)

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
