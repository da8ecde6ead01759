"""X-Total-Count stays exact through every kind of write (it is kept by database triggers)."""

import asyncio

from support import ApiUser


async def assert_counts_match_the_lists(user: ApiUser) -> None:
    for completed in (None, "true", "false"):
        params = {"limit": 500} if completed is None else {"limit": 500, "completed": completed}
        response = await user.request("GET", params=params)
        assert response.headers["x-total-count"] == str(len(response.json())), completed


async def test_counts_follow_creates_completions_and_deletes(alice: ApiUser, bob: ApiUser) -> None:
    tasks = [await alice.create(title=f"t{n}", completed=n % 2 == 0) for n in range(6)]
    await bob.create(title="not alice's", completed=True)
    await assert_counts_match_the_lists(alice)

    first, second, third, fourth, fifth, _ = (task["id"] for task in tasks)
    await alice.request("PATCH", f"/{first}/complete")
    await alice.request("PATCH", f"/{second}/complete", json={"completed": True})
    await alice.request("PATCH", f"/{second}/complete", json={"completed": True})
    await alice.request("PUT", f"/{third}", json={"title": "reset", "completed": False})
    await alice.request("PATCH", f"/{fourth}", json={"completed": True, "title": "done"})
    await alice.request("PATCH", f"/{fifth}", json={"title": "renamed only"})
    await alice.request("DELETE", f"/{fourth}")
    await assert_counts_match_the_lists(alice)
    await assert_counts_match_the_lists(bob)


async def test_counts_stay_exact_under_concurrent_writes(alice: ApiUser) -> None:
    await alice.create(title="warm up the user row")

    created = await asyncio.gather(*(alice.create(title=f"c{n}") for n in range(20)))
    await asyncio.gather(
        *(alice.request("PATCH", f"/{task['id']}/complete") for task in created[:15]),
        *(alice.request("DELETE", f"/{task['id']}") for task in created[10:]),
    )

    await assert_counts_match_the_lists(alice)


async def test_searches_are_counted_too(alice: ApiUser) -> None:
    for title in ("milk", "oat milk", "bread"):
        await alice.create(title=title, completed=title == "milk")

    response = await alice.request("GET", params={"search": "milk", "completed": "false"})

    assert response.headers["x-total-count"] == "1"
    assert [task["title"] for task in response.json()] == ["oat milk"]
