"""Error responses: one body shape, `{"detail": {"error": ..., ...}}`, decided here for the app.

422 keeps FastAPI's field-level list; unparseable JSON is 400; an unreachable database is 503
with `Retry-After`; anything unexpected is a bare 500 whose details go to the log only.
"""

import json
import logging
import re
from functools import cache
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path

logger = logging.getLogger("backend.errors")

DATABASE_RETRY_AFTER_SECONDS = 2


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
    path = request.scope["path"]
    methods = {
        method.upper()
        for pattern, operations in _path_operations(request.app)
        if pattern.match(path)
        for method in operations
    }
    return ", ".join(sorted(methods))


@cache
def _path_operations(app: FastAPI) -> list[tuple[re.Pattern[str], list[str]]]:
    """The OpenAPI paths as regular expressions, each with the methods it documents."""
    return [
        (compile_path(template)[0], list(operations))
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
    # refuses (integers over 64 bits, lone surrogates). This path is not a hot one.
    body = json.dumps({"detail": jsonable_encoder(errors)}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")


def _is_connection_failure(exc: Exception) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | OSError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def _unhandled(request: Request, exc: Exception) -> Response:
    if _is_connection_failure(exc):
        logger.error("database unavailable: %s %s: %s", request.method, request.url.path, type(exc))
        return error_response(
            503,
            "Database unavailable, try again shortly",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    logger.exception("unhandled error: %s %s", request.method, request.url.path)
    return error_response(500, "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _unhandled)
    app.add_exception_handler(PoolTimeoutError, _unhandled)
    app.add_exception_handler(OSError, _unhandled)
    app.add_exception_handler(Exception, _unhandled)
