"""What each task operation does, once its inputs are decoded and valid: all of them, here.

The endpoints (`tasks.py`) reach these through FastAPI's full handling or through their lean
handlers; both end here, so both answer with the same bytes. Responses are serialised once,
from the rows the single SQL statement returned; single-task responses carry a strong `ETag`.
Writes honour `If-Match` in the same statement that writes. A write the stored task must
decide (completing a recurring task reschedules it; a recurrence needs a due date) is planned
from the task as read and written at the version read (`_write_as_planned`).
"""

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from starlette.datastructures import URL
from starlette.responses import Response

from backend.errors import error_response, json_response
from backend.etags import if_match_versions, none_match, task_etag
from backend.idempotency import IdempotencyKeys, fingerprint
from backend.pagination import link_header
from backend.recurrence import next_occurrence
from backend.schemas import (
    RECURRENCE_NEEDS_DUE_AT,
    TagRename,
    TaskCreate,
    TaskPatch,
    TaskReplace,
    TaskWrite,
)
from backend.sql_runner import StatementRunner
from backend.task_store import OwnedTasks, PlanningFilters, TaskRow

# What a create or a replace writes: every client field; the task's own columns are all of them
# but its tags.
_CLIENT_FIELDS = tuple(TaskWrite.model_fields)
_TASK_FIELDS = tuple(name for name in _CLIENT_FIELDS if name != "tags")
# How often a planned write is read and tried again while other writes keep moving the task on.
_PLANNED_ATTEMPTS = 3


def _fields(body: BaseModel, names: Iterable[str]) -> dict[str, Any]:
    """The named fields of a validated body, as `model_dump()` gives them for these flat
    models of plain values, at a fraction of its cost (9,000 instructions a write)."""
    return {name: getattr(body, name) for name in names}


def task_json(row: TaskRow, status_code: int = 200, **headers: str) -> Response:
    return json_response(dict(row), status_code, {"ETag": task_etag(row), **headers})


def not_found(task_id: int) -> Response:
    return error_response(404, "Task not found", task_id=task_id)


def _stale(current: TaskRow) -> Response:
    """412, with the current ETag so that the client can refetch or retry."""
    return error_response(
        412,
        "The task has changed since you read it: fetch it again, then retry",
        headers={"ETag": task_etag(current)},
        task_id=current["id"],
    )


async def write_failed(tasks: OwnedTasks, task_id: int) -> Response:
    """Why a conditional write matched no row: the task is gone (404) or has moved on (412).
    Only on this failure path is the task read again."""
    current = await tasks.get(task_id)
    return not_found(task_id) if current is None else _stale(current)


def _needs_due_at(recurrence: str) -> Response:
    """422 in FastAPI's shape, as the body's own validation would have answered."""
    error = {
        "type": "recurrence_needs_due_at",
        "loc": ["body", "recurrence"],
        "msg": RECURRENCE_NEEDS_DUE_AT + " (the task has none)",
        "input": recurrence,
    }
    return json_response({"detail": [error]}, 422)


async def list_page(
    tasks: OwnedTasks,
    url: URL,
    *,
    completed: bool | None,
    search: str | None,
    sort: str,
    limit: int,
    offset: int,
    planning: PlanningFilters,
) -> Response:
    """One page of tasks; `X-Total-Count` and `Link` (built on `url`, its path percent-encoded)
    describe the whole list."""
    page = await tasks.page(
        completed=completed,
        search=search,
        sort=sort,
        limit=limit,
        offset=offset,
        planning=planning,
    )
    headers = {
        "X-Total-Count": str(page.total),
        "Link": link_header(url, total=page.total, limit=limit, offset=offset),
    }
    return json_response(page.tasks, headers=headers)


async def create(tasks: OwnedTasks, collection_path: str, body: TaskCreate) -> Response:
    """201 with the new task; `Location` is its URL under `collection_path`, which comes
    percent-encoded (`url_paths.py`), so nothing after the write can fail to be sent."""
    collection = collection_path.rstrip("/")
    row = await tasks.create(**_fields(body, _CLIENT_FIELDS))
    return task_json(row, 201, Location=f"{collection}/{row['id']}")


async def create_once(
    tasks: OwnedTasks,
    keys: IdempotencyKeys,
    idempotency_key: str,
    collection_path: str,
    body: TaskCreate,
) -> Response:
    """`create` for the key's first request only; a retry gets the first answer again."""

    async def create_in(transaction: StatementRunner) -> Response:
        return await create(tasks.on(transaction), collection_path, body)

    request_fingerprint = fingerprint(body.model_dump(mode="json"))
    return await keys.once(idempotency_key, request_fingerprint, create_in)


async def get(tasks: OwnedTasks, task_id: int, if_none_match: str | None) -> Response:
    cached = none_match(if_none_match)
    row = await tasks.get(task_id)
    if row is None:
        return not_found(task_id)
    etag = task_etag(row)
    if cached is not None and ("*" in cached or etag in cached):
        return Response(status_code=304, headers={"ETag": etag})
    return task_json(row)


def _rescheduled(current: TaskRow, values: dict[str, Any]) -> dict[str, Any]:
    """`values`, unless they complete an open recurring task: then the task stays open and its
    due date moves to the rule's next occurrence (COUNT one lower). With none left, they
    complete it."""
    if values.get("completed") is not True or current["completed"]:
        return values
    due_at = values.get("due_at", current["due_at"])
    recurrence = values.get("recurrence", current["recurrence"])
    if due_at is None or recurrence is None:
        return values
    following = next_occurrence(recurrence, due_at)
    if following is None:
        return values
    next_due_at, next_recurrence = following
    return {**values, "completed": False, "due_at": next_due_at, "recurrence": next_recurrence}


async def _write_as_planned(
    tasks: OwnedTasks,
    task_id: int,
    versions: frozenset[int] | None,
    values: dict[str, Any],
    tags: list[str] | None,
    *,
    toggle: bool,
) -> Response:
    """A write that matched no row: 404 or 412 if that is why; otherwise one the stored task
    decides, planned from the task as read and written only if it is still at that version
    (a retried request therefore reschedules twice unless it carries `If-Match`)."""
    for _attempt in range(_PLANNED_ATTEMPTS):
        current = await tasks.get(task_id)
        if current is None:
            return not_found(task_id)
        if versions is not None and current["version"] not in versions:
            return _stale(current)
        planned = {**values, "completed": not current["completed"]} if toggle else dict(values)
        recurrence = planned.get("recurrence")
        if recurrence is not None and "due_at" not in planned and current["due_at"] is None:
            return _needs_due_at(recurrence)
        row = await tasks.update(
            task_id,
            frozenset({current["version"]}),
            _rescheduled(current, planned),
            tags=tags,
            guarded=False,
        )
        if row is not None:
            return task_json(row)
    return error_response(
        409,
        "The task kept changing during this write: retry",
        headers={"Retry-After": "1"},
        task_id=task_id,
    )


async def _write(
    tasks: OwnedTasks,
    task_id: int,
    if_match: str | None,
    values: dict[str, Any],
    tags: list[str] | None = None,
    *,
    toggle: bool = False,
) -> Response:
    """One statement when the write decides alone, else `_write_as_planned`."""
    versions = if_match_versions(if_match, task_id)
    if "due_at" in values and values["due_at"] is None:
        values["recurrence"] = None
    if toggle:
        row = await tasks.toggle(task_id, versions)
    else:
        row = await tasks.update(task_id, versions, values, tags=tags)
    if row is not None:
        return task_json(row)
    return await _write_as_planned(tasks, task_id, versions, values, tags, toggle=toggle)


async def replace(
    tasks: OwnedTasks, task_id: int, body: TaskReplace, if_match: str | None
) -> Response:
    """Every client field set: omitted ones take their defaults."""
    return await _write(tasks, task_id, if_match, _fields(body, _TASK_FIELDS), body.tags)


async def update(
    tasks: OwnedTasks, task_id: int, body: TaskPatch, if_match: str | None
) -> Response:
    """Only the fields present in the body change; `"description": null` clears it."""
    sent = body.model_fields_set
    tags = body.tags if "tags" in sent else None
    return await _write(tasks, task_id, if_match, _fields(body, sent - {"tags"}), tags)


async def set_completion(
    tasks: OwnedTasks, task_id: int, completed: bool, if_match: str | None
) -> Response:
    """Idempotent, so a retried request cannot flip the task back (but one that completes a
    recurring task reschedules it again)."""
    return await _write(tasks, task_id, if_match, {"completed": completed})


async def toggle(tasks: OwnedTasks, task_id: int, if_match: str | None) -> Response:
    """Flip `completed` atomically, inside the UPDATE (an open recurring task is rescheduled
    instead)."""
    return await _write(tasks, task_id, if_match, {}, toggle=True)


async def delete(tasks: OwnedTasks, task_id: int, if_match: str | None) -> Response:
    versions = if_match_versions(if_match, task_id)
    if await tasks.delete(task_id, versions):
        return Response(status_code=204)
    return await write_failed(tasks, task_id) if versions is not None else not_found(task_id)


async def list_tags(tasks: OwnedTasks) -> Response:
    return json_response(await tasks.tag_counts())


def _tag_not_found(name: str) -> Response:
    return error_response(404, "Tag not found", tag=name)


async def rename_tag(tasks: OwnedTasks, name: str, body: TagRename) -> Response:
    """Rename on every task; onto a tag the user has, merge the two."""
    renamed = await tasks.rename_tag(name, body.name)
    return _tag_not_found(name) if renamed is None else json_response(renamed)


async def delete_tag(tasks: OwnedTasks, name: str) -> Response:
    if await tasks.delete_tag(name):
        return Response(status_code=204)
    return _tag_not_found(name)
