"""The task endpoints under `/api/{user_id}/tasks`.

Handlers are straight lines: the dependencies have already authenticated the caller, checked
the path's `{user_id}`, and opened an owner-scoped store; FastAPI has validated the inputs.
What each operation answers is in `task_handlers.py`, shared with the fast path
(`fast_path.py`), which serves the common well-formed requests without this layer and hands
everything else here. Writes honour `If-Match` in the same statement that writes.
"""

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from backend.dependencies.tasks import (
    IdempotencyKeyHeader,
    IdempotencyKeysDep,
    OwnedTasksDep,
    require_json_body,
)
from backend.errors import error_response
from backend.etags import if_match_versions, task_etag
from backend.idempotency import IdempotencyKeys, fingerprint
from backend.routes import openapi_docs as docs
from backend.routes import task_handlers as handlers
from backend.schemas import (
    TaskCompletion,
    TaskCreate,
    TaskPatch,
    TaskReplace,
    TaskResponse,
    TaskSort,
)
from backend.task_store import OwnedTasks

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"])

MAX_TASK_ID = 2**31 - 1
MAX_LIST_LIMIT = 500
MAX_LIST_OFFSET = 2**31 - 1
TaskId = Annotated[int, Path(ge=1, le=MAX_TASK_ID, description="The task's id.")]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Write only if the task's current `ETag` is one of these (or `*`); "
        "otherwise 412. Without it, the last write wins.",
        openapi_examples={"etag": {"value": '"42.3"'}},
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description="304 with no body when the task's current `ETag` is one of these.",
        openapi_examples={"etag": {"value": '"42.3"'}},
    ),
]
_JSON_BODY = [Depends(require_json_body)]


@router.get(
    "",
    operation_id="list_tasks",
    response_model=list[TaskResponse],
    responses=docs.LIST_RESPONSES,
    summary="List the caller's tasks, a page at a time",
)
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
    ] = TaskSort.CREATED_AT_DESC,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT, description="Page size, 1-500.")] = 100,
    offset: Annotated[
        int, Query(ge=0, le=MAX_LIST_OFFSET, description="Tasks to skip before the page.")
    ] = 0,
) -> Response:
    """One page of the caller's tasks; `X-Total-Count` and `Link` describe the whole list."""
    return await handlers.list_page(
        tasks,
        request.url,
        completed=completed,
        search=search,
        sort=sort.value,
        limit=limit,
        offset=offset,
    )


@router.post(
    "",
    operation_id="create_task",
    status_code=201,
    response_model=TaskResponse,
    responses=docs.CREATE_RESPONSES,
    dependencies=_JSON_BODY,
    summary="Create a task",
)
async def create_task(
    request: Request,
    tasks: OwnedTasksDep,
    keys: IdempotencyKeysDep,
    body: TaskCreate,
    idempotency_key: IdempotencyKeyHeader,
) -> Response:
    """Create a task; `Location` gives its URL. With `Idempotency-Key`, retries replay."""
    if idempotency_key is None:
        return await handlers.create(tasks, request.url.path, body)
    # The claim, the task and the stored response commit together, or not at all.
    async with tasks.transaction() as in_transaction:
        return await _create_once(
            request, in_transaction, keys.within(in_transaction.runner), body, idempotency_key
        )


async def _create_once(
    request: Request,
    tasks: OwnedTasks,
    keys: IdempotencyKeys,
    body: TaskCreate,
    idempotency_key: str,
) -> Response:
    """Claim the key and create, or replay (or refuse) what the key's first request answered."""
    request_fingerprint = fingerprint(body.model_dump(mode="json"))
    if await keys.claim(idempotency_key, request_fingerprint):
        response = await handlers.create(tasks, request.url.path, body)
        await keys.record(
            idempotency_key, response.status_code, response.body, response.headers["Location"]
        )
        return response
    stored = await keys.stored(idempotency_key)
    if stored is not None and stored.fingerprint != request_fingerprint:
        return error_response(
            422,
            "This Idempotency-Key was already used with a different request body",
            idempotency_key=idempotency_key,
        )
    if stored is None or stored.status_code is None or stored.body is None:
        return error_response(
            409,
            "A request with this Idempotency-Key is still being processed: retry shortly",
            headers={"Retry-After": "1"},
        )
    headers = {"ETag": task_etag(orjson.loads(stored.body)), "Idempotent-Replayed": "true"}
    if stored.location is not None:
        headers["Location"] = stored.location
    return Response(stored.body, stored.status_code, headers, media_type="application/json")


@router.get(
    "/{task_id}",
    operation_id="get_task",
    response_model=TaskResponse,
    responses=docs.GET_RESPONSES,
    summary="Get one task",
)
async def get_task(
    tasks: OwnedTasksDep, task_id: TaskId, if_none_match: IfNoneMatch = None
) -> Response:
    """Get one of the caller's tasks; 304 when the client's copy (`If-None-Match`) is current."""
    return await handlers.get(tasks, task_id, if_none_match)


@router.put(
    "/{task_id}",
    operation_id="replace_task",
    response_model=TaskResponse,
    responses=docs.WRITE_RESPONSES,
    dependencies=_JSON_BODY,
    summary="Replace a task",
)
async def replace_task(
    tasks: OwnedTasksDep, task_id: TaskId, body: TaskReplace, if_match: IfMatch = None
) -> Response:
    """Replace title, description and completed; omitted fields take their defaults."""
    return await handlers.replace(tasks, task_id, body, if_match)


@router.patch(
    "/{task_id}",
    operation_id="update_task",
    response_model=TaskResponse,
    responses=docs.WRITE_RESPONSES,
    dependencies=_JSON_BODY,
    summary="Change some fields of a task",
)
async def update_task(
    tasks: OwnedTasksDep, task_id: TaskId, body: TaskPatch, if_match: IfMatch = None
) -> Response:
    """Change only the fields present in the body; `"description": null` clears it."""
    versions = if_match_versions(if_match, task_id)
    row = await tasks.update(task_id, versions, **body.model_dump(exclude_unset=True))
    return await handlers.after_write(tasks, task_id, versions, row)


@router.delete(
    "/{task_id}",
    operation_id="delete_task",
    status_code=204,
    response_class=Response,
    responses=docs.DELETE_RESPONSES,
    summary="Delete a task",
)
async def delete_task(tasks: OwnedTasksDep, task_id: TaskId, if_match: IfMatch = None) -> Response:
    """Delete one of the caller's tasks."""
    return await handlers.delete(tasks, task_id, if_match)


@router.patch(
    "/{task_id}/complete",
    operation_id="toggle_task",
    response_model=TaskResponse,
    responses=docs.WRITE_RESPONSES,
    dependencies=_JSON_BODY,
    summary="Toggle, or set, a task's completion",
)
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
    versions = if_match_versions(if_match, task_id)
    row = await tasks.update(task_id, versions, completed=body.completed)
    return await handlers.after_write(tasks, task_id, versions, row)
