"""Schemathesis hooks: make the fuzzer act on tasks the way the API's clients do.

`Idempotency-Key`: a key names one logical request: reusing it for a different body is a
client error (422), and reusing it for the same body replays the first response, even if that
task has since been deleted. Hypothesis draws short keys that repeat across unrelated requests,
which would report that correct behaviour as failures, so every well-formed key is replaced
with a fresh UUID. Replays are covered by tests/test_idempotency.py.

`DELETE` removes what it acts on: after the first phases, the positive cases of the next ones
name tasks that are gone (404) or a version long past (412), so none reaches the handler and
Schemathesis warns that the operation "mostly rejected generated data". A client deletes a task
it has, with the ETag it was given: a positive `DELETE` whose task is gone is pointed at one
that exists, and a well-formed `If-Match` other than `*` carries that task's ETag. Deleting a
missing task and stale tags are covered by tests/test_tasks_crud.py and tests/test_etags.py.

Malformed values (the negative cases, answered 400 or 422) are sent as generated.
"""

import os
import re
import uuid
from typing import Any

import httpx
import schemathesis
from schemathesis import GenerationMode

from backend.dependencies.tasks import IDEMPOTENCY_KEY_PATTERN
from backend.etags import ENTITY_TAG_LIST

_WELL_FORMED_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_WELL_FORMED_TAGS = re.compile(ENTITY_TAG_LIST)


def _existing_task(case: Any) -> tuple[int, str] | None:
    """The id and ETag of the case's task, or of the caller's newest task if it is gone."""
    base = f"{os.environ['FUZZ_BASE_URL']}/api/{os.environ['FUZZ_USER_ID']}/tasks"
    auth = {"Authorization": f"Bearer {os.environ['FUZZ_TOKEN']}"}
    own = httpx.get(f"{base}/{case.path_parameters['task_id']}", headers=auth)
    if own.status_code == 200:
        return own.json()["id"], own.headers["etag"]
    newest = httpx.get(base, params={"limit": 1}, headers=auth)
    for task in newest.json() if newest.status_code == 200 else []:
        current = httpx.get(f"{base}/{task['id']}", headers=auth)
        return task["id"], current.headers["etag"]
    return None


def _positive_delete(case: Any) -> bool:
    meta = case.meta
    return (
        case.method.upper() == "DELETE"
        and meta is not None
        and meta.generation.mode == GenerationMode.POSITIVE
        and case.path_parameters.get("user_id") == os.environ["FUZZ_USER_ID"]
        and str(case.path_parameters.get("task_id")).isdecimal()
    )


@schemathesis.hook
def before_call(_context: Any, case: Any, _kwargs: dict[str, Any]) -> None:
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and _WELL_FORMED_KEY.fullmatch(key):
        headers["Idempotency-Key"] = str(uuid.uuid4())
    if not _positive_delete(case):
        return
    task = _existing_task(case)
    if task is None:
        return
    # An int, or its digits (the coverage phase sends path values as strings).
    case.path_parameters["task_id"], etag = task
    tags = headers.get("If-Match")
    if isinstance(tags, str) and _WELL_FORMED_TAGS.fullmatch(tags) and tags.strip(" \t") != "*":
        headers["If-Match"] = etag
