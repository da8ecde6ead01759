"""The API mounted under a path prefix (an ASGI `root_path`, as `uvicorn --root-path` or a
parent app's mount sets it): every endpoint and every edge step works as at the root."""

from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from backend.main import create_app

from support import make_settings, serving, token_for

PREFIX = "/tasks-service"
OWNER = "rooted-user"


@pytest.fixture(params=[True, False], ids=["lean", "fastapi"])
async def rooted(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[AsyncClient]:
    settings = make_settings(
        database_url, lean_handlers_enabled=request.param, rate_limit_anonymous=1
    )
    async with serving(create_app(settings), root_path=PREFIX) as http:
        yield http


def headers(user_id: str = OWNER) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user_id)}"}


async def test_every_task_endpoint_answers_under_the_prefix(rooted: AsyncClient) -> None:
    collection = f"{PREFIX}/api/{OWNER}/tasks"

    created = await rooted.post(collection, json={"title": "Rooted"}, headers=headers())
    assert created.status_code == 201, created.text
    task = created.json()
    location = created.headers["location"]
    assert location == f"{collection}/{task['id']}"

    listed = await rooted.get(collection, params={"limit": 1}, headers=headers())
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()] == [task["id"]]
    assert listed.headers["x-total-count"] == "1"
    assert f'{collection}?limit=1&offset=0>; rel="first"' in listed.headers["link"]

    fetched = await rooted.get(location, headers=headers())
    assert fetched.json() == task
    replaced = await rooted.put(location, json={"title": "Replaced"}, headers=headers())
    assert replaced.json()["title"] == "Replaced"
    patched = await rooted.patch(location, json={"description": "Now"}, headers=headers())
    assert patched.json()["description"] == "Now"
    toggled = await rooted.patch(f"{location}/complete", headers=headers())
    assert toggled.json()["completed"] is True
    deleted = await rooted.delete(location, headers=headers())
    assert deleted.status_code == 204
    assert (await rooted.get(location, headers=headers())).status_code == 404


async def test_the_prefixed_api_still_requires_a_token(rooted: AsyncClient) -> None:
    response = await rooted.get(f"{PREFIX}/api/{OWNER}/tasks")

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_another_users_tasks_stay_forbidden_under_the_prefix(rooted: AsyncClient) -> None:
    response = await rooted.get(f"{PREFIX}/api/{OWNER}/tasks", headers=headers("someone-else"))

    assert response.status_code == 403


async def test_a_wrong_method_names_the_allowed_ones_under_the_prefix(
    rooted: AsyncClient,
) -> None:
    response = await rooted.post(f"{PREFIX}/api/{OWNER}/tasks/1", headers=headers())

    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH, PUT"


async def test_probes_under_the_prefix_are_never_rate_limited(rooted: AsyncClient) -> None:
    # The anonymous quota is one request: a limited path would answer 429 the second time.
    statuses = [(await rooted.get(f"{PREFIX}/healthz")).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
