"""Why the CLI refuses to start, in one line each: a bad setting or a database it cannot reach.

An operator reads these in a deploy log; a traceback there hides the one fact that matters
(which setting, what is wrong) and may print a secret. Nothing here names a secret's value.
"""

import asyncio
import socket
import sqlite3
import ssl

import asyncpg
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url

from backend.config import Settings
from backend.db import create_engine


class DatabaseUnreachable(Exception):
    """The startup probe could not open a connection and run one statement."""


def settings_error_lines(error: ValidationError) -> list[str]:
    """One line per invalid setting, named as in the environment, without its value."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False, include_context=False):
        message = problem["msg"].removeprefix("Value error, ")
        name = "_".join(str(part) for part in problem["loc"]).upper()
        if name and not message.startswith(name):
            message = f"{name}: {message}"
        lines.append(f"invalid setting: {message}")
    return lines


async def probe_database(settings: Settings) -> None:
    """Connect once and run `SELECT 1`, or raise `DatabaseUnreachable` with a one-line reason.

    Any failure counts: whatever stops this statement stops every request, so the server
    should not start on it.
    """
    try:
        engine = create_engine(settings)
        try:
            async with asyncio.timeout(settings.db_connect_timeout):
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()
    except Exception as error:
        raise DatabaseUnreachable(describe_connect_failure(settings, error)) from None


def describe_connect_failure(settings: Settings, error: BaseException) -> str:
    """`cannot connect to the database at <where> (<why>): check DATABASE_URL`."""
    url = make_url(settings.database_url)
    if settings.is_sqlite:
        where = f"file {url.database}"
    else:
        where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
    reason = _reason(settings, _root_cause(error))
    if url.password:
        reason = reason.replace(url.password, "***")
    return f"cannot connect to the database at {where} ({reason}): check DATABASE_URL"


def _root_cause(error: BaseException) -> BaseException:
    """The driver's or the OS's error below SQLAlchemy's wrappers (a timeout is its own cause:
    below it is only the cancellation it caused)."""
    seen = {id(error)}
    while not isinstance(error, TimeoutError):
        cause = getattr(error, "orig", None) or error.__cause__
        if cause is None or id(cause) in seen:
            return error
        seen.add(id(cause))
        error = cause
    return error


def _reason(settings: Settings, error: BaseException) -> str:
    if isinstance(error, socket.gaierror):
        return "host name not found"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: is the server running on that port?"
    if isinstance(error, TimeoutError):
        return f"no answer within DB_CONNECT_TIMEOUT={settings.db_connect_timeout:g} seconds"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed: {error.reason or error}"
    if isinstance(error, asyncpg.PostgresError | sqlite3.Error):
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    first_line = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
