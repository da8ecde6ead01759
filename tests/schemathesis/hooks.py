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

`recurrence`: an RRULE value has a grammar and rules across its parts (FREQ required, COUNT or
UNTIL, a due date beside it) that the schema states in words, not as a pattern, so nearly
every string Hypothesis draws is rightly refused (422). A client sends a rule it built: in a
positive case, a string that is not a valid rule is replaced by one, and a task with a rule gets
the due date it needs. Refused rules are covered by tests/test_recurrence.py.

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
from backend.recurrence import RecurrenceError, canonical_rule

_WELL_FORMED_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_WELL_FORMED_TAGS = re.compile(ENTITY_TAG_LIST)
_A_RULE = "FREQ=WEEKLY;BYDAY=MO"
_A_DUE_DATE = "2026-12-07T09:00:00+01:00"


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


def _is_positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode == GenerationMode.POSITIVE


def _with_a_valid_rule(case: Any) -> None:
    """A positive task body's recurrence as a client builds it: a valid rule, with a due date."""
    body = case.body
    if not _is_positive(case) or not isinstance(body, dict):
        return
    rule = body.get("recurrence")
    if not isinstance(rule, str):
        return
    try:
        canonical_rule(rule)
    except RecurrenceError:
        body["recurrence"] = _A_RULE
    if body.get("due_at") is None:
        body["due_at"] = _A_DUE_DATE


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
    _with_a_valid_rule(case)
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
