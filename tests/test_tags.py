"""Tags: written with tasks, listed, filtered on, renamed and deleted, each user's their own."""

from typing import Any

import pytest

from support import ApiUser


async def _tags_request(user: ApiUser, method: str, name: str = "", **kwargs: Any) -> Any:
    suffix = f"/{name}" if name else ""
    return await user.client.request(
        method, f"/api/{user.id}/tags{suffix}", headers=user.headers, **kwargs
    )


async def _tag_list(user: ApiUser) -> list[dict[str, Any]]:
    response = await _tags_request(user, "GET")
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def _titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()]


async def test_a_task_has_no_tags_unless_given_some(alice: ApiUser) -> None:
    task = await alice.create(title="Plain")

    assert task["tags"] == []
    assert task["recurrence"] is None
    assert await _tag_list(alice) == []


async def test_tags_are_trimmed_collapsed_case_insensitively_and_sorted(alice: ApiUser) -> None:
    task = await alice.create(title="Shop", tags=[" errands ", "Home", "home", "b", "ERRANDS"])

    assert task["tags"] == ["b", "errands", "Home"]
    fetched = await alice.request("GET", f"/{task['id']}")
    assert fetched.json()["tags"] == ["b", "errands", "Home"]
    listed = await alice.request("GET")
    assert listed.json()[0]["tags"] == ["b", "errands", "Home"]


async def test_the_first_spelling_a_user_created_is_kept(alice: ApiUser) -> None:
    await alice.create(title="one", tags=["Home"])
    second = await alice.create(title="two", tags=["HOME", "new"])

    assert second["tags"] == ["Home", "new"]
    assert await _tag_list(alice) == [{"name": "Home", "count": 2}, {"name": "new", "count": 1}]


async def test_put_replaces_tags_patch_changes_them_only_when_sent(alice: ApiUser) -> None:
    task = await alice.create(title="Plan", tags=["a", "b"])
    url = f"/{task['id']}"

    patched = (await alice.request("PATCH", url, json={"title": "Renamed"})).json()
    assert patched["tags"] == ["a", "b"]
    patched = (await alice.request("PATCH", url, json={"tags": ["b", "c"]})).json()
    assert patched["tags"] == ["b", "c"]
    assert patched["version"] == task["version"] + 2
    replaced = (await alice.request("PUT", url, json={"title": "Only a title"})).json()
    assert replaced["tags"] == []
    assert await _tag_list(alice) == []
    replaced = (await alice.request("PUT", url, json={"title": "t", "tags": ["d"]})).json()
    assert replaced["tags"] == ["d"]
    assert (await alice.request("GET", url)).json()["tags"] == ["d"]


async def test_tag_filter_needs_every_tag_named_and_combines_with_the_rest(
    alice: ApiUser,
) -> None:
    await alice.create(title="both", tags=["errands", "Home"], priority="high")
    await alice.create(title="errands only", tags=["errands"], priority="high")
    await alice.create(title="home only", tags=["home"])
    await alice.create(title="none")

    errands = await alice.request("GET", params={"tag": "ERRANDS", "sort": "title"})
    assert _titles(errands) == ["both", "errands only"]
    assert errands.headers["x-total-count"] == "2"
    both = await alice.request("GET", params=[("tag", "errands"), ("tag", "home")])
    assert _titles(both) == ["both"]
    assert both.headers["x-total-count"] == "1"
    paged = await alice.request(
        "GET", params={"tag": "errands", "priority": "high", "sort": "id", "limit": 1}
    )
    assert _titles(paged) == ["both"]
    assert paged.headers["x-total-count"] == "2"
    assert "tag=errands" in paged.headers["link"]
    unknown = await alice.request("GET", params={"tag": "nothing"})
    assert _titles(unknown) == []
    assert unknown.headers["x-total-count"] == "0"


async def test_rename_respells_renames_and_merges_onto_an_existing_tag(alice: ApiUser) -> None:
    first = await alice.create(title="first", tags=["shop", "Home"])
    second = await alice.create(title="second", tags=["groceries"])

    respelled = await _tags_request(alice, "PATCH", "HOME", json={"name": "home"})
    assert respelled.status_code == 200, respelled.text
    assert respelled.json() == {"name": "home", "count": 1}
    renamed = await _tags_request(alice, "PATCH", "shop", json={"name": "Errands"})
    assert renamed.json() == {"name": "Errands", "count": 1}
    merged = await _tags_request(alice, "PATCH", "groceries", json={"name": "errands"})
    assert merged.json() == {"name": "errands", "count": 2}

    assert await _tag_list(alice) == [{"name": "errands", "count": 2}, {"name": "home", "count": 1}]
    fetched = (await alice.request("GET", f"/{first['id']}")).json()
    assert fetched["tags"] == ["errands", "home"]
    # Each task whose tags changed has a new version, so a cached copy is not current.
    assert fetched["version"] > first["version"]
    moved = (await alice.request("GET", f"/{second['id']}")).json()
    assert (moved["tags"], moved["version"] > second["version"]) == (["errands"], True)
    filtered = await alice.request("GET", params={"tag": "errands", "sort": "id"})
    assert _titles(filtered) == ["first", "second"]


async def test_merging_a_tag_onto_one_the_same_task_carries_keeps_it_once(
    alice: ApiUser,
) -> None:
    task = await alice.create(title="t", tags=["a", "b"])

    merged = await _tags_request(alice, "PATCH", "a", json={"name": "b"})

    assert merged.json() == {"name": "b", "count": 1}
    assert (await alice.request("GET", f"/{task['id']}")).json()["tags"] == ["b"]


async def test_delete_takes_the_tag_off_every_task(alice: ApiUser) -> None:
    first = await alice.create(title="first", tags=["a", "b"])
    await alice.create(title="second", tags=["A"])

    deleted = await _tags_request(alice, "DELETE", "a")
    assert deleted.status_code == 204
    assert await _tag_list(alice) == [{"name": "b", "count": 1}]
    fetched = (await alice.request("GET", f"/{first['id']}")).json()
    assert fetched["tags"] == ["b"]
    assert fetched["version"] == first["version"] + 1
    again = await _tags_request(alice, "DELETE", "a")
    assert again.status_code == 404
    assert again.json()["detail"]["tag"] == "a"


async def test_a_tag_no_task_carries_disappears_and_may_come_back_respelled(
    alice: ApiUser,
) -> None:
    task = await alice.create(title="t", tags=["Home"])
    await alice.request("DELETE", f"/{task['id']}")

    assert await _tag_list(alice) == []
    missing = await _tags_request(alice, "PATCH", "home", json={"name": "x"})
    assert missing.status_code == 404
    again = await alice.create(title="again", tags=["HOME"])
    assert again["tags"] == ["HOME"]
    assert await _tag_list(alice) == [{"name": "HOME", "count": 1}]


async def test_tags_are_isolated_between_users(alice: ApiUser, bob: ApiUser) -> None:
    await alice.create(title="alice's", tags=["Home"])
    bobs = await bob.create(title="bob's", tags=["home", "secret"])

    assert bobs["tags"] == ["home", "secret"]
    assert await _tag_list(alice) == [{"name": "Home", "count": 1}]
    assert _titles(await alice.request("GET", params={"tag": "secret"})) == []
    assert (await _tags_request(alice, "PATCH", "secret", json={"name": "x"})).status_code == 404
    assert (await _tags_request(alice, "DELETE", "secret")).status_code == 404
    renamed = await _tags_request(alice, "PATCH", "home", json={"name": "secret"})
    assert renamed.json() == {"name": "secret", "count": 1}
    assert await _tag_list(bob) == [{"name": "home", "count": 1}, {"name": "secret", "count": 1}]
    others = await alice.client.get(f"/api/{bob.id}/tags", headers=alice.headers)
    assert others.status_code == 403


async def test_a_tag_with_a_slash_is_one_path_parameter(alice: ApiUser) -> None:
    await alice.create(title="t", tags=["a/b"])

    renamed = await _tags_request(alice, "PATCH", "a%2Fb", json={"name": "c/d"})

    assert renamed.json() == {"name": "c/d", "count": 1}


@pytest.mark.parametrize(
    "tags",
    [
        [""],
        ["   "],
        ["x" * 51],
        ["tab\there"],
        ["nul\x00"],
        ["del\x7f"],
        [f"tag {number}" for number in range(21)],
        "errands",
        [3],
        None,
    ],
)
async def test_bad_tags_are_422_naming_the_field(alice: ApiUser, tags: Any) -> None:
    response = await alice.request("POST", json={"title": "t", "tags": tags})

    assert response.status_code == 422, response.text
    assert all(error["loc"][:2] == ["body", "tags"] for error in response.json()["detail"])


@pytest.mark.parametrize(
    "params",
    [{"tag": ""}, {"tag": "x" * 51}, [("tag", f"t{number}") for number in range(21)]],
)
async def test_bad_tag_filters_are_422(alice: ApiUser, params: Any) -> None:
    response = await alice.request("GET", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["query", "tag"]


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "a\nb"}, {}, {"name": "x", "more": 1}])
async def test_a_bad_rename_is_422(alice: ApiUser, body: dict[str, Any]) -> None:
    await alice.create(title="t", tags=["a"])

    response = await _tags_request(alice, "PATCH", "a", json=body)

    assert response.status_code == 422, response.text
