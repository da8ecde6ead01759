"""The benchmark's reference app does the same job as the API, so the comparison is fair.

Both apps run on the same PostgreSQL database and answer the benchmark's requests: the same
status codes and the same JSON, byte for byte where the data is the same. No timing here.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response

from bench import reference_app

from support import SECRET, ApiUser

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
    ],
)
async def test_reference_validates_bodies_like_the_api(
    alice: ApiUser, reference: AsyncClient, body: dict[str, Any]
) -> None:
    api = await alice.request("POST", json=body)
    ref = await reference.post(alice.url(), json=body, headers=alice.headers)
    assert api.status_code == ref.status_code == 422
