"""Lean handlers answer exactly as FastAPI's own handling would, and they do serve the
well-formed requests.

One script of requests, well-formed and not, runs against the API with lean handling on and
with it off (`LEAN_HANDLERS_ENABLED=false`), each time on an empty database; every status,
header and body must match, timestamps and request ids aside.
"""

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException
from httpx import AsyncClient

from backend.dependencies.tasks import owned_tasks
from backend.main import create_app
from backend.routes import task_handlers

from support import emptied_postgres, make_settings, serving, token_for

ALICE = "alice-id"
BOB = "bob-id"
_TIMESTAMP = re.compile(rb'"(created_at|updated_at)":"[^"]+"')
_VOLATILE_HEADERS = frozenset({"date", "x-request-id"})
# Seconds until the rate-limit window resets: a matter of when, not of which path answered.
_RESET_IN = re.compile(r";t=\d+")

Step = tuple[str, str, dict[str, Any]]

_JSON = {"Content-Type": "application/json"}


def _script() -> list[Step]:
    """(method, path under /api, httpx options): what a frontend sends, and what it gets wrong."""
    tasks = f"/api/{ALICE}/tasks"
    return [
        ("POST", tasks, {"json": {"title": "  First  ", "description": "d"}}),
        ("POST", tasks, {"json": {"title": "Second", "completed": True, "id": 99}}),
        ("POST", tasks, {"content": b'{"title": "Third"}'}),
        (
            "POST",
            tasks,
            {
                "content": b'{"title": "Fourth"}',
                "headers": {"Content-Type": "application/json; charset=utf-8"},
            },
        ),
        (
            "POST",
            tasks,
            {
                "content": b'{"title": "Fifth"}',
                "headers": {"Content-Type": "application/merge-patch+json"},
            },
        ),
        ("POST", tasks, {"content": b'{"title": "x"}', "headers": {"Content-Type": "text/plain"}}),
        ("POST", tasks, {"content": b'{"title": "x"}', "headers": {"Content-Type": "text/x+json"}}),
        ("POST", tasks, {"content": b'{"title": "x"}', "headers": {"Content-Type": "json"}}),
        ("POST", tasks, {"content": b'{"title": "Blank type"}', "headers": {"Content-Type": ""}}),
        (
            "POST",
            tasks,
            {"content": b'{"title": "Upper"}', "headers": {"Content-Type": "Application/JSON"}},
        ),
        ("POST", tasks, {"content": b'{"title": "x", "completed": NaN}', "headers": _JSON}),
        ("POST", tasks, {"content": b'{"title": "\\ud800"}', "headers": _JSON}),
        ("POST", tasks, {"content": b'{"title": "a", "title": "Dup"}', "headers": _JSON}),
        ("POST", tasks, {"content": b'{"title": ', "headers": _JSON}),
        ("POST", tasks, {"content": b"", "headers": _JSON}),
        ("POST", tasks, {"content": b"null", "headers": _JSON}),
        ("POST", tasks, {"content": b"[]", "headers": _JSON}),
        ("POST", tasks, {"content": b'{"title": "x", "completed": 1e400}', "headers": _JSON}),
        ("POST", tasks, {"content": b'{"title": Infinity}', "headers": _JSON}),
        ("POST", tasks, {"content": b'{"title": "x", "completed": -Infinity}', "headers": _JSON}),
        ("POST", tasks, {"content": b'{"title": "x", "completed": 1.5}', "headers": _JSON}),
        (
            "POST",
            tasks,
            {"content": b'{"title": "x", "completed": 123456789012345678901234}', "headers": _JSON},
        ),
        ("POST", tasks, {"json": {"title": ""}}),
        ("POST", tasks, {"json": {"title": "   "}}),
        ("POST", tasks, {"json": {"title": "x" * 201}}),
        ("POST", tasks, {"json": {"title": "ok", "colour": "red"}}),
        ("POST", tasks, {"json": {"title": "ok", "completed": "true"}}),
        ("POST", tasks, {"json": {"title": "nul\u0000"}}),
        ("POST", tasks, {"json": {"title": "Keyed"}, "headers": {"Idempotency-Key": "k-1"}}),
        ("POST", tasks, {"json": {"title": "Keyed"}, "headers": {"Idempotency-Key": "k-1"}}),
        ("POST", tasks, {"json": {"title": "Other"}, "headers": {"Idempotency-Key": "k-1"}}),
        ("POST", tasks, {"json": {"title": "Bad key"}, "headers": {"Idempotency-Key": " k"}}),
        (
            "POST",
            tasks,
            {
                "json": {"title": "Two keys"},
                "headers": [("Idempotency-Key", "k-2"), ("Idempotency-Key", "k-3")],
            },
        ),
        ("POST", tasks + "/", {"json": {"title": "Slash"}}),
        ("GET", tasks, {}),
        ("GET", tasks, {"params": {"limit": "2"}}),
        ("GET", tasks, {"params": {"limit": "2", "offset": "2"}}),
        ("GET", tasks, {"params": {"limit": "2", "offset": "200"}}),
        ("GET", tasks, {"params": {"sort": "title"}}),
        ("GET", tasks, {"params": {"sort": "-id", "completed": "true"}}),
        ("GET", tasks, {"params": {"completed": "false"}}),
        ("GET", tasks, {"params": {"completed": "1"}}),
        ("GET", tasks, {"params": {"completed": "maybe"}}),
        ("GET", tasks, {"params": {"limit": "007"}}),
        ("GET", tasks, {"params": {"limit": "0"}}),
        ("GET", tasks, {"params": {"limit": "501"}}),
        ("GET", tasks, {"params": {"offset": "-1"}}),
        ("GET", tasks, {"params": {"limit": "+2"}}),
        ("GET", tasks, {"params": {"limit": "2_0"}}),
        ("GET", tasks, {"params": {"limit": "2.0"}}),
        ("GET", tasks, {"params": {"limit": " 2"}}),
        ("GET", tasks, {"params": {"limit": "\u0662"}}),
        ("GET", tasks, {"params": {"offset": "00"}}),
        ("GET", tasks, {"params": {"offset": "0"}}),
        ("GET", tasks, {"params": {"sort": "colour"}}),
        ("GET", tasks, {"params": {"search": "f"}}),
        ("GET", tasks, {"params": {"utm": "x"}}),
        ("GET", tasks, {"params": [("limit", "1"), ("limit", "3")]}),
        ("GET", tasks + "?limit=2&offset=0&limit", {}),
        ("HEAD", tasks, {}),
        ("GET", f"{tasks}/1", {}),
        ("GET", f"{tasks}/1", {"headers": {"If-None-Match": '"1.1"'}}),
        ("GET", f"{tasks}/1", {"headers": {"If-None-Match": '"1.7", W/"1.1"'}}),
        ("GET", f"{tasks}/1", {"headers": {"If-None-Match": '"1.2"'}}),
        (
            "GET",
            f"{tasks}/1",
            {"headers": [("If-None-Match", '"1.9"'), ("If-None-Match", '"1.1"')]},
        ),
        ("GET", f"{tasks}/+1", {}),
        ("GET", f"{tasks}/1_0", {}),
        ("GET", f"{tasks}/01", {}),
        ("GET", f"{tasks}/0", {}),
        ("GET", f"{tasks}/-1", {}),
        ("GET", f"{tasks}/abc", {}),
        ("GET", f"{tasks}/\uff11", {}),
        ("GET", f"{tasks}/\u0661", {}),
        ("GET", f"{tasks}/1.0", {}),
        ("GET", f"{tasks}/%201", {}),
        ("DELETE", f"{tasks}/1_0", {}),
        ("DELETE", f"{tasks}/+1", {}),
        ("PUT", f"{tasks}/1.0", {"json": {"title": "Not one"}}),
        ("PATCH", f"{tasks}/01", {"json": {"title": "Not one"}}),
        ("PATCH", f"{tasks}/+1/complete", {}),
        ("GET", f"{tasks}/2147483648", {}),
        ("GET", f"{tasks}/99999999999999999999", {}),
        ("GET", f"{tasks}/404", {}),
        ("GET", f"/api/{BOB}/tasks", {}),
        ("GET", f"/api/{BOB}/tasks/1", {}),
        ("PUT", f"{tasks}/1", {"json": {"title": "Replaced"}}),
        ("PUT", f"{tasks}/1", {"json": {"title": "Stale"}, "headers": {"If-Match": '"1.1"'}}),
        ("PUT", f"{tasks}/1", {"json": {"title": "Fresh"}, "headers": {"If-Match": '"1.2"'}}),
        ("PUT", f"{tasks}/1", {"json": {"title": "Any"}, "headers": {"If-Match": "*"}}),
        (
            "PUT",
            f"{tasks}/1",
            {"json": {"title": "Twice"}, "headers": [("If-Match", '"1.4"'), ("If-Match", '"1.9"')]},
        ),
        ("PUT", f"{tasks}/1", {"json": {"description": "no title"}}),
        ("PUT", f"{tasks}/1", {"content": b"{", "headers": _JSON}),
        ("PUT", f"{tasks}/1", {"content": b'{"title": NaN}', "headers": _JSON}),
        ("PATCH", f"{tasks}/1", {"content": b'{"completed": Infinity}', "headers": _JSON}),
        ("PATCH", f"{tasks}/1/complete", {"content": b'{"completed": NaN}', "headers": _JSON}),
        ("PUT", f"{tasks}/404", {"json": {"title": "Nobody"}}),
        ("PUT", f"{tasks}/404", {"json": {"title": "Nobody"}, "headers": {"If-Match": '"404.1"'}}),
        ("PUT", f"/api/{BOB}/tasks/1", {"json": {"title": "Theirs"}}),
        ("PATCH", f"{tasks}/2", {"json": {"title": "Patched"}}),
        ("PATCH", f"{tasks}/2", {"json": {"description": None}}),
        ("PATCH", f"{tasks}/2", {"json": {}}),
        ("PATCH", f"{tasks}/2", {"json": {"title": None}}),
        ("PATCH", f"{tasks}/2", {"json": {"completed": True}, "headers": {"If-Match": '"2.1"'}}),
        ("PATCH", f"{tasks}/2", {"content": b"", "headers": _JSON}),
        ("PATCH", f"{tasks}/2", {"json": {"title": "Typed"}, "headers": {"Content-Type": "a/b"}}),
        ("PATCH", f"{tasks}/2/complete", {}),
        ("PATCH", f"{tasks}/2/complete", {"headers": {"If-Match": '"2.1"'}}),
        ("PATCH", f"{tasks}/2/complete", {"json": {"completed": True}}),
        ("PATCH", f"{tasks}/2/complete", {"json": {"completed": "yes"}}),
        ("PATCH", f"{tasks}/2/complete", {"content": b"null", "headers": _JSON}),
        ("PATCH", f"{tasks}/2/complete", {"content": b"{}", "headers": _JSON}),
        ("PATCH", f"{tasks}/2/complete", {"content": b" ", "headers": _JSON}),
        ("PATCH", f"{tasks}/2/complete", {"headers": {"Content-Type": "text/plain"}}),
        ("PATCH", f"{tasks}/404/complete", {}),
        ("PATCH", f"{tasks}/2/completed", {}),
        ("POST", f"{tasks}/2/complete", {}),
        ("DELETE", f"{tasks}/3", {"headers": {"If-Match": '"3.9"'}}),
        ("DELETE", f"{tasks}/3", {}),
        ("DELETE", f"{tasks}/3", {}),
        ("DELETE", f"{tasks}/3", {"headers": {"If-Match": '"3.1"'}}),
        ("GET", tasks, {"params": {"limit": "3", "sort": "-updated_at"}}),
        *_planning_script(tasks),
        *_tags_and_recurrence_script(tasks),
    ]


def _planning_script(tasks: str) -> list[Step]:
    """Priority and due dates: written, filtered and sorted, well-formed and not."""
    due = "2026-12-01T09:00:00+01:00"
    return [
        ("POST", tasks, {"json": {"title": "Planned", "priority": "high", "due_at": due}}),
        (
            "POST",
            tasks,
            {"json": {"title": "Past", "priority": "low", "due_at": "2020-01-01t00:00:00z"}},
        ),
        ("POST", tasks, {"json": {"title": "x", "priority": "urgent"}}),
        ("POST", tasks, {"json": {"title": "x", "priority": None}}),
        ("POST", tasks, {"json": {"title": "x", "due_at": "2026-12-01T09:00:00"}}),
        ("POST", tasks, {"json": {"title": "x", "due_at": 1764579600}}),
        ("POST", tasks, {"json": {"title": "x", "due_at": "0001-01-01T00:00:00+00:01"}}),
        ("PATCH", f"{tasks}/2", {"json": {"priority": "medium", "due_at": due}}),
        ("PATCH", f"{tasks}/2", {"json": {"due_at": None}}),
        ("PATCH", f"{tasks}/2", {"json": {"due_at": "soon"}}),
        ("PUT", f"{tasks}/2", {"json": {"title": "Reset", "priority": "low"}}),
        ("GET", tasks, {"params": {"priority": "high"}}),
        (
            "GET",
            tasks,
            {"params": [("priority", "low"), ("priority", "high"), ("priority", "low")]},
        ),
        ("GET", tasks, {"params": {"priority": "urgent"}}),
        ("GET", tasks, {"params": {"priority": ""}}),
        ("GET", tasks, {"params": {"due_before": "2026-12-01T08:00:00Z", "sort": "due_at"}}),
        ("GET", tasks, {"params": {"due_after": "2026-12-01T08:00:00+00:00"}}),
        ("GET", tasks, {"params": {"due_after": "2026-12-01T08:00:00"}}),
        ("GET", tasks, {"params": {"due_after": "2026-12-01"}}),
        ("GET", tasks, {"params": [("due_after", "2026-12-01T08:00:00Z")] * 2}),
        ("GET", tasks, {"params": {"overdue": "true", "completed": "false"}}),
        ("GET", tasks, {"params": {"overdue": "false", "sort": "-due_at", "limit": "2"}}),
        ("GET", tasks, {"params": {"overdue": "1"}}),
        ("GET", tasks, {"params": {"has_due": "false", "sort": "-priority"}}),
        ("GET", tasks, {"params": {"has_due": "true", "sort": "priority", "offset": "1"}}),
        ("GET", tasks, {"params": {"has_due": "yes"}}),
        ("GET", tasks, {"params": {"sort": "due_at", "search": "p"}}),
    ]


def _tags_and_recurrence_script(tasks: str) -> list[Step]:
    """Tags and recurrence: written, filtered on, completed and renamed, well-formed and not."""
    due = "2026-11-30T09:00:00Z"
    tags = tasks.removesuffix("/tasks") + "/tags"
    weekly = {"title": "Weekly", "due_at": due, "recurrence": "FREQ=WEEKLY;BYDAY=MO,TH"}
    return [
        ("POST", tasks, {"json": {**weekly, "tags": [" Errands ", "home", "HOME"]}}),
        ("POST", tasks, {"json": {"title": "Tagged", "tags": ["errands", "work"]}}),
        ("POST", tasks, {"json": {"title": "x", "tags": ["a\tb"]}}),
        ("POST", tasks, {"json": {"title": "x", "tags": ["x" * 51]}}),
        ("POST", tasks, {"json": {"title": "x", "tags": [f"t{n}" for n in range(21)]}}),
        ("POST", tasks, {"json": {"title": "x", "recurrence": "FREQ=DAILY"}}),
        ("POST", tasks, {"json": {"title": "x", "due_at": due, "recurrence": "FREQ=HOURLY"}}),
        ("POST", tasks, {"json": {"title": "x", "due_at": due, "recurrence": "FREQ=DAILY;X=1"}}),
        ("PATCH", f"{tasks}/2", {"json": {"recurrence": "FREQ=DAILY;COUNT=2"}}),
        ("PATCH", f"{tasks}/2", {"json": {"due_at": due, "recurrence": "FREQ=DAILY;COUNT=2"}}),
        ("PATCH", f"{tasks}/2/complete", {}),
        ("PATCH", f"{tasks}/2/complete", {"json": {"completed": True}}),
        ("PATCH", f"{tasks}/2", {"json": {"tags": ["Work"], "completed": False}}),
        ("PUT", f"{tasks}/2", {"json": {**weekly, "completed": True, "tags": ["work"]}}),
        ("PATCH", f"{tasks}/2", {"json": {"due_at": None}}),
        ("PATCH", f"{tasks}/2", {"json": {"tags": None}}),
        ("GET", tasks, {"params": {"tag": "ERRANDS", "sort": "due_at"}}),
        ("GET", tasks, {"params": [("tag", "errands"), ("tag", "work"), ("priority", "none")]}),
        ("GET", tasks, {"params": [("tag", "work"), ("tag", "Work"), ("limit", "1")]}),
        ("GET", tasks, {"params": {"tag": ""}}),
        ("GET", tasks, {"params": [("tag", f"t{n}") for n in range(21)]}),
        ("GET", tags, {}),
        ("PATCH", f"{tags}/HOME", {"json": {"name": "house"}}),
        ("PATCH", f"{tags}/work", {"json": {"name": "errands"}}),
        ("PATCH", f"{tags}/nothing", {"json": {"name": "x"}}),
        ("PATCH", f"{tags}/errands", {"json": {"name": ""}}),
        ("GET", tags, {}),
        ("DELETE", f"{tags}/house", {}),
        ("DELETE", f"{tags}/house", {}),
        ("GET", tasks, {"params": {"sort": "id"}}),
    ]


async def _run_script(database_url: str, lean: bool) -> list[tuple[Any, ...]]:
    settings = make_settings(database_url, lean_handlers_enabled=lean)
    answers = []
    async with serving(create_app(settings)) as http:
        for method, path, options in _script():
            answers.append(await _exchange(http, method, path, options))
    return answers


async def _exchange(
    http: AsyncClient, method: str, path: str, options: dict[str, Any]
) -> tuple[Any, ...]:
    options = dict(options)
    extra = options.pop("headers", [])
    items = list(extra.items()) if isinstance(extra, dict) else list(extra)
    headers = [("Authorization", f"Bearer {token_for(ALICE)}"), *items]
    response = await http.request(method, path, headers=headers, **options)
    kept = sorted(
        (name, _RESET_IN.sub(";t=<s>", value))
        for name, value in response.headers.items()
        if name not in _VOLATILE_HEADERS
    )
    body = _TIMESTAMP.sub(rb'"\1":"<time>"', response.content)
    return method, path, response.status_code, kept, body


async def _fresh_database(engine_name: str, request: pytest.FixtureRequest, path: Path) -> str:
    if engine_name == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    return await emptied_postgres(request.getfixturevalue("postgres_url"))


async def test_lean_handlers_answer_every_request_as_fastapi_does(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    through_fastapi = await _run_script(
        await _fresh_database(engine_name, request, tmp_path / "full.db"), lean=False
    )
    through_lean = await _run_script(
        await _fresh_database(engine_name, request, tmp_path / "lean.db"), lean=True
    )

    statuses = {answer[2] for answer in through_fastapi}
    assert {200, 201, 204, 304, 400, 403, 404, 405, 412, 415, 422} <= statuses
    for expected, actual in zip(through_fastapi, through_lean, strict=True):
        assert actual == expected


async def _refuses(*_args: object, **_kwargs: object) -> None:
    raise HTTPException(
        status_code=409, detail={"error": "Refused by the handler"}, headers={"X-Why": "test"}
    )


@pytest.mark.parametrize("operation", ["list_page", "create", "get", "toggle", "delete"])
async def test_a_handler_that_raises_answers_the_same_either_way(
    operation: str,
    engine_name: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An `HTTPException` from a shared handler meets FastAPI's exception handlers both ways."""
    monkeypatch.setattr(task_handlers, operation, _refuses)
    method, path, options = {
        "list_page": ("GET", f"/api/{ALICE}/tasks", {}),
        "create": ("POST", f"/api/{ALICE}/tasks", {"json": {"title": "x"}}),
        "get": ("GET", f"/api/{ALICE}/tasks/1", {}),
        "toggle": ("PATCH", f"/api/{ALICE}/tasks/1/complete", {}),
        "delete": ("DELETE", f"/api/{ALICE}/tasks/1", {}),
    }[operation]
    answers = []
    for lean in (False, True):
        database = await _fresh_database(engine_name, request, tmp_path / f"{lean}.db")
        settings = make_settings(database, lean_handlers_enabled=lean)
        async with serving(create_app(settings)) as http:
            answers.append(await _exchange(http, method, path, options))

    assert answers[0][2] == 409
    assert b"Refused by the handler" in answers[0][4]
    assert answers[1] == answers[0]


async def _fastapi_was_asked() -> None:
    raise HTTPException(status_code=418, detail={"error": "FastAPI's task route was used"})


async def test_well_formed_requests_are_served_by_the_lean_handlers(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """With FastAPI's task dependency broken, lean handling still serves what it should."""
    settings = make_settings(await _fresh_database(engine_name, request, tmp_path / "t.db"))
    app = create_app(settings)
    app.dependency_overrides[owned_tasks] = _fastapi_was_asked
    tasks = f"/api/{ALICE}/tasks"
    headers = {"Authorization": f"Bearer {token_for(ALICE)}"}
    planned = [
        ("priority", "none"),
        ("priority", "high"),
        ("due_after", "2026-12-01T08:00:00Z"),
        ("due_before", "2027-12-01T08:00:00+01:00"),
        ("overdue", "false"),
        ("has_due", "true"),
        ("tag", "Errands"),
        ("tag", "home"),
        ("sort", "-due_at"),
    ]
    async with serving(app) as http:
        created = await http.post(tasks, json={"title": "Lean"}, headers=headers)
        assert created.status_code == 201, created.text
        task = f"{tasks}/{created.json()['id']}"
        keyed = {**headers, "Idempotency-Key": "lean-key"}
        answers = [
            created,
            await http.get(tasks, params={"limit": "5", "sort": "title"}, headers=headers),
            await http.get(tasks, params=planned, headers=headers),
            await http.get(task, headers=headers),
            await http.put(task, json={"title": "Leaner"}, headers=headers),
            await http.patch(task, json={"description": "patched"}, headers=headers),
            await http.patch(f"{task}/complete", headers=headers),
            await http.patch(f"{task}/complete", json={"completed": False}, headers=headers),
            await http.post(tasks, json={"title": "Keyed"}, headers=keyed),
            await http.post(tasks, json={"title": "Keyed"}, headers=keyed),
            await http.delete(task, headers=headers),
        ]
        searched = await http.get(tasks, params={"search": "lean"}, headers=headers)

    statuses = [answer.status_code for answer in answers]
    assert statuses == [201, 200, 200, 200, 200, 200, 200, 200, 201, 201, 204]
    assert answers[-2].headers["idempotent-replayed"] == "true"
    assert searched.status_code == 418, "a search is FastAPI's to answer"
