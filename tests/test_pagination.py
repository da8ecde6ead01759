"""Lists a page at a time: limit, offset, sort, the total count and RFC 8288 links."""

import re
from typing import Any

import pytest
from httpx import Response

from support import ApiUser


def links(response: Response) -> dict[str, str]:
    """The `Link` header as {rel: url}."""
    return {
        rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["link"])
    }


def ids(response: Response) -> list[int]:
    return [task["id"] for task in response.json()]


async def create_many(user: ApiUser, titles: list[str], **body: Any) -> list[dict[str, Any]]:
    return [await user.create(title=title, **body) for title in titles]


async def test_default_page_is_newest_first_with_total_and_links(alice: ApiUser) -> None:
    tasks = await create_many(alice, ["a", "b", "c"])

    response = await alice.request("GET")

    assert response.status_code == 200
    assert ids(response) == [task["id"] for task in reversed(tasks)]
    assert response.headers["x-total-count"] == "3"
    assert set(links(response)) == {"first", "last"}


async def test_pages_walk_the_whole_list_without_overlap_or_gap(alice: ApiUser) -> None:
    tasks = await create_many(alice, [f"t{n}" for n in range(7)])

    seen: list[int] = []
    url: str | None = alice.url("?limit=3&sort=id")
    while url is not None:
        response = await alice.client.get(url, headers=alice.headers)
        assert response.headers["x-total-count"] == "7"
        seen += ids(response)
        url = links(response).get("next")

    assert seen == [task["id"] for task in tasks]


async def test_links_keep_every_query_parameter(alice: ApiUser) -> None:
    await create_many(alice, [f"milk {n}" for n in range(5)], completed=True)
    await alice.create(title="milk, open")

    response = await alice.request(
        "GET",
        params={"completed": "true", "search": "milk", "sort": "title", "limit": 2, "offset": 2},
    )

    assert response.headers["x-total-count"] == "5"
    assert [task["title"] for task in response.json()] == ["milk 2", "milk 3"]
    relations = links(response)
    assert set(relations) == {"first", "prev", "next", "last"}
    for relation, offset in [("first", 0), ("prev", 0), ("next", 4), ("last", 4)]:
        query = dict(re.findall(r"[?&]([^=]+)=([^&]*)", relations[relation]))
        assert query == {
            "completed": "true",
            "search": "milk",
            "sort": "title",
            "limit": "2",
            "offset": str(offset),
        }, relation


@pytest.mark.parametrize(
    ("sort", "key", "reverse"),
    [
        ("created_at", "created_at", False),
        ("-created_at", "created_at", True),
        ("updated_at", "updated_at", False),
        ("-updated_at", "updated_at", True),
        ("title", "title", False),
        ("-title", "title", True),
        ("id", "id", False),
        ("-id", "id", True),
    ],
)
async def test_every_sort_order_breaks_ties_by_id(
    alice: ApiUser, sort: str, key: str, reverse: bool
) -> None:
    tasks = await create_many(alice, ["pear", "apple", "pear", "fig", "apple"])
    # Touch the first task so that updated_at differs from created_at order.
    await alice.request("PATCH", f"/{tasks[0]['id']}", json={"description": "touched"})
    current = {task["id"]: task for task in (await alice.request("GET")).json()}

    response = await alice.request("GET", params={"sort": sort})

    expected = sorted(current.values(), key=lambda task: (task[key], task["id"]), reverse=reverse)
    assert ids(response) == [task["id"] for task in expected]


async def test_offset_past_the_end_is_an_empty_page_with_the_total(alice: ApiUser) -> None:
    await create_many(alice, ["a", "b", "c"])

    response = await alice.request("GET", params={"limit": 2, "offset": 10})

    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["x-total-count"] == "3"
    relations = links(response)
    assert "next" not in relations
    assert relations["prev"].endswith("offset=2")
    assert relations["last"].endswith("offset=2")


async def test_total_counts_only_the_callers_matching_tasks(alice: ApiUser, bob: ApiUser) -> None:
    await create_many(alice, ["a", "b"], completed=True)
    await alice.create(title="c")
    await create_many(bob, ["x", "y", "z"], completed=True)

    response = await alice.request("GET", params={"completed": "true", "limit": 1})

    assert response.headers["x-total-count"] == "2"
    assert len(response.json()) == 1


@pytest.mark.parametrize(
    ("params", "field", "allowed"),
    [
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"limit": 501}, "limit", "less than or equal to 500"),
        ({"limit": "ten"}, "limit", "valid integer"),
        ({"offset": -1}, "offset", "greater than or equal to 0"),
        ({"offset": 2**63}, "offset", "less than or equal to"),
        ({"sort": "colour"}, "sort", "'-created_at'"),
        ({"sort": "--id"}, "sort", "'created_at'"),
    ],
)
async def test_bad_paging_parameters_are_422_saying_what_is_allowed(
    alice: ApiUser, params: dict[str, Any], field: str, allowed: str
) -> None:
    response = await alice.request("GET", params=params)

    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert allowed in error["msg"]


async def test_paging_headers_are_exposed_to_browsers(alice: ApiUser) -> None:
    response = await alice.request("GET", headers={"Origin": "http://localhost:3000"})

    exposed = {
        name.strip().lower()
        for name in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"x-total-count", "link", "etag", "location"} <= exposed
