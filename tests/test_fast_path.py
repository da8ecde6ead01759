"""The fast path answers exactly as FastAPI would, and it does serve the well-formed requests.

One script of requests, well-formed and not, runs against the API with the fast path on and
with it off (`FAST_PATH_ENABLED=false`), each time on an empty database; every status, header
and body must match, timestamps and request ids aside.
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
        ("POST", tasks, {"content": b'{"title": ', "headers": _JSON}),
        ("POST", tasks, {"content": b"", "headers": _JSON}),
        ("POST", tasks, {"content": b"null", "headers": _JSON}),
        ("POST", tasks, {"content": b"[]", "headers": _JSON}),
        ("POST", tasks, {"content": b'{"title": "x", "completed": 1e400}', "headers": _JSON}),
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
        ("GET", f"{tasks}/01", {}),
        ("GET", f"{tasks}/0", {}),
        ("GET", f"{tasks}/-1", {}),
        ("GET", f"{tasks}/abc", {}),
        ("GET", f"{tasks}/\uff11", {}),
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
        ("PUT", f"{tasks}/404", {"json": {"title": "Nobody"}}),
        ("PUT", f"{tasks}/404", {"json": {"title": "Nobody"}, "headers": {"If-Match": '"404.1"'}}),
        ("PUT", f"/api/{BOB}/tasks/1", {"json": {"title": "Theirs"}}),
        ("PATCH", f"{tasks}/2", {"json": {"title": "Patched"}}),
        ("PATCH", f"{tasks}/2/complete", {}),
        ("PATCH", f"{tasks}/2/complete", {"headers": {"If-Match": '"2.1"'}}),
        ("PATCH", f"{tasks}/2/complete", {"json": {"completed": True}}),
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
    ]


async def _run_script(database_url: str, fast_path: bool) -> list[tuple[Any, ...]]:
    settings = make_settings(database_url, fast_path_enabled=fast_path)
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


async def test_the_fast_path_answers_every_request_as_fastapi_does(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    through_fastapi = await _run_script(
        await _fresh_database(engine_name, request, tmp_path / "slow.db"), fast_path=False
    )
    through_fast_path = await _run_script(
        await _fresh_database(engine_name, request, tmp_path / "fast.db"), fast_path=True
    )

    statuses = {answer[2] for answer in through_fastapi}
    assert {200, 201, 204, 304, 400, 403, 404, 405, 412, 415, 422} <= statuses
    for expected, actual in zip(through_fastapi, through_fast_path, strict=True):
        assert actual == expected


async def _fastapi_was_asked() -> None:
    raise HTTPException(status_code=418, detail={"error": "FastAPI's task route was used"})


async def test_well_formed_requests_are_served_without_fastapi_routing(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """With FastAPI's task dependency broken, the fast path still serves what it should."""
    settings = make_settings(await _fresh_database(engine_name, request, tmp_path / "t.db"))
    app = create_app(settings)
    app.dependency_overrides[owned_tasks] = _fastapi_was_asked
    tasks = f"/api/{ALICE}/tasks"
    headers = {"Authorization": f"Bearer {token_for(ALICE)}"}
    async with serving(app) as http:
        created = await http.post(tasks, json={"title": "Fast"}, headers=headers)
        assert created.status_code == 201, created.text
        task = f"{tasks}/{created.json()['id']}"
        answers = [
            created,
            await http.get(tasks, params={"limit": "5", "sort": "title"}, headers=headers),
            await http.get(task, headers=headers),
            await http.put(task, json={"title": "Faster"}, headers=headers),
            await http.patch(f"{task}/complete", headers=headers),
            await http.delete(task, headers=headers),
        ]
        searched = await http.get(tasks, params={"search": "fast"}, headers=headers)

    assert [answer.status_code for answer in answers] == [201, 200, 200, 200, 200, 204]
    assert searched.status_code == 418, "a search is FastAPI's to answer"
