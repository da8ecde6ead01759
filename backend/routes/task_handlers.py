"""What each task operation answers, once its inputs are decoded and valid.

Shared by the FastAPI routes (`tasks.py`), which decode and validate through FastAPI, and by
the fast path (`fast_path.py`), which decodes the common, well-formed requests itself: both
answer with the same bytes because both end here. Responses are serialised once, from the rows
the single SQL statement returned; single-task responses carry a strong `ETag`.
"""

from starlette.datastructures import URL
from starlette.responses import Response

from backend.errors import error_response, json_response
from backend.etags import if_match_versions, none_match, task_etag
from backend.pagination import link_header
from backend.schemas import TaskCreate, TaskReplace
from backend.task_store import OwnedTasks, TaskRow


def task_json(row: TaskRow, status_code: int = 200, **headers: str) -> Response:
    return json_response(dict(row), status_code, {"ETag": task_etag(row), **headers})


def not_found(task_id: int) -> Response:
    return error_response(404, "Task not found", task_id=task_id)


async def write_failed(tasks: OwnedTasks, task_id: int) -> Response:
    """Why a conditional write matched no row: the task is gone (404) or has moved on (412).

    Only on this failure path is the task read again; its current ETag lets the client
    refetch or retry.
    """
    current = await tasks.get(task_id)
    if current is None:
        return not_found(task_id)
    return error_response(
        412,
        "The task has changed since you read it: fetch it again, then retry",
        headers={"ETag": task_etag(current)},
        task_id=task_id,
    )


async def after_write(
    tasks: OwnedTasks, task_id: int, versions: frozenset[int] | None, row: TaskRow | None
) -> Response:
    if row is not None:
        return task_json(row)
    return await write_failed(tasks, task_id) if versions is not None else not_found(task_id)


async def list_page(
    tasks: OwnedTasks,
    url: URL,
    *,
    completed: bool | None,
    search: str | None,
    sort: str,
    limit: int,
    offset: int,
) -> Response:
    """One page of tasks; `X-Total-Count` and `Link` (built on `url`) describe the whole list."""
    page = await tasks.page(
        completed=completed, search=search, sort=sort, limit=limit, offset=offset
    )
    headers = {
        "X-Total-Count": str(page.total),
        "Link": link_header(url, total=page.total, limit=limit, offset=offset),
    }
    return json_response(page.tasks, headers=headers)


async def create(tasks: OwnedTasks, collection_path: str, body: TaskCreate) -> Response:
    """201 with the new task; `Location` is its URL under `collection_path`."""
    row = await tasks.create(
        title=body.title, description=body.description, completed=body.completed
    )
    location = f"{collection_path.rstrip('/')}/{row['id']}"
    return task_json(row, 201, Location=location)


async def get(tasks: OwnedTasks, task_id: int, if_none_match: str | None) -> Response:
    row = await tasks.get(task_id)
    if row is None:
        return not_found(task_id)
    etag = task_etag(row)
    if none_match(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return task_json(row)


async def replace(
    tasks: OwnedTasks, task_id: int, body: TaskReplace, if_match: str | None
) -> Response:
    versions = if_match_versions(if_match, task_id)
    row = await tasks.update(
        task_id,
        versions,
        title=body.title,
        description=body.description,
        completed=body.completed,
    )
    return await after_write(tasks, task_id, versions, row)


async def toggle(tasks: OwnedTasks, task_id: int, if_match: str | None) -> Response:
    versions = if_match_versions(if_match, task_id)
    return await after_write(tasks, task_id, versions, await tasks.toggle(task_id, versions))


async def delete(tasks: OwnedTasks, task_id: int, if_match: str | None) -> Response:
    versions = if_match_versions(if_match, task_id)
    if await tasks.delete(task_id, versions):
        return Response(status_code=204)
    return await write_failed(tasks, task_id) if versions is not None else not_found(task_id)
