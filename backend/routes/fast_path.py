"""The fast path: well-formed task requests served without FastAPI's router and dependency solver.

Those two cost more per request than the query itself (bench/README.md), so the common requests
skip them. This is pure ASGI and the innermost middleware: the body limit, authentication, rate
limits, CORS, security headers and telemetry have already run, as for any request.

It answers only what it can decode with certainty: the caller's own path, a plain task id,
query values in their canonical form, a JSON body the route's own pydantic model accepts, at
most one of each header it reads. The answer then comes from `task_handlers`, as the FastAPI
route's does. Everything else goes on to FastAPI untouched, with any body already read replayed:
every 4xx, an `Idempotency-Key`, a PATCH of fields, a search, a HEAD. So error bodies and the
OpenAPI contract keep a single source.
"""

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.datastructures import URL
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.dependencies.tasks import is_json_content_type, open_owned_tasks
from backend.routes import task_handlers as handlers
from backend.routes import tasks as tasks_routes
from backend.routes.tasks import MAX_LIST_LIMIT, MAX_LIST_OFFSET, MAX_TASK_ID
from backend.schemas import TaskCreate, TaskReplace, TaskSort
from backend.task_store import OwnedTasks
from backend.tokens import AuthenticatedUser

_Model = TypeVar("_Model", bound=BaseModel)

# (path segments after the user id, method) -> the FastAPI route's operation id.
_OPERATIONS = {
    (1, "GET"): "list_tasks",
    (1, "POST"): "create_task",
    (2, "GET"): "get_task",
    (2, "PUT"): "replace_task",
    (2, "DELETE"): "delete_task",
    (3, "PATCH"): "toggle_task",
}
# The headers the operations read; a request that repeats one of them goes to FastAPI.
_READ_HEADERS = frozenset({b"content-type", b"if-match", b"if-none-match", b"idempotency-key"})
# Each operation's FastAPI route: telemetry reads its path template, as after FastAPI's routing.
_ROUTES = {
    route.operation_id: route
    for route in tasks_routes.router.routes
    if isinstance(route, APIRoute) and route.operation_id in _OPERATIONS.values()
}
_SORTS = frozenset(sort.value for sort in TaskSort)
_BOOLEANS = {"true": True, "false": False}
_DEFAULT_LIST_QUERY: dict[str, Any] = {
    "completed": None,
    "sort": TaskSort.CREATED_AT_DESC.value,
    "limit": 100,
    "offset": 0,
}


class TaskFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            target = _target(scope)
            if target is not None:
                await self._serve(scope, receive, send, *target)
                return
        await self.app(scope, receive, send)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        operation: str,
        owner: AuthenticatedUser,
        task_id: int | None,
    ) -> None:
        headers = _headers(scope)
        if headers is None:
            await self.app(scope, receive, send)
            return
        consumed: list[Message] = []
        try:
            operation_call = await _decoded(scope, receive, consumed, headers, operation, task_id)
        except _BodyError as failure:
            await self.app(scope, _replay(consumed, receive, failure.error), send)
            return
        if operation_call is None:
            await self.app(scope, _replay(consumed, receive, None), send)
            return
        tasks = await open_owned_tasks(scope["app"].state, owner)
        response = await operation_call(tasks)
        scope["route"] = _ROUTES[operation]
        await response(scope, receive, send)


_OperationCall = Callable[[OwnedTasks], Awaitable[Response]]


async def _decoded(
    scope: Scope,
    receive: Receive,
    consumed: list[Message],
    headers: dict[bytes, str],
    operation: str,
    task_id: int | None,
) -> _OperationCall | None:
    """The operation with its inputs decoded, waiting only for the owner's store; None when
    FastAPI must decide."""
    if_match = headers.get(b"if-match")
    if operation == "list_tasks":
        query = _list_query(scope["query_string"])
        if query is None:
            return None
        url = URL(scope=scope)
        return lambda tasks: handlers.list_page(tasks, url, search=None, **query)
    if task_id is not None and operation == "get_task":
        if_none_match = headers.get(b"if-none-match")
        return lambda tasks: handlers.get(tasks, task_id, if_none_match)
    if task_id is not None and operation == "delete_task":
        return lambda tasks: handlers.delete(tasks, task_id, if_match)
    if not is_json_content_type(headers.get(b"content-type")):
        return None
    if operation == "create_task" and b"idempotency-key" in headers:
        return None
    body = await _read_body(receive, consumed)
    if body is None:
        return None
    if operation == "create_task":
        create = _validated(body, TaskCreate)
        path = URL(scope=scope).path
        return None if create is None else lambda tasks: handlers.create(tasks, path, create)
    if task_id is None:
        return None
    if operation == "toggle_task":
        return None if body else lambda tasks: handlers.toggle(tasks, task_id, if_match)
    replace = _validated(body, TaskReplace)
    if replace is None:
        return None
    return lambda tasks: handlers.replace(tasks, task_id, replace, if_match)


class _BodyError(Exception):
    """Reading the body failed (too large, say): FastAPI meets the same error on its read."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _target(scope: Scope) -> tuple[str, AuthenticatedUser, int | None] | None:
    """(operation id, caller, task id) of a request to the caller's own tasks, or None."""
    parts = scope["path"].split("/")
    # "", "api", user id, "tasks"[, task id[, "complete"]]
    if len(parts) < 4 or parts[1] != "api" or parts[3] != "tasks":
        return None
    depth = len(parts) - 3
    operation = _OPERATIONS.get((depth, scope["method"]))
    if operation is None or (depth == 3 and parts[5] != "complete"):
        return None
    owner = scope.get("state", {}).get("user")
    if not isinstance(owner, AuthenticatedUser) or parts[2] != owner.id:
        return None
    if depth == 1:
        return operation, owner, None
    task_id = _whole_number(parts[4], 1, MAX_TASK_ID)
    return None if task_id is None else (operation, owner, task_id)


def _headers(scope: Scope) -> dict[bytes, str] | None:
    """The headers the operations read, or None if one of them is repeated."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _READ_HEADERS:
            if name in found:
                return None
            found[name] = value.decode("latin-1")
    return found


def _whole_number(text: str, low: int, high: int) -> int | None:
    """`text` as an int when written canonically (ASCII digits, no sign or leading zero)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    if text.startswith("0") and text != "0":
        return None
    value = int(text)
    return value if low <= value <= high else None


def _list_query(query_string: bytes) -> dict[str, Any] | None:
    """`completed`, `sort`, `limit` and `offset` when each is at most once and canonical."""
    query = dict(_DEFAULT_LIST_QUERY)
    if not query_string:
        return query
    seen: set[str] = set()
    for name, raw in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return None
        seen.add(name)
        value: object
        if name == "limit":
            value = _whole_number(raw, 1, MAX_LIST_LIMIT)
        elif name == "offset":
            value = _whole_number(raw, 0, MAX_LIST_OFFSET)
        elif name == "sort":
            value = raw if raw in _SORTS else None
        elif name == "completed":
            value = _BOOLEANS.get(raw)
        else:
            return None
        if value is None:
            return None
        query[name] = value
    return query


async def _read_body(receive: Receive, consumed: list[Message]) -> bytes | None:
    """The whole body, or None if the client went away; every message is kept for replay."""
    chunks: list[bytes] = []
    while True:
        try:
            message = await receive()
        except Exception as error:
            raise _BodyError(error) from error
        consumed.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _validated(body: bytes, model: type[_Model]) -> _Model | None:
    """The body as `model`, validated as FastAPI does (JSON to Python, then the model)."""
    try:
        return model.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None


def _replay(consumed: list[Message], receive: Receive, error: Exception | None) -> Receive:
    """`receive` for FastAPI: the messages already read, then the read's error, then the rest."""
    pending = deque(consumed)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        if error is not None:
            raise error
        return await receive()

    return replay
