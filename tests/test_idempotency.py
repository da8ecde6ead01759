"""Idempotency-Key on POST: a retry replays the first response and creates nothing."""

import asyncio
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from backend.config import Settings
from backend.idempotency import IdempotencyKeys, fingerprint, key_table, purge_expired
from backend.main import create_app
from backend.models import utc_now
from backend.schemas import TaskCreate
from backend.sql_runner import StatementRunner
from backend.task_store import OwnedTasks

from support import ApiUser, serving, token_for

KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


async def count_tasks(user: ApiUser) -> int:
    response = await user.request("GET", params={"limit": 1})
    return int(response.headers["x-total-count"])


async def test_a_retry_replays_the_first_response_and_creates_nothing(alice: ApiUser) -> None:
    body = {"title": "Pay rent", "description": "before the 1st"}
    first = await alice.request("POST", json=body, headers={"Idempotency-Key": KEY})
    # The same request, spelled differently, is the same request.
    retry = await alice.request(
        "POST",
        content=b'{ "description": "before the 1st",  "title": "Pay rent" }',
        headers={"Idempotency-Key": KEY, "Content-Type": "application/json"},
    )

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count_tasks(alice) == 1


async def test_replay_is_the_first_response_even_after_the_task_changed(alice: ApiUser) -> None:
    first = await alice.request("POST", json={"title": "v1"}, headers={"Idempotency-Key": KEY})
    await alice.request("PATCH", f"/{first.json()['id']}", json={"title": "v2"})

    retry = await alice.request("POST", json={"title": "v1"}, headers={"Idempotency-Key": KEY})

    assert retry.json() == first.json()
    assert await count_tasks(alice) == 1


async def test_same_key_with_a_different_body_is_422(alice: ApiUser) -> None:
    await alice.request("POST", json={"title": "one"}, headers={"Idempotency-Key": KEY})

    response = await alice.request(
        "POST", json={"title": "another"}, headers={"Idempotency-Key": KEY}
    )

    assert response.status_code == 422
    assert "different request body" in response.json()["detail"]["error"]
    assert await count_tasks(alice) == 1


async def test_keys_are_scoped_to_their_user(alice: ApiUser, bob: ApiUser) -> None:
    mine = await alice.request("POST", json={"title": "same"}, headers={"Idempotency-Key": KEY})
    theirs = await bob.request("POST", json={"title": "same"}, headers={"Idempotency-Key": KEY})

    assert mine.status_code == theirs.status_code == 201
    assert theirs.json()["user_id"] == bob.id
    assert "idempotent-replayed" not in theirs.headers
    assert await count_tasks(bob) == 1


async def test_without_a_key_every_post_creates(alice: ApiUser) -> None:
    await alice.create(title="same")
    await alice.create(title="same")

    assert await count_tasks(alice) == 2


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\there", "ünïcode", " "])
async def test_malformed_keys_are_400_and_create_nothing(alice: ApiUser, key: str) -> None:
    response = await alice.request(
        "POST", json={"title": "x"}, headers={"Idempotency-Key": key.encode()}
    )

    assert response.status_code == 400
    assert response.json()["detail"]["header"] == "Idempotency-Key"
    assert await count_tasks(alice) == 0


async def test_longest_key_and_quoted_draft_keys_are_accepted(alice: ApiUser) -> None:
    for key in ("k" * 255, f'"{KEY}"', "a b"):
        response = await alice.request(
            "POST", json={"title": key[:50]}, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 201, key


async def test_invalid_body_with_a_key_is_422_and_stores_no_key(alice: ApiUser) -> None:
    rejected = await alice.request("POST", json={"title": ""}, headers={"Idempotency-Key": KEY})
    accepted = await alice.request("POST", json={"title": "ok"}, headers={"Idempotency-Key": KEY})

    assert rejected.status_code == 422
    assert accepted.status_code == 201
    assert "idempotent-replayed" not in accepted.headers


async def test_twenty_concurrent_posts_with_one_key_create_one_task(alice: ApiUser) -> None:
    await alice.create(title="warm up the user row")

    responses = await asyncio.gather(
        *(
            alice.request("POST", json={"title": "once"}, headers={"Idempotency-Key": KEY})
            for _ in range(20)
        )
    )

    # Duplicates wait for the first transaction on the key, then replay its response.
    assert [response.status_code for response in responses] == [201] * 20
    assert len({response.json()["id"] for response in responses}) == 1
    assert sum("idempotent-replayed" in response.headers for response in responses) == 19
    assert await count_tasks(alice) == 2


async def age_keys(engine: AsyncEngine, by: timedelta) -> None:
    async with engine.begin() as connection:
        await connection.execute(update(key_table).values(created_at=utc_now() - by))


async def stored_keys(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(key_table))).scalar_one()


async def test_an_expired_key_is_free_again(engine: AsyncEngine, alice: ApiUser) -> None:
    first = await alice.request("POST", json={"title": "old"}, headers={"Idempotency-Key": KEY})
    await age_keys(engine, timedelta(hours=25))

    again = await alice.request("POST", json={"title": "new"}, headers={"Idempotency-Key": KEY})

    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in again.headers


async def test_purge_deletes_only_expired_keys(
    app: FastAPI, engine: AsyncEngine, alice: ApiUser
) -> None:
    await alice.request("POST", json={"title": "old"}, headers={"Idempotency-Key": "old"})
    await age_keys(engine, timedelta(hours=25))
    await alice.request("POST", json={"title": "new"}, headers={"Idempotency-Key": "new"})

    purged = await purge_expired(app.state.runner, timedelta(hours=24))

    assert purged == 1
    assert await stored_keys(engine) == 1


async def test_keys_survive_a_restart_and_expired_ones_are_purged_at_startup(
    settings: Settings, engine: AsyncEngine
) -> None:
    headers = {"Authorization": f"Bearer {token_for('carol')}", "Idempotency-Key": KEY}
    url = "/api/carol/tasks"
    async with serving(create_app(settings)) as client:
        first = await client.post(url, json={"title": "kept"}, headers=headers)
        await client.post(
            url, json={"title": "old"}, headers={**headers, "Idempotency-Key": "aged"}
        )
        async with engine.begin() as connection:
            await connection.execute(
                update(key_table)
                .where(key_table.c.key == "aged")
                .values(created_at=utc_now() - timedelta(days=2))
            )

    restarted = create_app(settings)
    async with serving(restarted) as client:
        replay = await client.post(url, json={"title": "kept"}, headers=headers)
        for _ in range(100):
            if await stored_keys(engine) == 1:
                break
            await asyncio.sleep(0.05)
        remaining = await stored_keys(engine)

    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert remaining == 1


async def test_a_key_seen_without_its_response_is_409_with_retry_after(
    engine: AsyncEngine, alice: ApiUser
) -> None:
    await alice.create(title="warm up the user row")
    body = {"title": "pending"}
    async with engine.begin() as connection:
        await connection.execute(
            key_table.insert().values(
                user_id=alice.id,
                key=KEY,
                fingerprint=fingerprint(TaskCreate(**body).model_dump(mode="json")),
                created_at=utc_now(),
            )
        )

    response = await alice.request("POST", json=body, headers={"Idempotency-Key": KEY})

    assert response.status_code == 409
    assert response.headers["retry-after"] == "1"
    assert await count_tasks(alice) == 1


async def test_a_create_that_fails_midway_leaves_neither_key_nor_task(
    app: FastAPI, alice: ApiUser
) -> None:
    """Claim, insert and stored response share one transaction: all of them, or none."""
    await alice.create(title="first")  # provisions alice's user row
    tasks = OwnedTasks(app.state.runner, alice.id)
    keys = IdempotencyKeys(app.state.runner, alice.id, timedelta(hours=24))

    async def create_then_fail(runner: StatementRunner) -> Response:
        await tasks.on(runner).create(
            title="never kept",
            description=None,
            completed=False,
            priority="none",
            due_at=None,
            recurrence=None,
            tags=[],
        )
        raise RuntimeError("failed after the insert")

    with pytest.raises(RuntimeError, match="after the insert"):
        await keys.once(KEY, "a-fingerprint", create_then_fail)

    assert await count_tasks(alice) == 1
    retried = await alice.request("POST", json={"title": "kept"}, headers={"Idempotency-Key": KEY})
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert await count_tasks(alice) == 2
