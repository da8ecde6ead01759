"""Rate limits: per user (writes stricter than reads), per client IP when unauthenticated,
in memory or shared through Redis, and served anyway (fail open) while Redis is down."""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from backend.main import create_app

from processes import ThrowawayRedis
from support import ApiUser, make_settings, serving, token_for

QUOTAS = {"rate_limit_reads": 5, "rate_limit_writes": 2, "rate_limit_anonymous": 3}


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[AsyncClient]:
    app = create_app(make_settings(database_url, **QUOTAS))
    async with serving(app) as client:
        yield client


def user(client: AsyncClient, user_id: str) -> ApiUser:
    return ApiUser(client, user_id, token_for(user_id))


async def test_every_limited_response_carries_the_ietf_headers(limited: AsyncClient) -> None:
    alice = user(limited, "alice-id")

    first = await alice.request("GET")
    second = await alice.request("GET")

    assert first.status_code == 200
    assert first.headers["ratelimit-policy"] == '"reads";q=5;w=60'
    assert first.headers["ratelimit"].startswith('"reads";r=4;t=')
    assert second.headers["ratelimit"].startswith('"reads";r=3;t=')
    seconds_left = int(second.headers["ratelimit"].rpartition("t=")[2])
    assert 1 <= seconds_left <= 60


async def test_over_quota_is_429_with_retry_after(limited: AsyncClient) -> None:
    alice = user(limited, "alice-id")
    statuses = [(await alice.request("GET")).status_code for _ in range(5)]

    refused = await alice.request("GET")

    assert statuses == [200] * 5
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert refused.headers["ratelimit"] == f'"reads";r=0;t={retry_after}'
    assert refused.headers["ratelimit-policy"] == '"reads";q=5;w=60'
    assert refused.json() == {
        "detail": {
            "error": "Too many requests, slow down",
            "policy": "reads",
            "retry_after": retry_after,
        }
    }


async def test_writes_have_their_own_stricter_quota(limited: AsyncClient) -> None:
    alice = user(limited, "alice-id")

    writes = [(await alice.request("POST", json={"title": "t"})).status_code for _ in range(3)]
    read = await alice.request("GET")

    assert writes == [201, 201, 429]
    assert read.status_code == 200
    assert len(read.json()) == 2


async def test_each_user_has_a_quota_of_their_own(limited: AsyncClient) -> None:
    alice, bob = user(limited, "alice-id"), user(limited, "bob-id")
    for _ in range(2):
        await alice.request("POST", json={"title": "t"})

    assert (await alice.request("POST", json={"title": "t"})).status_code == 429
    assert (await bob.request("POST", json={"title": "t"})).status_code == 201


async def test_unauthenticated_requests_are_limited_per_client_ip(limited: AsyncClient) -> None:
    statuses = [(await limited.get("/api/alice-id/tasks")).status_code for _ in range(4)]
    bad_token = {"Authorization": "Bearer not-a-jwt"}
    with_bad_token = await limited.get("/api/alice-id/tasks", headers=bad_token)
    docs = await limited.get("/openapi.json")
    signed_in = await user(limited, "alice-id").request("GET")

    assert statuses == [401, 401, 401, 429]
    assert with_bad_token.status_code == 429
    assert with_bad_token.headers["ratelimit-policy"] == '"anonymous";q=3;w=60'
    assert docs.status_code == 429
    assert signed_in.status_code == 200


async def test_probes_and_metrics_are_never_limited(limited: AsyncClient) -> None:
    statuses = {
        (await limited.get(path)).status_code
        for path in ("/healthz", "/readyz", "/metrics")
        for _ in range(5)
    }
    response = await limited.get("/healthz")

    assert statuses == {200}
    assert "ratelimit" not in response.headers


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(database_url: str) -> None:
    async def statuses(app: FastAPI, forwarded_for: list[str]) -> list[int]:
        async with serving(app) as client:
            return [
                (await client.get("/openapi.json", headers={"X-Forwarded-For": ip})).status_code
                for ip in forwarded_for
            ]

    clients = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] * 2
    direct = create_app(make_settings(database_url, **QUOTAS))
    behind_proxy = create_app(make_settings(database_url, trusted_proxies="127.0.0.1/32", **QUOTAS))

    assert await statuses(direct, clients) == [200, 200, 200] + [429] * 5
    assert await statuses(behind_proxy, clients) == [200] * 8


async def test_limits_can_be_turned_off(database_url: str) -> None:
    app = create_app(make_settings(database_url, rate_limit_enabled=False, **QUOTAS))

    async with serving(app) as client:
        statuses = {(await client.get("/api/alice-id/tasks")).status_code for _ in range(6)}
        response = await client.get("/openapi.json")

    assert statuses == {401}
    assert "ratelimit" not in response.headers


def redis_settings(database_url: str, redis_url: str, prefix: str, **overrides: Any) -> Any:
    return make_settings(
        database_url, redis_url=redis_url, redis_key_prefix=prefix, **{**QUOTAS, **overrides}
    )


async def test_instances_sharing_redis_share_a_users_quota(
    database_url: str, redis_url: str, redis_prefix: str
) -> None:
    first = create_app(redis_settings(database_url, redis_url, redis_prefix))
    second = create_app(redis_settings(database_url, redis_url, redis_prefix))

    async with serving(first) as one, serving(second) as two:
        alice_one, alice_two = user(one, "alice-id"), user(two, "alice-id")
        statuses = [
            (await alice.request("POST", json={"title": "t"})).status_code
            for alice in (alice_one, alice_two, alice_one, alice_two)
        ]
        bob = await user(two, "bob-id").request("POST", json={"title": "t"})

    assert statuses == [201, 201, 429, 429]
    assert bob.status_code == 201


async def test_concurrent_requests_never_overrun_a_redis_quota(
    database_url: str, redis_url: str, redis_prefix: str
) -> None:
    apps = [
        create_app(redis_settings(database_url, redis_url, redis_prefix, rate_limit_reads=10))
        for _ in range(2)
    ]

    async with serving(apps[0]) as one, serving(apps[1]) as two:
        users = [user(one, "alice-id"), user(two, "alice-id")]
        responses = await asyncio.gather(*(users[n % 2].request("GET") for n in range(30)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 10 + [429] * 20


async def test_requests_are_served_while_redis_is_down(
    database_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    redis = ThrowawayRedis()
    redis.start()
    app = create_app(redis_settings(database_url, redis.url, redis_prefix, redis_timeout_seconds=1))
    try:
        async with serving(app) as client:
            alice = user(client, "alice-id")
            limited = [(await alice.request("GET")).status_code for _ in range(6)]

            redis.stop()
            with caplog.at_level(logging.WARNING, logger="backend.rate_limit"):
                unlimited = [await alice.request("GET") for _ in range(8)]
            metrics = (await client.get("/metrics")).text

            redis.start()

            async def enforced_again() -> bool:
                return (await alice.request("GET")).status_code == 429

            deadline = asyncio.get_running_loop().time() + 30
            while not await enforced_again():
                assert asyncio.get_running_loop().time() < deadline, "limits never came back"
                await asyncio.sleep(0.2)
    finally:
        redis.stop()

    assert limited == [200] * 5 + [429]
    assert [response.status_code for response in unlimited] == [200] * 8
    assert all("ratelimit" not in response.headers for response in unlimited)
    assert "Redis unreachable" in caplog.text
    assert caplog.text.count("Redis unreachable") == 1
    assert "rate_limit_fail_open_total 8.0" in metrics.splitlines()
