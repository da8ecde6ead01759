"""Users never see or change each other's tasks."""

from support import ApiUser


async def test_another_users_path_is_403_on_all_six_endpoints(alice: ApiUser, bob: ApiUser) -> None:
    task = await bob.create(title="Bob's")
    calls = [
        ("GET", ""),
        ("POST", ""),
        ("GET", f"/{task['id']}"),
        ("PUT", f"/{task['id']}"),
        ("DELETE", f"/{task['id']}"),
        ("PATCH", f"/{task['id']}/complete"),
    ]

    for method, suffix in calls:
        response = await alice.client.request(
            method, bob.url(suffix), headers=alice.headers, json={"title": "hijack"}
        )
        assert response.status_code == 403, (method, suffix)
        assert response.json() == {"detail": {"error": "You can only access your own tasks"}}

    assert (await bob.request("GET")).json() == [task]


async def test_another_users_task_under_my_path_is_404_like_a_missing_one(
    alice: ApiUser, bob: ApiUser
) -> None:
    task = await bob.create(title="Bob's", description="private")
    calls = [
        ("GET", f"/{task['id']}"),
        ("PUT", f"/{task['id']}"),
        ("DELETE", f"/{task['id']}"),
        ("PATCH", f"/{task['id']}/complete"),
    ]

    for method, suffix in calls:
        body = {"title": "hijack"} if method == "PUT" else None
        response = await alice.request(method, suffix, json=body)
        assert response.status_code == 404, method
        assert response.json() == {"detail": {"error": "Task not found", "task_id": task["id"]}}

    assert (await bob.request("GET", f"/{task['id']}")).json() == task


async def test_lists_and_searches_show_only_my_tasks(alice: ApiUser, bob: ApiUser) -> None:
    mine = await alice.create(title="shared word")
    await bob.create(title="shared word")

    listed = (await alice.request("GET")).json()
    searched = (await alice.request("GET", params={"search": "shared"})).json()

    assert listed == [mine]
    assert searched == [mine]


async def test_created_task_belongs_to_the_caller_whatever_the_body_says(
    alice: ApiUser, bob: ApiUser
) -> None:
    response = await alice.request("POST", json={"title": "mine", "user_id": bob.id, "id": 999})

    assert response.status_code == 201
    assert response.json()["user_id"] == alice.id
    assert response.json()["id"] != 999
    assert (await bob.request("GET")).json() == []
