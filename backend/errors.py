"""Error responses: one body shape, `{"detail": {"error": ..., ...}}`, decided here for the app.

422 keeps FastAPI's field-level list; unparseable JSON is 400; a database that is unreachable,
restarting, overloaded or too slow is 503 with `Retry-After`, and so is one whose schema is not
migrated (saying so); anything unexpected is a bare 500 whose details go to the log only.
"""

import json
import logging
import re
from functools import cache
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path

from backend import standard_json
from backend.sql_runner import INTEGRITY_ERRORS
from backend.url_paths import route_path

logger = logging.getLogger("backend.errors")

DATABASE_RETRY_AFTER_SECONDS = 2
DATABASE_UNAVAILABLE = "Database unavailable, try again shortly"
DATABASE_TIMED_OUT = "Database took too long, try again shortly"
CONCURRENT_WRITE_CONFLICT = "A concurrent write changed the same data first: retry this one"
SCHEMA_NOT_MIGRATED = (
    "Database schema is not migrated to this version of the API: its operator must run the "
    "migrations"
)
# A deploy's migration job takes longer than a dropped connection to come back.
SCHEMA_RETRY_AFTER_SECONDS = 30
# SQLSTATEs of transient failures a retry can cure: connection lost or refused (08), server
# out of resources (53), shutting down or starting (57P0x), lock/serialization conflicts.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53")
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "55P03", "40001", "40P01"})
_TIMEOUT_SQLSTATES = frozenset({"57014", "25P03"})
# What raw asyncpg (the PostgreSQL task path) raises for a connection that is gone or going:
# closed in the middle of an operation, or used while the server's goodbye (a terminated
# backend's FATAL) is still being read.
_ASYNCPG_CONNECTION_FAILURES = asyncpg.InterfaceError | asyncpg.InternalClientError
# A statement naming a table or column the database does not have: its schema is older than
# the code (not migrated, or behind), which no retry cures. PostgreSQL says so by SQLSTATE
# (undefined table, undefined column), SQLite only in its message.
_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})
_SQLITE_SCHEMA_MESSAGES = ("no such table", "no such column", "has no column named")


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response serialised once, with orjson."""
    return Response(
        orjson.dumps(content),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def error_response(
    status_code: int, message: str, headers: dict[str, str] | None = None, **context: Any
) -> Response:
    return json_response({"detail": {"error": message, **context}}, status_code, headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail if isinstance(exc.detail, dict) else {"error": exc.detail}
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return json_response({"detail": detail}, exc.status_code, headers)


def _allowed_methods(request: Request) -> str:
    """Every method the API serves at this path (Starlette names only the first route's)."""
    path = route_path(request.scope)
    methods = {
        method.upper()
        for _template, pattern, operations in documented_paths(request.app)
        if pattern.match(path)
        for method in operations
    }
    return ", ".join(sorted(methods))


@cache
def documented_paths(app: FastAPI) -> list[tuple[str, re.Pattern[str], list[str]]]:
    """The OpenAPI path templates, each with its regular expression and documented methods."""
    return [
        (template, compile_path(template)[0], list(operations))
        for template, operations in app.openapi()["paths"].items()
    ]


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    malformed = next((error for error in errors if error.get("type") == "json_invalid"), None)
    if malformed is not None:
        reason = malformed.get("ctx", {}).get("error", "invalid JSON")
        return error_response(400, "Request body is not valid JSON", reason=str(reason))
    # The stdlib encoder, not orjson: the errors echo the input, which may hold what orjson
    # refuses (integers over 64 bits, lone surrogates). This path is not a hot one. Standard
    # JSON only: a non-finite float in the input is echoed as null, never as `NaN`.
    detail = standard_json.finite(jsonable_encoder(errors))
    body = json.dumps({"detail": detail}, ensure_ascii=True, allow_nan=False)
    return Response(body, status_code=422, media_type="application/json")


def database_failure(exc: BaseException) -> str | None:
    """The client-facing message when `exc` is a transient database failure, else None."""
    if isinstance(exc, PoolTimeoutError | TimeoutError):
        return DATABASE_TIMED_OUT
    sqlstate = _sqlstate(exc)
    if isinstance(sqlstate, str):
        if sqlstate in _TIMEOUT_SQLSTATES:
            return DATABASE_TIMED_OUT
        if sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES):
            return DATABASE_UNAVAILABLE
    if isinstance(exc, OperationalError | InterfaceError | OSError | _ASYNCPG_CONNECTION_FAILURES):
        return DATABASE_UNAVAILABLE
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DATABASE_UNAVAILABLE
    return None


def schema_mismatch(exc: BaseException) -> bool:
    """Whether `exc` is the database lacking a table or column of the code's schema."""
    if _sqlstate(exc) in _SCHEMA_SQLSTATES:
        return True
    if not isinstance(exc, OperationalError):
        return False
    message = str(exc.orig)
    return any(fragment in message for fragment in _SQLITE_SCHEMA_MESSAGES)


def response_for_unexpected(exc: BaseException, method: str, path: str) -> Response:
    """503 with `Retry-After` for a transient database failure or a schema that is not
    migrated; 409 for a constraint that a concurrent write made this one break (inputs are
    validated first, so only a race gets there: two renames onto one tag name, a tag deleted
    while another request links a task to it); otherwise a bare 500."""
    if schema_mismatch(exc):
        logger.error(
            "database schema is not migrated: %s %s: %s; /readyz names the revisions, "
            "`python -m backend migrate` brings it up to date",
            method,
            path,
            _describe(exc),
        )
        return error_response(
            503, SCHEMA_NOT_MIGRATED, headers={"Retry-After": str(SCHEMA_RETRY_AFTER_SECONDS)}
        )
    if isinstance(exc, INTEGRITY_ERRORS):
        logger.warning("concurrent write conflict: %s %s: %s", method, path, _describe(exc))
        return error_response(409, CONCURRENT_WRITE_CONFLICT, headers={"Retry-After": "1"})
    message = database_failure(exc)
    if message is not None:
        logger.error("database failure: %s %s: %s", method, path, _describe(exc))
        return error_response(
            503, message, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
        )
    logger.error("unhandled error: %s %s", method, path, exc_info=exc)
    return error_response(500, "Internal server error")


def _sqlstate(exc: BaseException) -> object:
    """The SQLSTATE of a driver error, raw (asyncpg, on the task path) or wrapped (SQLAlchemy)."""
    if isinstance(exc, asyncpg.PostgresError):
        return exc.sqlstate
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def _describe(exc: BaseException) -> str:
    """The exception's class and SQLSTATE: enough to diagnose, with no SQL or parameters."""
    sqlstate = _sqlstate(exc)
    name = type(exc).__name__
    return f"{name} (SQLSTATE {sqlstate})" if sqlstate else name


async def _unhandled(request: Request, exc: Exception) -> Response:
    return response_for_unexpected(exc, request.method, request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _unhandled)
    app.add_exception_handler(PoolTimeoutError, _unhandled)
    app.add_exception_handler(OSError, _unhandled)
    app.add_exception_handler(Exception, _unhandled)
