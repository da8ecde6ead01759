"""The API against the real Better Auth library: real sign-ups, real tokens, the real JWKS.

Users sign up on Better Auth servers (the `better-auth` npm package with its in-memory adapter,
email and password, and the `jwt()` plugin) and get their tokens from `/api/auth/token`, as a
frontend does; the API is pointed at them with `BETTER_AUTH_URL` alone.
"""

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.main import create_app
from backend.models import User

from better_auth_server import BetterAuth, BetterAuthUser, running_better_auth
from support import SECRET, make_settings, serving, token_for


@pytest.fixture(scope="session")
def better_auth() -> Iterator[dict[str, BetterAuth]]:
    with running_better_auth() as instances:
        yield instances


@pytest.fixture
def main(better_auth: dict[str, BetterAuth]) -> BetterAuth:
    return better_auth["main"]


def settings_for(database_url: str, instance: BetterAuth, **overrides: Any) -> Settings:
    """BETTER_AUTH_URL only: what an operator sets to connect a Better Auth frontend."""
    values: dict[str, Any] = {"better_auth_secret": None, "better_auth_url": instance.url}
    return make_settings(database_url, **{**values, **overrides})


@pytest.fixture
def settings(database_url: str, main: BetterAuth) -> Settings:
    return settings_for(database_url, main)


@asynccontextmanager
async def api_for(
    database_url: str, instance: BetterAuth, **overrides: Any
) -> AsyncIterator[AsyncClient]:
    async with serving(create_app(settings_for(database_url, instance, **overrides))) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tasks_url(user: BetterAuthUser, suffix: str = "") -> str:
    return f"/api/{user.id}/tasks{suffix}"


async def list_tasks(client: AsyncClient, user: BetterAuthUser, token: str = "") -> Response:
    return await client.get(tasks_url(user), headers=bearer(token or user.token))


def header_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return decoded


def assert_401(response: Response, message_part: str) -> None:
    assert response.status_code == 401, response.text
    assert message_part.lower() in response.json()["detail"]["error"].lower()


async def test_real_tokens_work_and_users_stay_isolated(
    client: AsyncClient, app: FastAPI, main: BetterAuth
) -> None:
    alice, bob = main.sign_up("Alice"), main.sign_up("Bob")
    assert header_of(alice.token)["alg"] == "EdDSA"

    created = await client.post(
        tasks_url(alice), json={"title": "Alice's"}, headers=bearer(alice.token)
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]

    assert [task["title"] for task in (await list_tasks(client, alice)).json()] == ["Alice's"]
    assert (await list_tasks(client, bob)).json() == []
    on_alices_path = await client.get(tasks_url(alice), headers=bearer(bob.token))
    assert on_alices_path.status_code == 403
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(
            method, tasks_url(bob, f"/{task_id}"), headers=bearer(bob.token), json={"title": "x"}
        )
        assert response.status_code == 404, method
    assert (await client.get(tasks_url(alice, f"/{task_id}"), headers=bearer(alice.token))).json()[
        "title"
    ] == "Alice's"


async def test_users_are_provisioned_from_the_better_auth_payload(
    client: AsyncClient, engine: AsyncEngine, main: BetterAuth
) -> None:
    alice = main.sign_up("Alice")

    assert (await list_tasks(client, alice)).status_code == 200

    async with engine.connect() as connection:
        row = (await connection.execute(select(User).where(User.id == alice.id))).one()
    assert (row.id, row.email, row.name) == (alice.id, alice.email, "Alice")


async def test_a_tampered_token_is_401(client: AsyncClient, main: BetterAuth) -> None:
    alice, mallory = main.sign_up("Alice"), main.sign_up("Mallory")
    header, _payload, signature = mallory.token.split(".")
    _header, alices_payload, _signature = alice.token.split(".")

    response = await list_tasks(client, alice, f"{header}.{alices_payload}.{signature}")

    assert_401(response, "signature")


async def test_a_token_expired_by_better_auths_setting_is_401(
    database_url: str, better_auth: dict[str, BetterAuth]
) -> None:
    instance = better_auth["expired"]
    alice = instance.sign_up("Alice")

    async with api_for(database_url, instance) as client:
        assert_401(await list_tasks(client, alice), "expired")


async def test_a_token_of_another_better_auth_instance_is_401(
    client: AsyncClient, main: BetterAuth, better_auth: dict[str, BetterAuth]
) -> None:
    stranger = better_auth["other"].sign_up("Alice")
    known_kid = main.jwks()["keys"][0]["kid"]
    _header, payload, signature = stranger.token.split(".")
    relabelled_header = base64.urlsafe_b64encode(
        json.dumps({**header_of(stranger.token), "kid": known_kid}).encode()
    ).rstrip(b"=")

    assert_401(
        await list_tasks(client, stranger), f"not among the keys at {main.url}/api/auth/jwks"
    )
    relabelled = f"{relabelled_header.decode()}.{payload}.{signature}"
    assert_401(await list_tasks(client, stranger, relabelled), "signature")


async def test_the_issuer_and_audience_must_match(database_url: str, main: BetterAuth) -> None:
    alice = main.sign_up("Alice")

    async with api_for(database_url, main, jwt_audience="https://other-api.example") as client:
        assert_401(await list_tasks(client, alice), "audience")
    async with api_for(database_url, main, jwt_issuer="https://other-auth.example") as client:
        assert_401(await list_tasks(client, alice), "issuer")


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
async def test_es256_and_rs256_configurations_work(
    database_url: str, better_auth: dict[str, BetterAuth], algorithm: str
) -> None:
    instance = better_auth[algorithm.lower()]
    alice, bob = instance.sign_up("Alice"), instance.sign_up("Bob")
    assert header_of(alice.token)["alg"] == algorithm

    async with api_for(database_url, instance) as client:
        created = await client.post(
            tasks_url(alice), json={"title": "t"}, headers=bearer(alice.token)
        )
        assert created.status_code == 201
        assert (await list_tasks(client, bob)).json() == []
        assert (await client.get(tasks_url(alice), headers=bearer(bob.token))).status_code == 403


async def test_hs256_tokens_keep_working_beside_better_auth(
    database_url: str, main: BetterAuth
) -> None:
    alice = main.sign_up("Alice")

    async with api_for(database_url, main, better_auth_secret=SECRET) as client:
        assert (await list_tasks(client, alice)).status_code == 200
        self_minted = token_for("service-id")
        response = await client.get("/api/service-id/tasks", headers=bearer(self_minted))
        assert response.status_code == 200


async def test_key_rotation(database_url: str, better_auth: dict[str, BetterAuth]) -> None:
    instance = better_auth["rotating"]
    alice = instance.sign_up("Alice")
    old_token = alice.token

    async with api_for(database_url, instance, jwks_cache_ttl_seconds=1) as client:
        assert (await list_tasks(client, alice, old_token)).status_code == 200

        instance.rotate_keys()
        new_token = instance.new_token(alice)
        assert header_of(new_token)["kid"] != header_of(old_token)["kid"]
        # The rotated-in key works at once; the old one still does during the grace period.
        assert (await list_tasks(client, alice, new_token)).status_code == 200
        assert (await list_tasks(client, alice, old_token)).status_code == 200

        instance.retire_rotated_keys()
        assert [key["kid"] for key in instance.jwks()["keys"]] == [header_of(new_token)["kid"]]
        # Gone from Better Auth's JWKS, the old key stops working after the next refresh.
        for _ in range(300):
            if (await list_tasks(client, alice, old_token)).status_code == 401:
                break
            await asyncio.sleep(0.05)
        assert_401(await list_tasks(client, alice, old_token), "key is not among the keys at")
        assert (await list_tasks(client, alice, new_token)).status_code == 200


async def test_a_better_auth_url_naming_another_host_is_told_the_issuer_expected(
    database_url: str, main: BetterAuth
) -> None:
    # Better Auth runs as 127.0.0.1 and signs that origin; the API was told localhost.
    localhost_url = main.url.replace("127.0.0.1", "localhost")
    alice = main.sign_up("Alice")

    async with api_for(database_url, BetterAuth(localhost_url)) as client:
        response = await list_tasks(client, alice)

    assert_401(response, f"Token issuer is not accepted: expected iss '{localhost_url}'")
