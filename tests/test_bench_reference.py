"""The benchmark's reference app does the same job as the API, so the comparison is fair.

Both apps run on the same PostgreSQL database and answer the benchmark's requests: the same
status codes and the same JSON, byte for byte where the data is the same. They verify tokens as
often and write user rows as the API does, and the reference lacks what it says it leaves out.
No timing here.
"""

from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import jwt
import pytest
from httpx import ASGITransport, AsyncClient, Response

from backend import tokens
from bench import reference_app

from support import SECRET, ApiUser, token_for

pytestmark = pytest.mark.parametrize("engine_name", ["postgresql"])


@pytest.fixture
async def reference(
    alice: ApiUser, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AsyncClient]:
    monkeypatch.setenv("REFERENCE_DATABASE_URL", postgres_dsn)
    monkeypatch.setenv("REFERENCE_SECRET", SECRET)
    monkeypatch.setenv("REFERENCE_POOL_SIZE", "2")
    app = reference_app.create_app()
    transport = ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://test") as http,
    ):
        yield http


async def _both(
    user: ApiUser, reference: AsyncClient, method: str, suffix: str = "", **kwargs: Any
) -> tuple[Response, Response]:
    api = await user.request(method, suffix, **kwargs)
    headers = {**user.headers, **kwargs.pop("headers", {})}
    ref = await reference.request(method, user.url(suffix), headers=headers, **kwargs)
    return api, ref


async def test_reference_answers_the_benchmark_requests_like_the_api(
    alice: ApiUser, bob: ApiUser, reference: AsyncClient
) -> None:
    first = await alice.create(title="Written by the API", description="first")
    body = {"title": "  Written by the reference  ", "description": None}
    created = await reference.post(alice.url(), json=body, headers=alice.headers)
    assert created.status_code == 201
    second = created.json()
    assert created.headers["location"] == alice.url(f"/{second['id']}")
    assert second.keys() == first.keys()
    assert (second["title"], second["completed"]) == ("Written by the reference", False)

    assert created.headers["etag"] == f'"{second["id"]}.1"'

    api, ref = await _both(alice, reference, "GET")
    assert (api.status_code, ref.status_code) == (200, 200)
    assert api.content == ref.content
    assert [task["id"] for task in api.json()] == [second["id"], first["id"]]
    for header in ("x-total-count", "link"):
        assert api.headers[header] == ref.headers[header]

    # One page at a time, with the same total and links as the API's.
    for query in ({"limit": 1}, {"limit": 1, "offset": 1}, {"limit": 1, "offset": 5}):
        api, ref = await _both(alice, reference, "GET", params=query)
        assert (api.status_code, api.content) == (ref.status_code, ref.content)
        assert api.headers["x-total-count"] == ref.headers["x-total-count"] == "2"
        assert api.headers["link"] == ref.headers["link"]

    api, ref = await _both(alice, reference, "GET", f"/{first['id']}")
    assert (api.status_code, api.content) == (ref.status_code, ref.content)
    assert api.headers["etag"] == ref.headers["etag"]

    # The filtered scenario: by priority, soonest due first, each app's planned task alike.
    planned = {"title": "Planned", "priority": "high", "due_at": "2026-12-01T09:00:00+01:00"}
    by_api = await alice.request("POST", json=planned)
    by_reference = await reference.post(alice.url(), json=planned, headers=alice.headers)
    for created_task in (by_api, by_reference):
        assert created_task.status_code == 201
        assert created_task.json()["priority"] == "high"
        assert created_task.json()["due_at"] == "2026-12-01T08:00:00+00:00"
    await alice.create(title="Undated", priority="medium")
    filtered = [("priority", "high"), ("priority", "medium"), ("sort", "due_at")]
    for query in (filtered, [*filtered, ("limit", "1"), ("offset", "5")]):
        api, ref = await _both(alice, reference, "GET", params=query)
        assert (api.status_code, api.content) == (ref.status_code, ref.content)
        for header in ("x-total-count", "link"):
            assert api.headers[header] == ref.headers[header]
    assert [task["title"] for task in api.json()] == []
    api, ref = await _both(alice, reference, "GET", params=filtered)
    assert [task["title"] for task in ref.json()] == ["Planned", "Planned", "Undated"]
    assert api.headers["x-total-count"] == "3"

    replacement = {"title": "Replaced", "completed": True}
    api, ref = await _both(alice, reference, "PUT", f"/{first['id']}", json=replacement)
    assert (api.status_code, ref.status_code) == (200, 200)
    assert api.json()["title"] == ref.json()["title"] == "Replaced"
    assert api.json()["description"] is ref.json()["description"] is None
    assert (api.json()["version"], ref.json()["version"]) == (2, 3)
    assert ref.headers["etag"] == f'"{first["id"]}.3"'

    api = await alice.request("PATCH", f"/{first['id']}/complete")
    ref = await reference.patch(alice.url(f"/{first['id']}/complete"), headers=alice.headers)
    assert (api.json()["completed"], ref.json()["completed"]) == (False, True)
    assert (api.json()["version"], ref.json()["version"]) == (4, 5)

    for method, suffix, body in (
        ("GET", "/999999", None),
        ("PUT", "/999999", replacement),
        ("PATCH", "/999999/complete", None),
    ):
        api, ref = await _both(alice, reference, method, suffix, json=body)
        assert (api.status_code, api.content) == (404, ref.content)

    # Someone else's path: 403 with the same body; someone else's task id: 404.
    api, ref = await _both(bob, reference, "GET", headers={})
    assert api.status_code == ref.status_code == 200
    api = await bob.client.get(alice.url(), headers=bob.headers)
    ref = await reference.get(alice.url(), headers=bob.headers)
    assert (api.status_code, api.content) == (403, ref.content)
    api, ref = await _both(bob, reference, "GET", f"/{first['id']}")
    assert (api.status_code, api.content) == (404, ref.content)


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-a-jwt", "Basic abc", f"Bearer {'x' * 20}.e30.sig"]
)
async def test_reference_refuses_bad_tokens_like_the_api(
    alice: ApiUser, reference: AsyncClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    api = await alice.client.get(alice.url(), headers=headers)
    ref = await reference.get(alice.url(), headers=headers)
    assert api.status_code == ref.status_code == 401
    assert ref.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "x" * 201},
        {"title": "ok", "completed": "yes"},
        {"title": "ok", "description": "d" * 1001},
        {"title": "ok", "unknown": 1},
        {"description": "no title"},
        {"title": "ok", "priority": "urgent"},
        {"title": "ok", "due_at": "2026-12-01T09:00:00"},
        {"title": "ok", "due_at": 1764579600},
    ],
)
async def test_reference_validates_bodies_like_the_api(
    alice: ApiUser, reference: AsyncClient, body: dict[str, Any]
) -> None:
    api = await alice.request("POST", json=body)
    ref = await reference.post(alice.url(), json=body, headers=alice.headers)
    assert api.status_code == ref.status_code == 422


@pytest.fixture
def count_verifications(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many times PyJWT has checked a signature so far (either app)."""
    calls = 0
    decode = jwt.decode

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return lambda: calls


async def test_reference_verifies_a_token_as_often_as_the_api(
    alice: ApiUser,
    reference: AsyncClient,
    count_verifications: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two entries, so that eviction shows: the least recently used goes (`first`, used again,
    # outlives `second`, inserted after it; then `third` outlives `first`).
    monkeypatch.setattr(tokens, "_VERIFIED_CACHE_SIZE", 2)
    monkeypatch.setattr(reference_app, "VERIFIED_CACHE_SIZE", 2)
    first, second, third = (token_for(alice.id, expires_in=3600 + n) for n in range(3))
    # Expired 5 s ago: within the 30 s leeway it verifies, but is never answered from memory.
    expired = token_for(alice.id, expires_in=-5)
    forged = token_for(alice.id, secret="not-the-secret-" + "0" * 32)
    sequence = [first, first, second, first, third, first, second, expired, expired, forged, forged]
    expected = [200] * 9 + [401, 401]

    async def verifications(client: AsyncClient) -> list[tuple[int, int]]:
        seen = []
        for token in sequence:
            before = count_verifications()
            response = await client.get(alice.url(), headers={"Authorization": f"Bearer {token}"})
            seen.append((response.status_code, count_verifications() - before))
        return seen

    api = await verifications(alice.client)
    ref = await verifications(reference)
    assert [status for status, _ in ref] == expected
    assert [verified for _, verified in ref] == [1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1]
    assert api == ref


async def _user_rows(dsn: str, *user_ids: str) -> list[tuple[str, str | None, str | None]]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            'SELECT id, email, name FROM "user" WHERE id = any($1::varchar[]) ORDER BY id',
            list(user_ids),
        )
    finally:
        await connection.close()
    return [(row["id"], row["email"], row["name"]) for row in rows]


async def _rename_out_of_band(dsn: str, user_id: str, name: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute('UPDATE "user" SET name = $1 WHERE id = $2', name, user_id)
    finally:
        await connection.close()


@pytest.mark.parametrize("app_name", ["api", "reference"])
async def test_reference_provisions_a_user_once_like_the_api(
    alice: ApiUser, reference: AsyncClient, app_name: str, postgres_dsn: str
) -> None:
    client = alice.client if app_name == "api" else reference
    carol, dave = f"carol-{app_name}", f"dave-{app_name}"
    email = f"carol-{app_name}@example.com"

    async def list_tasks(user_id: str, **claims: Any) -> None:
        headers = {"Authorization": f"Bearer {token_for(user_id, **claims)}"}
        response = await client.get(f"/api/{user_id}/tasks", headers=headers)
        assert response.status_code == 200, response.text

    assert await _user_rows(postgres_dsn, carol) == []
    await list_tasks(carol, email=email, name="Carol")
    assert await _user_rows(postgres_dsn, carol) == [(carol, email, "Carol")]

    # Once per process: the same claims are not written again, whatever the row says now.
    await _rename_out_of_band(postgres_dsn, carol, "Renamed elsewhere")
    await list_tasks(carol, email=email, name="Carol", expires_in=3601)
    assert await _user_rows(postgres_dsn, carol) == [(carol, email, "Renamed elsewhere")]

    # Changed claims are written; an email taken by a new user is released by the old one.
    await list_tasks(carol, email=email, name="Carol B.")
    assert await _user_rows(postgres_dsn, carol) == [(carol, email, "Carol B.")]
    await list_tasks(dave, email=email, name="x" * 120)
    assert await _user_rows(postgres_dsn, carol, dave) == [
        (carol, None, "Carol B."),
        (dave, email, "x" * 100),
    ]


async def test_reference_leaves_out_what_it_says(alice: ApiUser, reference: AsyncClient) -> None:
    api, ref = await _both(alice, reference, "GET")
    assert api.status_code == ref.status_code == 200
    leaves_out = " ".join(reference_app.LEAVES_OUT).lower()
    for header in (
        "x-request-id",
        "ratelimit",
        "ratelimit-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
        "content-security-policy",
        "cache-control",
    ):
        assert header in api.headers
        assert header not in ref.headers
        assert f"`{header}" in leaves_out
