"""PATCH changes only what the body names; /complete toggles, or sets when told a value."""

from typing import Any

import pytest

from support import ApiUser


async def test_patch_changes_only_the_fields_present(alice: ApiUser) -> None:
    task = await alice.create(title="Old", description="keep me", completed=True)

    response = await alice.request("PATCH", f"/{task['id']}", json={"title": "New"})

    assert response.status_code == 200
    patched = response.json()
    assert patched["title"] == "New"
    assert patched["description"] == "keep me"
    assert patched["completed"] is True
    assert patched["created_at"] == task["created_at"]
    assert patched["updated_at"] > task["updated_at"]
    assert patched["version"] == task["version"] + 1
    assert (await alice.request("GET", f"/{task['id']}")).json() == patched


async def test_patch_with_null_description_clears_it(alice: ApiUser) -> None:
    task = await alice.create(title="T", description="old text")

    response = await alice.request("PATCH", f"/{task['id']}", json={"description": None})

    assert response.status_code == 200
    assert response.json()["description"] is None
    assert response.json()["title"] == "T"


async def test_patch_accepts_merge_patch_media_type(alice: ApiUser) -> None:
    task = await alice.create(title="T")

    response = await alice.request(
        "PATCH",
        f"/{task['id']}",
        content=b'{"completed": true}',
        headers={"Content-Type": "application/merge-patch+json"},
    )

    assert response.status_code == 200
    assert response.json()["completed"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"completed": None}, "completed"),
        ({"completed": "yes"}, "completed"),
        ({"description": "d" * 1001}, "description"),
        ({"colour": "red"}, "colour"),
        ({"priority": None}, "priority"),
        ({"priority": "HIGH"}, "priority"),
        ({"due_at": "2026-12-01T09:00"}, "due_at"),
    ],
)
async def test_invalid_patches_are_422_and_change_nothing(
    alice: ApiUser, body: dict[str, Any], field: str
) -> None:
    task = await alice.create(title="Stay", description="as is")

    response = await alice.request("PATCH", f"/{task['id']}", json=body)

    assert response.status_code == 422, response.text
    assert any(error["loc"][:2] == ["body", field] for error in response.json()["detail"])
    assert (await alice.request("GET", f"/{task['id']}")).json() == task


async def test_patch_of_a_missing_or_foreign_task_is_404(alice: ApiUser, bob: ApiUser) -> None:
    bobs = await bob.create(title="Bob's")

    for task_id in (4242, bobs["id"]):
        response = await alice.request("PATCH", f"/{task_id}", json={"title": "mine now"})
        assert response.status_code == 404
    assert (await bob.request("GET", f"/{bobs['id']}")).json()["title"] == "Bob's"


@pytest.mark.parametrize("value", [True, False])
async def test_complete_with_a_value_sets_it_and_is_idempotent(alice: ApiUser, value: bool) -> None:
    task = await alice.create(title="Set", completed=not value)

    first = await alice.request("PATCH", f"/{task['id']}/complete", json={"completed": value})
    retried = await alice.request("PATCH", f"/{task['id']}/complete", json={"completed": value})

    assert first.status_code == retried.status_code == 200
    assert first.json()["completed"] is value
    assert retried.json()["completed"] is value


async def test_complete_without_a_body_still_toggles(alice: ApiUser) -> None:
    task = await alice.create(title="Flip")

    on = await alice.request("PATCH", f"/{task['id']}/complete")
    off = await alice.request("PATCH", f"/{task['id']}/complete", content=b"")

    assert on.json()["completed"] is True
    assert off.json()["completed"] is False


@pytest.mark.parametrize("body", [{}, {"completed": None}, {"completed": "true"}, {"done": True}])
async def test_complete_with_a_bad_body_is_422(alice: ApiUser, body: dict[str, Any]) -> None:
    task = await alice.create(title="Flip")

    response = await alice.request("PATCH", f"/{task['id']}/complete", json=body)

    assert response.status_code == 422
    assert (await alice.request("GET", f"/{task['id']}")).json()["completed"] is False
