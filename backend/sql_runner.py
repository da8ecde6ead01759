"""How the stores' statements reach the database: one pool per process, one data contract.

Every store (`task_store.py`, `idempotency.py`, `user_store.py`, the readiness check) declares
each statement shape once, at import, as a `Statement`: a SQLAlchemy construct with a
`bindparam()` for every value. A request passes only values, as a dict, to a `StatementRunner`,
which returns plain dict rows keyed by the construct's column keys, on both engines:

- `EngineRunner` (SQLite) runs the construct on the SQLAlchemy engine, each statement in its
  own transaction; the engine's pool is the process's pool.
- `AsyncpgRunner` (PostgreSQL) runs the SQL the construct compiled to, on a raw asyncpg pool,
  the process's only pool. SQLAlchemy's execution layer (checkout, BEGIN/COMMIT, greenlet hops,
  result machinery) costs several times the query itself on the request path, so each construct
  is compiled once, through public API only: SQLAlchemy renders it in the `pyformat` style
  (`%(name)s`), and the placeholders become asyncpg's `$n`. Each task operation is one
  statement, so autocommit is as atomic as the BEGIN/COMMIT pair it saves; work that must commit
  together runs in `transaction()`.

What cannot run that way (an expanding `IN`, a column default computed in Python, a literal
whose type needs conversion, an unnamed result column) raises `UnsupportedStatement` when the
`Statement` is built, at import, never on a user's request. A parameter is converted by the type
its `bindparam()` declares, on both engines: give one that fills a column of a custom type
(`UTCDateTime`) that type.
"""

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import asyncpg
from sqlalchemy import BindParameter, CursorResult, Executable
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.visitors import iterate

Row = dict[str, Any]
Params = Mapping[str, Any]
Processor = Callable[[Any], Any]

# A unique (or other integrity) constraint refused a write, on either engine.
INTEGRITY_ERRORS = (IntegrityError, asyncpg.IntegrityConstraintViolationError)

_POSTGRESQL = PGDialect_asyncpg(paramstyle="pyformat")
# In the pyformat style every `%` of the SQL is either a placeholder or doubled.
_PYFORMAT_TOKEN = re.compile(r"%\(([^)]+)\)s|%%")
# A connection idle longer than this is pinged before use when `DB_POOL_PRE_PING` is on: one
# round trip when traffic is light, none under load (PgBouncer's `server_check_delay` idea).
PING_AFTER_IDLE_SECONDS = 1.0
# Idle connections are closed after this long, well before Neon suspends an idle compute
# (5 minutes) and drops them.
POOL_MAX_IDLE_SECONDS = 60.0


class UnsupportedStatement(TypeError):
    """A construct the asyncpg path cannot run as compiled once; raised at import."""


class _Parameter:
    """Stands for the caller's value of parameter `key` while the placeholders are mapped."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


class Statement:
    """One statement shape: the construct for SQLAlchemy, and the same statement as asyncpg SQL.

    `sqlite` is the SQLite engine's own construct of the same statement, for what SQLAlchemy
    builds per dialect (an `INSERT ... ON CONFLICT`); by default both engines run `construct`.
    """

    __slots__ = (
        "_arguments",
        "construct",
        "keys",
        "parameters",
        "result_processors",
        "sql",
        "sqlite",
    )

    def __init__(self, construct: Executable, *, sqlite: Executable | None = None) -> None:
        self.construct = construct
        self.sqlite = construct if sqlite is None else sqlite
        compiled = construct.compile(dialect=_POSTGRESQL)
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise UnsupportedStatement(
                f"a column default computed in Python: bind its value instead\n{compiled}"
            )
        binds = [element for element in iterate(construct) if isinstance(element, BindParameter)]
        processors: dict[str, Processor | None] = {}
        for bind in binds:
            processor = bind.type.dialect_impl(_POSTGRESQL).bind_processor(_POSTGRESQL)
            if bind.required:
                processors[bind.key] = processor
            elif processor is not None:
                raise UnsupportedStatement(
                    f"a literal of type {bind.type} needs conversion: bind it as a parameter"
                )
        self.parameters = frozenset(processors)
        # Each placeholder's value: a `_Parameter` naming the caller's value, or a constant of
        # the construct (a literal such as `version + 1`). SQLAlchemy maps the names.
        placeholders = compiled.construct_params({key: _Parameter(key) for key in processors})
        names: list[str] = []

        def placeholder(token: re.Match[str]) -> str:
            if token[1] is None:
                return "%"
            if token[1] not in names:
                names.append(token[1])
            return f"${names.index(token[1]) + 1}"

        self.sql: str = _PYFORMAT_TOKEN.sub(placeholder, compiled.string)
        if "POSTCOMPILE" in self.sql:
            raise UnsupportedStatement(
                f"an expanding parameter (IN a list) is compiled per call: bind a fixed number "
                f"of values or one value that holds them all\n{self.sql}"
            )
        # Per `$n`: (the caller's parameter, its type's conversion, None), or, for a constant,
        # (None, None, its value).
        self._arguments: list[tuple[str | None, Processor | None, Any]] = []
        for name in names:
            value = placeholders[name]
            if isinstance(value, _Parameter):
                self._arguments.append((value.key, processors[value.key], None))
            else:
                self._arguments.append((None, None, value))
        columns = list(getattr(construct, "exported_columns", ()))
        if any(column.key is None for column in columns):
            raise UnsupportedStatement(f"a result column without a name: label it\n{self.sql}")
        self.keys: tuple[str, ...] = tuple(str(column.key) for column in columns)
        self.result_processors: list[tuple[str, Processor]] = []
        for key, column in zip(self.keys, columns, strict=True):
            processor = column.type.dialect_impl(_POSTGRESQL).result_processor(_POSTGRESQL, None)
            if processor is not None:
                self.result_processors.append((key, processor))

    def arguments(self, params: Params) -> list[Any]:
        """asyncpg's positional arguments: KeyError for a parameter missing from `params`, so
        a forgotten value is never bound as NULL."""
        arguments = []
        for name, processor, constant in self._arguments:
            if name is None:
                arguments.append(constant)
            elif processor is None:
                arguments.append(params[name])
            else:
                arguments.append(processor(params[name]))
        return arguments

    def rows(self, records: list[asyncpg.Record]) -> list[Row]:
        """Records as dicts keyed like SQLAlchemy's rows, the column keys zipped in once."""
        keys = self.keys
        rows = [dict(zip(keys, record, strict=True)) for record in records]
        for key, processor in self.result_processors:
            for row in rows:
                row[key] = processor(row[key])
        return rows

    def __repr__(self) -> str:
        return f"Statement({self.sql!r})"


class StatementRunner(Protocol):
    """Runs one `Statement` with the values of its bound parameters; rows come back as dicts.
    A parameter missing from `params` is an error, never NULL."""

    async def all(self, statement: Statement, params: Params) -> list[Row]: ...

    async def one_or_none(self, statement: Statement, params: Params) -> Row | None: ...

    async def one(self, statement: Statement, params: Params) -> Row: ...

    async def execute(self, statement: Statement, params: Params) -> int:
        """Run a statement that returns no rows; how many rows it changed."""
        ...

    def transaction(self) -> AbstractAsyncContextManager["StatementRunner"]: ...


class _RowReads:
    """`one_or_none` and `one` in terms of `all`; runners with a cheaper single-row read
    override `one_or_none`."""

    __slots__ = ()

    async def all(self, statement: Statement, params: Params) -> list[Row]:
        raise NotImplementedError

    async def one_or_none(self, statement: Statement, params: Params) -> Row | None:
        rows = await self.all(statement, params)
        return rows[0] if rows else None

    async def one(self, statement: Statement, params: Params) -> Row:
        row = await self.one_or_none(statement, params)
        if row is None:
            raise LookupError("the statement returned no row")
        return row


class _ConnectionRunner(_RowReads):
    """Statements on one SQLAlchemy connection, inside the transaction its owner opened."""

    __slots__ = ("_connection",)

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def _run(self, statement: Statement, params: Params) -> CursorResult[Any]:
        """Only the statement's own parameters, each required: a value that happens to share a
        column's name must not slip into an INSERT or UPDATE here when asyncpg ignores it."""
        values = {name: params[name] for name in statement.parameters}
        return await self._connection.execute(statement.sqlite, values)  # type: ignore[call-overload,no-any-return]

    async def all(self, statement: Statement, params: Params) -> list[Row]:
        result = await self._run(statement, params)
        return [dict(row) for row in result.mappings()] if result.returns_rows else []

    async def execute(self, statement: Statement, params: Params) -> int:
        return int((await self._run(statement, params)).rowcount)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["_ConnectionRunner"]:
        yield self


class EngineRunner(_RowReads):
    """Each statement in its own transaction on the SQLAlchemy engine (SQLite)."""

    __slots__ = ("_engine",)

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def all(self, statement: Statement, params: Params) -> list[Row]:
        async with self._engine.begin() as connection:
            return await _ConnectionRunner(connection).all(statement, params)

    async def execute(self, statement: Statement, params: Params) -> int:
        async with self._engine.begin() as connection:
            return await _ConnectionRunner(connection).execute(statement, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_ConnectionRunner]:
        async with self._engine.begin() as connection:
            yield _ConnectionRunner(connection)

    def connections(self) -> tuple[int, int]:
        """(in use, idle) connections of the pool, for the pool gauge."""
        status = self._engine.pool
        return status.checkedout(), status.checkedin()  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self._engine.dispose()


async def _fetch(connection: asyncpg.Connection, statement: Statement, params: Params) -> list[Row]:
    return statement.rows(await connection.fetch(statement.sql, *statement.arguments(params)))


async def _fetch_one(
    connection: asyncpg.Connection, statement: Statement, params: Params
) -> Row | None:
    record = await connection.fetchrow(statement.sql, *statement.arguments(params))
    return None if record is None else statement.rows([record])[0]


async def _execute(connection: asyncpg.Connection, statement: Statement, params: Params) -> int:
    """Rows changed, from the command tag (`DELETE 3`, `UPDATE 0`, ...)."""
    tag = await connection.execute(statement.sql, *statement.arguments(params))
    count = tag.rpartition(" ")[2]
    return int(count) if count.isdigit() else 0


class _AsyncpgConnectionRunner(_RowReads):
    """Statements on one asyncpg connection, inside the transaction its owner opened."""

    __slots__ = ("_connection",)

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def all(self, statement: Statement, params: Params) -> list[Row]:
        return await _fetch(self._connection, statement, params)

    async def one_or_none(self, statement: Statement, params: Params) -> Row | None:
        return await _fetch_one(self._connection, statement, params)

    async def execute(self, statement: Statement, params: Params) -> int:
        return await _execute(self._connection, statement, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator["_AsyncpgConnectionRunner"]:
        yield self


class _ConnectionAge:
    """When a pooled connection was first handed out and last given back."""

    __slots__ = ("born", "released")

    def __init__(self, now: float) -> None:
        self.born = now
        self.released = now


class AsyncpgRunner(_RowReads):
    """Each statement on a connection of the process's asyncpg pool, in autocommit.

    On checkout, a connection older than `recycle` seconds is replaced, and with `pre_ping` one
    idle for over `PING_AFTER_IDLE_SECONDS` is checked with a round trip and replaced if dead:
    what SQLAlchemy's `pool_recycle` and `pool_pre_ping` do, at no cost under load.
    """

    __slots__ = ("_acquire_timeout", "_ages", "_checked_out", "_pool", "_pre_ping", "_recycle")

    def __init__(
        self, pool: asyncpg.Pool, acquire_timeout: float, *, recycle: float, pre_ping: bool
    ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._recycle = recycle
        self._pre_ping = pre_ping
        # Keyed by the server's process id, which names one live connection.
        self._ages: dict[int, _ConnectionAge] = {}
        # Checkouts asked for and not yet given back: past the pool's size, a checkout waits.
        self._checked_out = 0

    async def _acquire(self) -> tuple[asyncpg.Connection, _ConnectionAge]:
        """A healthy pooled connection, or `TimeoutError` (a 503) after `DB_POOL_TIMEOUT`.

        The timer is armed only when every connection is out, the one case that waits for
        another request: a timer per checkout would cost more than the rest of the checkout.
        A connection that is free is handed over at once; opening one is bounded by
        `DB_CONNECT_TIMEOUT`, and the pre-ping by `DB_POOL_TIMEOUT`.
        """
        self._checked_out += 1
        try:
            if self._checked_out > self._pool.get_max_size():
                async with asyncio.timeout(self._acquire_timeout):
                    return await self._healthy()
            return await self._healthy()
        except BaseException:
            self._checked_out -= 1
            raise

    async def _healthy(self) -> tuple[asyncpg.Connection, _ConnectionAge]:
        while True:
            connection = await self._pool.acquire()
            age = await self._checked(connection)
            if age is not None:
                return connection, age
            # A connection that failed its ping is closed already, and detached from us.
            with contextlib.suppress(asyncpg.InterfaceError):
                connection.terminate()
            await self._pool.release(connection)

    async def _checked(self, connection: asyncpg.Connection) -> _ConnectionAge | None:
        """The connection's age when it may serve, None when it must be replaced."""
        now = time.monotonic()
        pid = connection.get_server_pid()
        age = self._ages.get(pid)
        if age is None or now - age.released > POOL_MAX_IDLE_SECONDS:
            # New to us: a fresh connection (the pool closed whatever idled before under it).
            age = self._ages[pid] = _ConnectionAge(now)
            return age
        if 0 <= self._recycle < now - age.born:
            del self._ages[pid]
            return None
        if self._pre_ping and now - age.released > PING_AFTER_IDLE_SECONDS:
            try:
                async with asyncio.timeout(self._acquire_timeout):
                    await connection.execute("SELECT 1")
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                del self._ages[pid]
                return None
        return age

    async def _release(self, connection: asyncpg.Connection, age: _ConnectionAge) -> None:
        """Back to the pool, even when the statement broke the connection (the pool then
        replaces it)."""
        age.released = time.monotonic()
        try:
            await self._pool.release(connection)
        finally:
            self._checked_out -= 1

    async def all(self, statement: Statement, params: Params) -> list[Row]:
        connection, age = await self._acquire()
        try:
            return await _fetch(connection, statement, params)
        finally:
            await self._release(connection, age)

    async def one_or_none(self, statement: Statement, params: Params) -> Row | None:
        connection, age = await self._acquire()
        try:
            return await _fetch_one(connection, statement, params)
        finally:
            await self._release(connection, age)

    async def execute(self, statement: Statement, params: Params) -> int:
        connection, age = await self._acquire()
        try:
            return await _execute(connection, statement, params)
        finally:
            await self._release(connection, age)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_AsyncpgConnectionRunner]:
        """One connection in one transaction: committed if the block ends normally."""
        connection, age = await self._acquire()
        try:
            async with connection.transaction():
                yield _AsyncpgConnectionRunner(connection)
        finally:
            await self._release(connection, age)

    def connections(self) -> tuple[int, int]:
        """(in use, idle) connections of the pool, for the pool gauge."""
        idle = self._pool.get_idle_size()
        return self._pool.get_size() - idle, idle

    async def close(self) -> None:
        await self._pool.close()
