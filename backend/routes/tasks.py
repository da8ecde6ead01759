"""The task endpoints under `/api/{user_id}/tasks`, declared on the app's router by
`add_routes` (at the end).

Each endpoint is a straight line: the dependencies have authenticated the caller, checked the
path's `{user_id}` and opened an owner-scoped store; FastAPI has validated the inputs; what the
operation does is in `task_handlers.py`. Beside each endpoint, its lean handler (`lean.py`)
serves the well-formed requests without FastAPI's dependency solver, with the same defaults and
bounds (declared once, here) and the same answer; it leaves everything else to FastAPI.
"""

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from annotated_types import Interval
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import ValidationError

from backend.dependencies.tasks import (
    IdempotencyKeyHeader,
    IdempotencyKeysDep,
    OwnedTasksDep,
    is_idempotency_key,
    is_json_content_type,
    open_owned_tasks,
    owner_idempotency_keys,
    require_json_body,
)
from backend.etags import ENTITY_TAG_LIST, MAX_ENTITY_TAGS
from backend.middleware.header_limits import MAX_HEADER_LINE_BYTES
from backend.routes import openapi_docs as docs
from backend.routes import task_handlers as handlers
from backend.routes.lean import (
    LeanRoute,
    json_body,
    lean,
    parsed,
    path_owner,
    read_body,
    share_paths,
    whole_number,
)
from backend.schemas import (
    CANONICAL_DIGITS,
    INSTANT,
    MAX_TAGS,
    TAG_NAME,
    Instant,
    Priority,
    TagName,
    TaskCompletion,
    TaskCreate,
    TaskPatch,
    TaskReplace,
    TaskResponse,
    TaskSort,
)
from backend.task_store import NO_PLANNING_FILTERS, OwnedTasks, PlanningFilters
from backend.url_paths import request_path, request_url

COLLECTION = "/api/{user_id}/tasks"
TASK = COLLECTION + "/{task_id}"
MAX_TASK_ID = 2**31 - 1
DEFAULT_SORT = TaskSort.CREATED_AT_DESC
DEFAULT_LIMIT = 100
MAX_LIST_LIMIT = 500
MAX_LIST_OFFSET = 2**31 - 1
TaskId = Annotated[
    int, Interval(ge=1, le=MAX_TASK_ID), CANONICAL_DIGITS, Path(description="The task's id.")
]
# Documented here, checked by `etags` (400) on both ways in: the grammar and the size limit.
_ENTITY_TAG_LIST_SCHEMA = {
    "pattern": ENTITY_TAG_LIST,
    "maxLength": MAX_HEADER_LINE_BYTES - len("if-none-match"),
}
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Write only if the task's current `ETag` is one of these (or `*`); "
        f"otherwise 412. Without it, the last write wins. At most {MAX_ENTITY_TAGS} tags.",
        openapi_examples={
            "etag": {"summary": "The ETag the client read", "value": '"42.3"'},
            "any": {"summary": "Any version, if the task exists", "value": "*"},
        },
        json_schema_extra=_ENTITY_TAG_LIST_SCHEMA,
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description="304 with no body when the task's current `ETag` is one of these. "
        f"At most {MAX_ENTITY_TAGS} tags.",
        openapi_examples={"etag": {"value": '"42.3"'}},
        json_schema_extra=_ENTITY_TAG_LIST_SCHEMA,
    ),
]
_JSON_BODY = [Depends(require_json_body)]
_Body = TypeVar("_Body", TaskReplace, TaskPatch)


async def _owner_tasks(request: Request) -> OwnedTasks | None:
    """The caller's store when the path is their own, else None (FastAPI answers the 403)."""
    owner = path_owner(request)
    return None if owner is None else await open_owned_tasks(request.app.state, owner)


def _task_id(request: Request) -> int | None:
    return whole_number(request.path_params["task_id"], 1, MAX_TASK_ID)


_SORTS = frozenset(sort.value for sort in TaskSort)
_PRIORITIES = frozenset(priority.value for priority in Priority)
_BOOLEANS = {"true": True, "false": False}
_PLANNING_BOOLEANS = frozenset({"overdue", "has_due"})
_INSTANTS = frozenset({"due_before", "due_after"})


def _instant(text: str) -> object:
    """`text` as `Instant` reads it, or None for FastAPI to refuse."""
    try:
        return INSTANT.validate_python(text)
    except ValidationError:
        return None


def _tag(text: str) -> str | None:
    """`text` as `TagName` reads it, or None for FastAPI to refuse."""
    try:
        return TAG_NAME.validate_python(text)
    except ValidationError:
        return None


def _list_query(request: Request) -> dict[str, Any] | None:
    """`completed`, `sort`, `limit`, `offset` and the planning filters, each at most once (but
    `priority` and `tag`, which may repeat) and canonical; None for any other parameter (a
    search included) or form."""
    query: dict[str, Any] = {
        "completed": None,
        "sort": DEFAULT_SORT.value,
        "limit": DEFAULT_LIMIT,
        "offset": 0,
    }
    planning: dict[str, Any] | None = None
    seen: set[str] = set()
    for name, raw in request.query_params.multi_items():
        if name == "priority":
            if raw not in _PRIORITIES:
                return None
            planning = planning or {}
            planning.setdefault("priorities", set()).add(raw)
            continue
        if name == "tag":
            tag = _tag(raw)
            planning = planning or {}
            tags = planning.setdefault("tags", [])
            tags.append(tag)
            if tag is None or len(tags) > MAX_TAGS:
                return None
            continue
        if name in seen:
            return None
        seen.add(name)
        value: object
        if name in _PLANNING_BOOLEANS or name in _INSTANTS:
            value = _BOOLEANS.get(raw) if name in _PLANNING_BOOLEANS else _instant(raw)
            if value is None:
                return None
            planning = planning or {}
            planning[name] = value
            continue
        if name == "limit":
            value = whole_number(raw, 1, MAX_LIST_LIMIT)
        elif name == "offset":
            value = whole_number(raw, 0, MAX_LIST_OFFSET)
        elif name == "sort":
            value = raw if raw in _SORTS else None
        elif name == "completed":
            value = _BOOLEANS.get(raw)
        else:
            return None
        if value is None:
            return None
        query[name] = value
    if planning is None:
        query["planning"] = NO_PLANNING_FILTERS
    else:
        priorities = frozenset(planning.pop("priorities", ()))
        tags = frozenset(planning.pop("tags", ()))
        query["planning"] = PlanningFilters(priorities=priorities, tags=tags, **planning)
    return query


async def _lean_list_tasks(request: Request) -> Response | None:
    query = _list_query(request)
    if query is None:
        return None
    tasks = await _owner_tasks(request)
    if tasks is None:
        return None
    return await handlers.list_page(tasks, request_url(request), search=None, **query)


@lean(_lean_list_tasks)
async def list_tasks(
    request: Request,
    tasks: OwnedTasksDep,
    completed: Annotated[
        bool | None, Query(description="Only completed, or only open tasks.")
    ] = None,
    search: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[^\x00]*$",
            description="Case-insensitive substring of title or description; matched literally.",
        ),
    ] = None,
    sort: Annotated[
        TaskSort,
        Query(description="Sort field, `-` for descending; ties are broken by id."),
    ] = DEFAULT_SORT,
    limit: Annotated[
        int,
        Interval(ge=1, le=MAX_LIST_LIMIT),
        CANONICAL_DIGITS,
        Query(description=f"Page size, 1-{MAX_LIST_LIMIT}."),
    ] = DEFAULT_LIMIT,
    offset: Annotated[
        int,
        Interval(ge=0, le=MAX_LIST_OFFSET),
        CANONICAL_DIGITS,
        Query(description="Tasks to skip before the page."),
    ] = 0,
    priority: Annotated[
        list[Priority] | None,
        Query(description="Only tasks of this priority; repeat it for any of several."),
    ] = None,
    due_before: Annotated[
        Instant | None,
        Query(description="Only tasks due before this instant (exclusive; RFC 3339, offset)."),
    ] = None,
    due_after: Annotated[
        Instant | None,
        Query(description="Only tasks due at or after this instant (RFC 3339, offset)."),
    ] = None,
    overdue: Annotated[
        bool | None,
        Query(
            description="`true`: open tasks due before now; `false`: every other task "
            "(completed, due later, or with no due date)."
        ),
    ] = None,
    has_due: Annotated[
        bool | None, Query(description="Only tasks with (`true`) or without a due date.")
    ] = None,
    tag: Annotated[
        list[TagName] | None,
        Query(
            max_length=MAX_TAGS,
            description="Only tasks carrying this tag (case-insensitive); repeat it for tasks "
            f"carrying all of several (at most {MAX_TAGS}).",
        ),
    ] = None,
) -> Response:
    """One page of the caller's tasks; `X-Total-Count` and `Link` describe the whole list."""
    planning = PlanningFilters(
        priorities=frozenset(priority or ()),
        due_before=due_before,
        due_after=due_after,
        overdue=overdue,
        has_due=has_due,
        tags=frozenset(tag or ()),
    )
    return await handlers.list_page(
        tasks,
        request_url(request),
        completed=completed,
        search=search,
        sort=sort.value,
        limit=limit,
        offset=offset,
        planning=planning,
    )


async def _lean_create_task(request: Request) -> Response | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not is_idempotency_key(key):
        return None
    body = await json_body(request, TaskCreate)
    if body is None:
        return None
    tasks = await _owner_tasks(request)
    if tasks is None:
        return None
    if key is None:
        return await handlers.create(tasks, request_path(request), body)
    keys = owner_idempotency_keys(request.app.state, tasks.owner_id)
    return await handlers.create_once(tasks, keys, key, request_path(request), body)


@lean(_lean_create_task)
async def create_task(
    request: Request,
    tasks: OwnedTasksDep,
    keys: IdempotencyKeysDep,
    body: TaskCreate,
    idempotency_key: IdempotencyKeyHeader,
) -> Response:
    """Create a task; `Location` gives its URL. With `Idempotency-Key`, retries replay."""
    if idempotency_key is None:
        return await handlers.create(tasks, request_path(request), body)
    return await handlers.create_once(tasks, keys, idempotency_key, request_path(request), body)


async def _lean_get_task(request: Request) -> Response | None:
    task_id = _task_id(request)
    tasks = None if task_id is None else await _owner_tasks(request)
    if task_id is None or tasks is None:
        return None
    return await handlers.get(tasks, task_id, request.headers.get("if-none-match"))


@lean(_lean_get_task)
async def get_task(
    tasks: OwnedTasksDep, task_id: TaskId, if_none_match: IfNoneMatch = None
) -> Response:
    """Get one of the caller's tasks; 304 when the client's copy (`If-None-Match`) is current."""
    return await handlers.get(tasks, task_id, if_none_match)


async def _lean_write(
    request: Request,
    model: type[_Body],
    write: Callable[[OwnedTasks, int, _Body, str | None], Awaitable[Response]],
) -> Response | None:
    """A write of the body to one task: `write(tasks, task_id, body, If-Match)`."""
    task_id = _task_id(request)
    body = None if task_id is None else await json_body(request, model)
    tasks = None if body is None else await _owner_tasks(request)
    if task_id is None or body is None or tasks is None:
        return None
    return await write(tasks, task_id, body, request.headers.get("if-match"))


async def _lean_replace_task(request: Request) -> Response | None:
    return await _lean_write(request, TaskReplace, handlers.replace)


@lean(_lean_replace_task)
async def replace_task(
    tasks: OwnedTasksDep, task_id: TaskId, body: TaskReplace, if_match: IfMatch = None
) -> Response:
    """Replace the task's fields; omitted ones take their defaults."""
    return await handlers.replace(tasks, task_id, body, if_match)


async def _lean_update_task(request: Request) -> Response | None:
    return await _lean_write(request, TaskPatch, handlers.update)


@lean(_lean_update_task)
async def update_task(
    tasks: OwnedTasksDep, task_id: TaskId, body: TaskPatch, if_match: IfMatch = None
) -> Response:
    """Change only the fields present in the body; `null` clears `description` or `due_at`."""
    return await handlers.update(tasks, task_id, body, if_match)


async def _lean_delete_task(request: Request) -> Response | None:
    task_id = _task_id(request)
    tasks = None if task_id is None else await _owner_tasks(request)
    if task_id is None or tasks is None:
        return None
    return await handlers.delete(tasks, task_id, request.headers.get("if-match"))


@lean(_lean_delete_task)
async def delete_task(tasks: OwnedTasksDep, task_id: TaskId, if_match: IfMatch = None) -> Response:
    """Delete one of the caller's tasks."""
    return await handlers.delete(tasks, task_id, if_match)


async def _lean_toggle_task(request: Request) -> Response | None:
    task_id = _task_id(request)
    if task_id is None or not is_json_content_type(request.headers.get("content-type")):
        return None
    raw = await read_body(request)
    completion = parsed(raw, TaskCompletion) if raw else None
    if raw is None or (raw and completion is None):
        return None
    tasks = await _owner_tasks(request)
    if tasks is None:
        return None
    if_match = request.headers.get("if-match")
    if completion is None:
        return await handlers.toggle(tasks, task_id, if_match)
    return await handlers.set_completion(tasks, task_id, completion.completed, if_match)


@lean(_lean_toggle_task)
async def toggle_task(
    tasks: OwnedTasksDep,
    task_id: TaskId,
    body: TaskCompletion | None = None,
    if_match: IfMatch = None,
) -> Response:
    """With no body, flip `completed` atomically; with `{"completed": ...}`, set it.

    Setting is idempotent, so a retried request cannot flip the task back.
    """
    if body is None:
        return await handlers.toggle(tasks, task_id, if_match)
    return await handlers.set_completion(tasks, task_id, body.completed, if_match)


def add_routes(router: APIRouter) -> None:
    """Declare the task endpoints on `router`, the app's own: FastAPI 0.165 matches the routes
    of an included router a second time, in a layer of its own (about 12 µs a request,
    docs/performance.md), and `app.dependency_overrides` reach the app's own routes."""
    add = functools.partial(
        router.add_api_route,
        tags=["tasks"],
        route_class_override=LeanRoute,
        # curl users often omit Content-Type: read such bodies as JSON rather than refuse them.
        strict_content_type=False,
    )
    add(
        COLLECTION,
        list_tasks,
        methods=["GET"],
        operation_id="list_tasks",
        response_model=list[TaskResponse],
        responses=docs.LIST_RESPONSES,
        summary="List the caller's tasks, a page at a time",
    )
    add(
        COLLECTION,
        create_task,
        methods=["POST"],
        operation_id="create_task",
        status_code=201,
        response_model=TaskResponse,
        responses=docs.CREATE_RESPONSES,
        dependencies=_JSON_BODY,
        summary="Create a task",
    )
    add(
        TASK,
        get_task,
        methods=["GET"],
        operation_id="get_task",
        response_model=TaskResponse,
        responses=docs.GET_RESPONSES,
        summary="Get one task",
    )
    add(
        TASK,
        replace_task,
        methods=["PUT"],
        operation_id="replace_task",
        response_model=TaskResponse,
        responses=docs.WRITE_RESPONSES,
        dependencies=_JSON_BODY,
        summary="Replace a task",
    )
    add(
        TASK,
        update_task,
        methods=["PATCH"],
        operation_id="update_task",
        response_model=TaskResponse,
        responses=docs.WRITE_RESPONSES,
        dependencies=_JSON_BODY,
        summary="Change some fields of a task",
    )
    add(
        TASK,
        delete_task,
        methods=["DELETE"],
        operation_id="delete_task",
        status_code=204,
        response_class=Response,
        responses=docs.DELETE_RESPONSES,
        summary="Delete a task",
    )
    add(
        TASK + "/complete",
        toggle_task,
        methods=["PATCH"],
        operation_id="toggle_task",
        response_model=TaskResponse,
        responses=docs.WRITE_RESPONSES,
        dependencies=_JSON_BODY,
        summary="Toggle, or set, a task's completion",
    )
    share_paths(router.routes)
