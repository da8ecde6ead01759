"""The six endpoints doing their job for their owner."""

import asyncio
from datetime import UTC, datetime

from support import ApiUser


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, f"{value} has no time zone"
    return parsed.astimezone(UTC)


async def test_create_returns_the_task_with_its_location(alice: ApiUser) -> None:
    response = await alice.request(
        "POST", json={"title": "  Buy milk  ", "description": "Two litres"}
    )

    assert response.status_code == 201
    task = response.json()
    assert task["title"] == "Buy milk"
    assert task["description"] == "Two litres"
    assert task["completed"] is False
    assert task["user_id"] == alice.id
    assert response.headers["location"] == alice.url(f"/{task['id']}")
    fetched = await alice.client.get(response.headers["location"], headers=alice.headers)
    assert fetched.json() == task


async def test_created_task_has_equal_aware_utc_timestamps(alice: ApiUser) -> None:
    before = datetime.now(UTC)
    task = await alice.create(title="Clock")

    created_at = parse_time(task["created_at"])
    assert created_at == parse_time(task["updated_at"])
    assert before <= created_at <= datetime.now(UTC)


async def test_create_defaults_and_explicit_completion(alice: ApiUser) -> None:
    plain = await alice.create(title="Plain")
    done = await alice.create(title="Done", completed=True, description=None)

    assert plain["description"] is None
    assert plain["completed"] is False
    assert done["completed"] is True


async def test_list_is_newest_first_and_filters_by_completion(alice: ApiUser) -> None:
    first = await alice.create(title="first")
    second = await alice.create(title="second", completed=True)
    third = await alice.create(title="third")

    everything = (await alice.request("GET")).json()
    done = (await alice.request("GET", params={"completed": "true"})).json()
    open_ = (await alice.request("GET", params={"completed": "false"})).json()

    assert [task["id"] for task in everything] == [third["id"], second["id"], first["id"]]
    assert [task["id"] for task in done] == [second["id"]]
    assert [task["id"] for task in open_] == [third["id"], first["id"]]


async def test_list_of_a_new_user_is_empty(alice: ApiUser) -> None:
    response = await alice.request("GET")

    assert response.status_code == 200
    assert response.json() == []


async def test_get_one_task(alice: ApiUser) -> None:
    task = await alice.create(title="Read me")

    response = await alice.request("GET", f"/{task['id']}")

    assert response.status_code == 200
    assert response.json() == task


async def test_missing_task_is_404_naming_the_id(alice: ApiUser) -> None:
    for method, suffix in [
        ("GET", "/4242"),
        ("PUT", "/4242"),
        ("DELETE", "/4242"),
        ("PATCH", "/4242/complete"),
    ]:
        body = {"title": "x"} if method == "PUT" else None
        response = await alice.request(method, suffix, json=body)
        assert response.status_code == 404, method
        assert response.json() == {"detail": {"error": "Task not found", "task_id": 4242}}


async def test_put_replaces_every_field_and_moves_updated_at(alice: ApiUser) -> None:
    task = await alice.create(title="Old", description="old text", completed=True)

    response = await alice.request("PUT", f"/{task['id']}", json={"title": "New"})

    assert response.status_code == 200
    replaced = response.json()
    assert replaced["title"] == "New"
    assert replaced["description"] is None
    assert replaced["completed"] is False
    assert replaced["created_at"] == task["created_at"]
    assert parse_time(replaced["updated_at"]) > parse_time(task["updated_at"])
    assert (await alice.request("GET", f"/{task['id']}")).json() == replaced


async def test_delete_removes_the_task(alice: ApiUser) -> None:
    task = await alice.create(title="Bye")

    response = await alice.request("DELETE", f"/{task['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert (await alice.request("GET", f"/{task['id']}")).status_code == 404
    assert (await alice.request("DELETE", f"/{task['id']}")).status_code == 404


async def test_deleted_ids_are_never_reused(alice: ApiUser) -> None:
    task = await alice.create(title="Gone")
    await alice.request("DELETE", f"/{task['id']}")

    again = await alice.create(title="New")

    assert again["id"] > task["id"]


async def test_toggle_flips_completion_both_ways(alice: ApiUser) -> None:
    task = await alice.create(title="Flip")

    on = await alice.request("PATCH", f"/{task['id']}/complete")
    off = await alice.request("PATCH", f"/{task['id']}/complete")

    assert on.status_code == off.status_code == 200
    assert on.json()["completed"] is True
    assert off.json()["completed"] is False
    assert on.json()["created_at"] == task["created_at"]
    assert parse_time(on.json()["updated_at"]) > parse_time(task["updated_at"])


async def test_twenty_concurrent_toggles_end_where_they_started(alice: ApiUser) -> None:
    task = await alice.create(title="Contested")

    responses = await asyncio.gather(
        *(alice.request("PATCH", f"/{task['id']}/complete") for _ in range(20))
    )

    assert all(response.status_code == 200 for response in responses)
    assert (
        sorted(response.json()["completed"] for response in responses) == [False] * 10 + [True] * 10
    )
    assert (await alice.request("GET", f"/{task['id']}")).json()["completed"] is False
