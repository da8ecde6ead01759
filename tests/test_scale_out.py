"""Two server processes on different ports behind one PostgreSQL and one Redis: what one
instance knows, the other knows, and no request fails: a user's rate limit is shared, an
`Idempotency-Key` replays on the other instance, and an ETag conflict (`If-Match`) is detected
across instances.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from processes import running_server
from support import SECRET, token_for

WRITES_PER_WINDOW = 6


@pytest.fixture
async def two_instances(
    postgresql_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    env = {
        "DATABASE_URL": postgresql_url,
        "BETTER_AUTH_SECRET": SECRET,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": redis_prefix,
        "RATE_LIMIT_WRITES": str(WRITES_PER_WINDOW),
        "LOG_FORMAT": "json",
    }
    headers = {"Authorization": f"Bearer {token_for('alice-id')}"}
    with running_server(env, tmp_path) as first, running_server(env, tmp_path) as second:
        assert first.base_url != second.base_url
        async with (
            httpx.AsyncClient(base_url=first.base_url, headers=headers) as one,
            httpx.AsyncClient(base_url=second.base_url, headers=headers) as two,
        ):
            yield one, two
    # Read once both servers have stopped, so every access line has been written.
    for server in (first, second):
        assert '"status":500' not in server.log()
        assert "Traceback" not in server.log()


async def test_a_users_write_quota_is_shared_by_both_instances(
    two_instances: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    one, two = two_instances
    url = "/api/alice-id/tasks"

    responses = [
        await instance.post(url, json={"title": f"task {n}"})
        for n, instance in enumerate([one, two] * WRITES_PER_WINDOW)
    ]
    listed_one, listed_two = await asyncio.gather(one.get(url), two.get(url))

    statuses = [response.status_code for response in responses]
    assert statuses == [201] * WRITES_PER_WINDOW + [429] * WRITES_PER_WINDOW
    remaining = [response.headers["ratelimit"].split(";")[1] for response in responses]
    assert remaining[:WRITES_PER_WINDOW] == [f"r={n}" for n in reversed(range(WRITES_PER_WINDOW))]
    assert {response.headers["ratelimit-policy"] for response in responses} == {
        f'"writes";q={WRITES_PER_WINDOW};w=60'
    }
    # Either instance sees every task, whichever instance created it.
    assert listed_one.status_code == listed_two.status_code == 200
    assert listed_one.json() == listed_two.json()
    assert len(listed_one.json()) == WRITES_PER_WINDOW


async def test_concurrent_traffic_on_both_instances_has_no_failure(
    two_instances: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    one, two = two_instances
    url = "/api/alice-id/tasks"
    created = (await one.post(url, json={"title": "shared"})).json()

    responses = await asyncio.gather(
        *(instance.patch(f"{url}/{created['id']}/complete") for instance in [one, two] * 2),
        *(instance.get(url) for instance in [two, one] * 10),
    )

    assert {response.status_code for response in responses} == {200}
    final = (await two.get(f"{url}/{created['id']}")).json()
    # Four toggles (within the write quota), each atomic in the database, wherever it ran.
    assert final["completed"] is False


async def test_an_idempotency_key_replays_on_the_other_instance(
    two_instances: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    one, two = two_instances
    url = "/api/alice-id/tasks"
    key = {"Idempotency-Key": "0d4c6f55-7a51-4a7e-9b5e-3f1a4c1e2b77"}

    first = await one.post(url, json={"title": "once"}, headers=key)
    retried = await two.post(url, json={"title": "once"}, headers=key)
    listed = await two.get(url)

    assert first.status_code == retried.status_code == 201
    assert retried.json() == first.json()
    assert retried.headers["location"] == first.headers["location"]
    assert retried.headers["idempotent-replayed"] == "true"
    assert [task["id"] for task in listed.json()] == [first.json()["id"]]


async def test_an_etag_conflict_is_detected_across_instances(
    two_instances: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    one, two = two_instances
    url = "/api/alice-id/tasks"
    created = await one.post(url, json={"title": "draft"})
    task_url = f"{url}/{created.json()['id']}"
    etag = {"If-Match": created.headers["etag"]}

    won = await one.patch(task_url, json={"title": "edited on one"}, headers=etag)
    lost = await two.patch(task_url, json={"title": "edited on two"}, headers=etag)

    assert won.status_code == 200
    assert lost.status_code == 412
    assert lost.headers["etag"] == won.headers["etag"]
    assert (await two.get(task_url)).json()["title"] == "edited on one"
