"""`Location` and `Link` name the caller's URLs whatever their user id holds: the path
percent-encoded (RFC 3986), plain ASCII, built before the write commits, so a create is never
stored with a response that cannot be sent (the client would retry and duplicate the task).
Behind a trusted TLS proxy they say `https`; an untrusted peer cannot make them."""

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.main import create_app

from processes import running_server
from support import SECRET, make_settings, serving, token_for

# User ids outside Latin-1, and ones holding characters that mean something in a URL or header.
UNUSUAL_IDS = [
    "用户-1",
    "café",
    "😀",
    "a b",
    "a%b",
    "a%2Fb",
    "a?b#c",
    'q"<>;,',
    "a+b=c&d",
    "\u202eevil",
]
# Subjects no URL path can hold: refused as bad subjects before anything is written.
UNUSABLE_SUBJECTS = ["ctl\x01", "tab\tid", "line\nbreak", "del\x7f", "nel\x85", "a/b", ".", ".."]


@pytest.fixture(params=[True, False], ids=["lean", "fastapi"])
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    """Both ways a request can be handled: the lean handlers, and FastAPI's full handling."""
    return make_settings(database_url, lean_handlers_enabled=request.param)


def collection(user_id: str) -> str:
    return f"/api/{quote(user_id, safe='')}/tasks"


def auth(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user_id)}"}


def links(response: Response) -> dict[str, str]:
    """`Link` as {relation: URL}."""
    result = {}
    for part in response.headers["link"].split(", "):
        target, _, relation = part.partition("; ")
        result[relation.removeprefix('rel="').removesuffix('"')] = target.strip("<>")
    return result


async def task_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(text("SELECT user_id, title FROM task ORDER BY id"))
        return [dict(row) for row in result.mappings()]


@pytest.mark.parametrize("user_id", UNUSUAL_IDS)
async def test_location_is_percent_encoded_and_leads_to_the_task(
    client: AsyncClient, engine: AsyncEngine, user_id: str
) -> None:
    created = await client.post(collection(user_id), json={"title": "t"}, headers=auth(user_id))

    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location == f"{collection(user_id)}/{created.json()['id']}"
    assert location.isascii()
    fetched = await client.get(location, headers=auth(user_id))
    assert fetched.status_code == 200
    assert fetched.json() == created.json()
    listed = await client.get(collection(user_id), headers=auth(user_id))
    assert [task["id"] for task in listed.json()] == [created.json()["id"]]
    assert await task_rows(engine) == [{"user_id": user_id, "title": "t"}]


async def test_a_real_server_answers_every_create_of_a_non_latin1_user_once(
    database_url: str, tmp_path: Path
) -> None:
    """Through uvicorn, whose HTTP writer refuses what Latin-1 cannot hold: each create is
    answered 201, none is dropped, and the list holds exactly the tasks the client was told of."""
    env = {"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": SECRET, "RATE_LIMIT_ENABLED": "0"}
    user_id = "用户-1"

    with running_server(env, tmp_path) as server:
        async with AsyncClient(base_url=server.base_url, headers=auth(user_id)) as http:
            created = [
                await http.post(collection(user_id), json={"title": f"t{n}"}) for n in range(3)
            ]
            listed = await http.get(collection(user_id))

    assert [response.status_code for response in created] == [201, 201, 201]
    assert [response.headers["location"] for response in created] == [
        f"{collection(user_id)}/{response.json()['id']}" for response in created
    ]
    assert sorted(task["title"] for task in listed.json()) == ["t0", "t1", "t2"]
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("user_id", ["用户-1", "a?b#c"])
async def test_an_idempotent_create_replays_the_same_encoded_location(
    client: AsyncClient, engine: AsyncEngine, user_id: str
) -> None:
    headers = {**auth(user_id), "Idempotency-Key": "create-once"}

    first = await client.post(collection(user_id), json={"title": "t"}, headers=headers)
    again = await client.post(collection(user_id), json={"title": "t"}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["location"] == first.headers["location"]
    assert first.headers["location"].startswith(collection(user_id) + "/")
    assert len(await task_rows(engine)) == 1


@pytest.mark.parametrize("user_id", UNUSUAL_IDS)
async def test_list_links_are_percent_encoded_and_walk_the_pages(
    client: AsyncClient, user_id: str
) -> None:
    for title in ("one", "two", "three"):
        response = await client.post(
            collection(user_id), json={"title": title}, headers=auth(user_id)
        )
        assert response.status_code == 201

    page = await client.get(
        collection(user_id), params={"limit": 1, "search": "e"}, headers=auth(user_id)
    )

    assert page.status_code == 200
    assert page.headers["link"].isascii()
    relations = links(page)
    assert relations["next"] == (f"http://test{collection(user_id)}?search=e&limit=1&offset=1")
    following = await client.get(relations["last"], headers=auth(user_id))
    assert [task["title"] for task in following.json()] == ["one"]


@pytest.mark.parametrize("subject", UNUSABLE_SUBJECTS)
async def test_a_subject_no_url_can_hold_is_401_and_nothing_is_stored(
    client: AsyncClient, engine: AsyncEngine, subject: str
) -> None:
    path = "/api/anyone/tasks"  # refused before routing: no path can be theirs anyway

    created = await client.post(path, json={"title": "t"}, headers=auth(subject))
    idempotent = await client.post(
        path, json={"title": "t"}, headers={**auth(subject), "Idempotency-Key": "k"}
    )

    for response in (created, idempotent):
        assert response.status_code == 401
        assert response.json()["detail"]["error"].startswith("Token subject is not a valid user id")
    assert await task_rows(engine) == []


async def test_a_path_that_is_not_the_callers_encoded_id_is_403(client: AsyncClient) -> None:
    """`{user_id}` is compared decoded: `caf%C3%A9` is `café`, `caf%E9` (Latin-1) is not."""
    mine = await client.get("/api/caf%C3%A9/tasks", headers=auth("café"))
    other = await client.get("/api/caf%E9/tasks", headers=auth("café"))

    assert mine.status_code == 200
    assert other.status_code == 403


def proxied_app(database_url: str) -> Any:
    return create_app(make_settings(database_url, trusted_proxies="10.0.0.0/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded_proto", "scheme"),
    [
        ("10.0.0.7", "https", "https"),
        ("10.0.0.7", "HTTPS", "https"),
        ("10.0.0.7", "http, https", "https"),
        ("10.0.0.7", "http", "http"),
        ("10.0.0.7", "ftp", "http"),
        ("10.0.0.7", None, "http"),
        ("198.51.100.9", "https", "http"),
    ],
)
async def test_link_takes_the_scheme_only_a_trusted_proxy_forwards(
    database_url: str, peer: str, forwarded_proto: str | None, scheme: str
) -> None:
    headers = auth("alice-id")
    if forwarded_proto is not None:
        headers["X-Forwarded-Proto"] = forwarded_proto

    async with serving(proxied_app(database_url), client=(peer, 40000)) as http:
        created = await http.post("/api/alice-id/tasks", json={"title": "t"}, headers=headers)
        listed = await http.get("/api/alice-id/tasks", headers=headers)

    assert created.status_code == 201
    assert created.headers["location"] == f"/api/alice-id/tasks/{created.json()['id']}"
    assert set(links(listed).values()) == {f"{scheme}://test/api/alice-id/tasks?limit=100&offset=0"}


async def test_without_trusted_proxies_forwarded_proto_is_ignored(database_url: str) -> None:
    app = create_app(make_settings(database_url))
    transport = ASGITransport(app=app, client=("10.0.0.7", 40000))
    headers = {**auth("alice-id"), "X-Forwarded-Proto": "https"}

    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://test") as http,
    ):
        listed = await http.get("/api/alice-id/tasks", headers=headers)

    assert links(listed)["first"].startswith("http://test/")
