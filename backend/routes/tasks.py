"""The six task endpoints under `/api/{user_id}/tasks`.

Handlers are straight lines: the dependencies have already authenticated the caller, checked
the path's `{user_id}`, and opened an owner-scoped store. Responses are serialised once, from
the rows the single SQL statement returned.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from backend.dependencies.tasks import OwnedTasksDep, require_json_body
from backend.errors import error_response, json_response
from backend.schemas import ErrorResponse, TaskCreate, TaskReplace, TaskResponse
from backend.task_store import TaskRow

router = APIRouter(prefix="/api/{user_id}/tasks", tags=["tasks"])

MAX_TASK_ID = 2**31 - 1
TaskId = Annotated[int, Path(ge=1, le=MAX_TASK_ID, description="The task's id.")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing, malformed, forged or expired token."},
    403: {"model": ErrorResponse, "description": "The path's `{user_id}` is not the caller."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such task among the caller's tasks."}
}
_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
    413: {"model": ErrorResponse, "description": "The body is over the size limit (1 MiB)."},
    415: {"model": ErrorResponse, "description": "The body is not sent as JSON."},
}
_JSON_BODY = [Depends(require_json_body)]


def _task_json(
    row: TaskRow, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return json_response(dict(row), status_code, headers)


def _not_found(task_id: int) -> Response:
    return error_response(404, "Task not found", task_id=task_id)


@router.get(
    "",
    response_model=list[TaskResponse],
    responses=_ERRORS,
    summary="List the caller's tasks, newest first",
)
async def list_tasks(
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
) -> Response:
    """List the caller's tasks, filtered by completion and by a search text."""
    rows = await tasks.list(completed=completed, search=search)
    return json_response([dict(row) for row in rows])


@router.post(
    "",
    status_code=201,
    response_model=TaskResponse,
    responses={**_ERRORS, **_BODY_ERRORS},
    dependencies=_JSON_BODY,
    summary="Create a task",
)
async def create_task(request: Request, tasks: OwnedTasksDep, body: TaskCreate) -> Response:
    """Create a task; the `Location` header gives its URL."""
    row = await tasks.create(
        title=body.title, description=body.description, completed=body.completed
    )
    location = f"{request.url.path.rstrip('/')}/{row['id']}"
    return _task_json(row, 201, {"Location": location})


@router.get(
    "/{task_id}",
    response_model=TaskResponse,
    responses={**_ERRORS, **_NOT_FOUND},
    summary="Get one task",
)
async def get_task(tasks: OwnedTasksDep, task_id: TaskId) -> Response:
    """Get one of the caller's tasks."""
    row = await tasks.get(task_id)
    return _not_found(task_id) if row is None else _task_json(row)


@router.put(
    "/{task_id}",
    response_model=TaskResponse,
    responses={**_ERRORS, **_NOT_FOUND, **_BODY_ERRORS},
    dependencies=_JSON_BODY,
    summary="Replace a task",
)
async def replace_task(tasks: OwnedTasksDep, task_id: TaskId, body: TaskReplace) -> Response:
    """Replace title, description and completed; omitted fields take their defaults."""
    row = await tasks.replace(
        task_id, title=body.title, description=body.description, completed=body.completed
    )
    return _not_found(task_id) if row is None else _task_json(row)


@router.delete(
    "/{task_id}",
    status_code=204,
    response_class=Response,
    responses={**_ERRORS, **_NOT_FOUND},
    summary="Delete a task",
)
async def delete_task(tasks: OwnedTasksDep, task_id: TaskId) -> Response:
    """Delete one of the caller's tasks."""
    deleted = await tasks.delete(task_id)
    return Response(status_code=204) if deleted else _not_found(task_id)


@router.patch(
    "/{task_id}/complete",
    response_model=TaskResponse,
    responses={**_ERRORS, **_NOT_FOUND},
    summary="Toggle a task's completion",
)
async def toggle_task(tasks: OwnedTasksDep, task_id: TaskId) -> Response:
    """Flip `completed` atomically in the database and return the task."""
    row = await tasks.toggle(task_id)
    return _not_found(task_id) if row is None else _task_json(row)
