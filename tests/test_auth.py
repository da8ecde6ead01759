"""Bearer authentication: who gets in, who gets 401, and what they are told."""

import base64
import json
import logging
import time
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from backend.main import create_app

from support import SECRET, ApiUser, make_settings, serving, token_for

URL = "/api/alice-id/tasks"
OTHER_SECRET = "another-secret-" + "abcdef0123456789" * 4


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(claims: dict[str, Any], secret: str = SECRET, **kwargs: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", **kwargs)


def valid_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "alice-id", "iat": now, "exp": now + 600, **overrides}


async def get_with(client: AsyncClient, authorization: str) -> Any:
    return await client.get(URL, headers={"Authorization": authorization})


async def test_valid_token_is_accepted(client: AsyncClient) -> None:
    response = await get_with(client, f"Bearer {signed(valid_claims())}")

    assert response.status_code == 200


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_scheme_is_case_insensitive(client: AsyncClient, scheme: str) -> None:
    response = await get_with(client, f"{scheme} {signed(valid_claims())}")

    assert response.status_code == 200


async def test_missing_token_is_401_with_a_bearer_challenge(client: AsyncClient) -> None:
    response = await client.get(URL)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.json() == {"detail": {"error": "Missing bearer token"}}


def forged_tokens() -> dict[str, tuple[str, str]]:
    good = signed(valid_claims())
    header, payload, signature = good.split(".")
    other_payload = b64(valid_claims(sub="bob-id"))
    now = int(time.time())
    return {
        "alg none": (f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.", "not allowed"),
        "alg None": (f"{b64({'alg': 'None', 'typ': 'JWT'})}.{payload}.", "not allowed"),
        "alg list": (f"{b64({'alg': ['HS256'], 'typ': 'JWT'})}.{payload}.{signature}", "allowed"),
        "stripped signature": (f"{header}.{payload}.", "signature"),
        "swapped payload": (f"{header}.{other_payload}.{signature}", "signature"),
        "wrong secret": (signed(valid_claims(), OTHER_SECRET), "signature"),
        "expired": (signed(valid_claims(exp=now - 3600, iat=now - 7200)), "Token expired"),
        "missing exp": (signed({"sub": "alice-id", "iat": now}), "'exp'"),
        "missing sub": (signed({"iat": now, "exp": now + 600}), "'sub'"),
        "empty sub": (signed(valid_claims(sub="")), "subject"),
        "nbf in the future": (signed(valid_claims(nbf=now + 3600)), "not yet valid"),
        "iat in the future": (signed(valid_claims(iat=now + 3600)), "not yet valid"),
        "garbage": ("not-a-jwt", "malformed"),
        "HS512 not allowed": (
            jwt.encode(valid_claims(), SECRET, algorithm="HS512"),
            "not allowed",
        ),
        "huge token": ("a" * 20_000, "too large"),
    }


@pytest.mark.parametrize("case", sorted(forged_tokens()))
async def test_bad_tokens_are_401_saying_what_is_wrong(client: AsyncClient, case: str) -> None:
    token, message_part = forged_tokens()[case]

    response = await get_with(client, f"Bearer {token}")

    assert response.status_code == 401
    message = response.json()["detail"]["error"]
    assert message_part.lower() in message.lower()
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="api", error="invalid_token"'
    )


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("Basic YWxpY2U6c2VjcmV0", "Authorization scheme must be Bearer"),
        ("Bearer", "Missing bearer token"),
        ("Bearer    ", "Missing bearer token"),
        ("", "Missing bearer token"),
    ],
)
async def test_malformed_authorization_headers_are_401(
    client: AsyncClient, authorization: str, message: str
) -> None:
    response = await get_with(client, authorization)

    assert response.status_code == 401
    assert response.json()["detail"]["error"] == message


async def test_two_authorization_headers_are_401(client: AsyncClient) -> None:
    token = signed(valid_claims())
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]

    response = await client.get(URL, headers=headers)

    assert response.status_code == 401
    assert response.json()["detail"]["error"] == "Send exactly one Authorization header"


async def test_legacy_user_id_claim_is_accepted(client: AsyncClient) -> None:
    now = int(time.time())
    token = signed({"user_id": "alice-id", "iat": now, "exp": now + 600})

    response = await get_with(client, f"Bearer {token}")

    assert response.status_code == 200


async def test_small_clock_skew_is_tolerated(client: AsyncClient) -> None:
    now = int(time.time())
    slightly_expired = signed(valid_claims(exp=now - 5, iat=now - 600))
    slightly_early = signed(valid_claims(nbf=now + 5))

    assert (await get_with(client, f"Bearer {slightly_expired}")).status_code == 200
    assert (await get_with(client, f"Bearer {slightly_early}")).status_code == 200


async def test_token_in_query_string_is_not_a_credential(client: AsyncClient) -> None:
    token = signed(valid_claims())

    for name in ("token", "access_token", "authorization"):
        response = await client.get(URL, params={name: token})
        assert response.status_code == 401


async def test_authentication_is_decided_before_validation(client: AsyncClient) -> None:
    response = await client.post(URL, content=b"{not json", headers={"Content-Type": "text/plain"})

    assert response.status_code == 401


async def test_unknown_api_paths_need_a_token_too(client: AsyncClient) -> None:
    assert (await client.get("/api/whatever")).status_code == 401


async def test_every_endpoint_requires_a_token(alice: ApiUser, client: AsyncClient) -> None:
    task = await alice.create(title="Mine")
    calls = [
        ("GET", ""),
        ("POST", ""),
        ("GET", f"/{task['id']}"),
        ("PUT", f"/{task['id']}"),
        ("DELETE", f"/{task['id']}"),
        ("PATCH", f"/{task['id']}/complete"),
    ]

    for method, suffix in calls:
        response = await client.request(method, alice.url(suffix), json={"title": "x"})
        assert response.status_code == 401, (method, suffix)
    assert (await alice.request("GET", f"/{task['id']}")).json() == task


async def test_failures_are_logged_with_reason_but_never_the_token(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = signed(valid_claims(), OTHER_SECRET)

    with caplog.at_level(logging.INFO, logger="backend.auth"):
        await get_with(client, f"Bearer {token}")

    assert "reason=bad_signature" in caplog.text
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


async def test_token_for_another_user_is_403_on_my_path(client: AsyncClient) -> None:
    response = await get_with(client, f"Bearer {token_for('mallory-id')}")

    assert response.status_code == 403
    assert response.json() == {"detail": {"error": "You can only access your own tasks"}}


@pytest.mark.parametrize("authorization", ["valid", "Bearer not-a-token"])
async def test_a_token_is_verified_once_per_request(
    app: FastAPI, client: AsyncClient, monkeypatch: pytest.MonkeyPatch, authorization: str
) -> None:
    """Rate limiting counts the caller by the same verification the 401 comes from."""
    verifier = app.state.token_verifier
    verify = verifier.verify
    calls: list[str] = []

    async def counted(token: str) -> Any:
        calls.append(token)
        return await verify(token)

    monkeypatch.setattr(verifier, "verify", counted)
    header = f"Bearer {signed(valid_claims())}" if authorization == "valid" else authorization

    response = await get_with(client, header)

    assert response.status_code == (200 if authorization == "valid" else 401)
    assert "ratelimit" in response.headers
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (
            {"iss": "https://other.example"},
            "issuer is not accepted: expected iss 'https://auth.example'",
        ),
        ({"aud": "other-api"}, "audience is not accepted: expected aud 'task-api'"),
    ],
)
async def test_a_wrong_issuer_or_audience_is_told_what_is_expected(
    database_url: str, claims: dict[str, str], expected: str
) -> None:
    settings = make_settings(
        database_url, jwt_issuer="https://auth.example", jwt_audience="task-api"
    )
    token = signed(valid_claims(**{"iss": "https://auth.example", "aud": "task-api", **claims}))

    async with serving(create_app(settings)) as http:
        response = await get_with(http, f"Bearer {token}")

    assert response.status_code == 401
    assert response.json() == {"detail": {"error": f"Token {expected}"}}
    assert expected in response.headers["www-authenticate"]
    assert SECRET not in response.text
