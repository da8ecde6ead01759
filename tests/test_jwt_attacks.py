"""Forged and abused tokens, against both key modes: HS256 with the secret, and JWKS keys.

The API runs with both modes on (`BETTER_AUTH_SECRET` and a real JWKS endpoint on loopback) and
with `JWT_ISSUER`/`JWT_AUDIENCE` set, as a deployment next to Better Auth would. Every forgery
is 401 unless noted.
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from httpx import AsyncClient, Response

from backend.config import Settings
from backend.main import build_token_verifier

from jwks_server import JwksServer, SigningKey, claims_for, serving_jwks
from support import SECRET, make_settings

ISSUER = "http://127.0.0.1:3000"
MODES = ["secret", "jwks"]


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("better-auth-key")


@pytest.fixture
def jwks(key: SigningKey) -> Iterator[JwksServer]:
    with serving_jwks(key) as server:
        yield server


@pytest.fixture
def settings(database_url: str, jwks: JwksServer) -> Settings:
    return make_settings(
        database_url,
        jwt_jwks_url=jwks.url,
        jwt_issuer=ISSUER,
        jwt_audience=ISSUER,
        jwks_fetch_timeout_seconds=1,
    )


Signer = Callable[..., str]


@pytest.fixture(params=MODES)
def sign(request: pytest.FixtureRequest, key: SigningKey) -> Signer:
    """Signs claims (Better Auth's shape, our issuer and audience) the way the mode does."""

    def signer(user_id: str = "alice-id", drop: tuple[str, ...] = (), **overrides: Any) -> str:
        claims = claims_for(user_id, **{"iss": ISSUER, "aud": ISSUER, **overrides})
        for name in drop:
            del claims[name]
        if request.param == "secret":
            return jwt.encode(claims, SECRET, algorithm="HS256")
        return key.sign(claims)

    return signer


def genuine_claims() -> dict[str, Any]:
    return claims_for("alice-id", iss=ISSUER, aud=ISSUER)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(data: Any) -> str:
    return b64(json.dumps(data, separators=(",", ":")).encode())


def with_header(token: str, **changes: Any) -> str:
    """The token with its header changed and its signature kept (so no longer matching)."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(header + "=="))
    return f"{b64json({**decoded, **changes})}.{payload}.{signature}"


async def get_tasks(client: AsyncClient, bearer: str, user_id: str = "alice-id") -> Response:
    return await client.get(f"/api/{user_id}/tasks", headers={"Authorization": f"Bearer {bearer}"})


def assert_401(response: Response, message_part: str = "") -> None:
    assert response.status_code == 401, response.text
    assert message_part.lower() in response.json()["detail"]["error"].lower()
    assert response.headers["www-authenticate"].startswith('Bearer realm="api"')


async def test_the_genuine_token_of_each_mode_works(client: AsyncClient, sign: Signer) -> None:
    assert (await get_tasks(client, sign())).status_code == 200


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(client: AsyncClient, sign: Signer, alg: str) -> None:
    _header, payload, _signature = sign().split(".")
    unsigned = f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': 'better-auth-key'})}.{payload}."

    assert_401(await get_tasks(client, unsigned), "algorithm")


@pytest.mark.parametrize("key_form", ["pem", "jwk-json", "raw"])
@pytest.mark.parametrize("secret_on", [True, False], ids=["secret-on", "jwks-only"])
async def test_hs256_signed_with_the_public_key_is_refused(
    client: AsyncClient,
    app: FastAPI,
    key: SigningKey,
    database_url: str,
    jwks: JwksServer,
    key_form: str,
    secret_on: bool,
) -> None:
    """Algorithm confusion: the JWKS public key used as an HMAC secret."""
    public_key = key.private_key.public_key()
    hmac_secret = {
        "pem": public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk-json": json.dumps(key.public_jwk()).encode(),
        "raw": public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    }[key_form]
    header = b64json({"alg": "HS256", "typ": "JWT", "kid": key.kid})
    payload = b64json(claims_for("alice-id", iss=ISSUER, aud=ISSUER))
    signature = hmac.new(hmac_secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{b64(signature)}"
    if not secret_on:
        await app.state.token_verifier.aclose()
        app.state.token_verifier = build_token_verifier(
            make_settings(database_url, better_auth_secret=None, jwt_jwks_url=jwks.url)
        )

    response = await get_tasks(client, forged)

    assert_401(response, "signature" if secret_on else "algorithm")


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "/dev/zero",
        "' OR '1'='1' --",
        "better-auth-key'; DROP TABLE task; --",
        "k" * 5000,
        123,
        {"kid": "better-auth-key"},
        ["better-auth-key"],
        None,
        "",
    ],
    ids=["path", "device", "sql", "sql-drop", "huge", "int", "object", "list", "null", "empty"],
)
async def test_hostile_kids_are_refused(
    client: AsyncClient, key: SigningKey, jwks: JwksServer, kid: Any
) -> None:
    genuine = key.sign(genuine_claims())
    # PyJWT will not sign a non-string kid, so such headers are written by hand.
    forged = (
        key.sign(genuine_claims(), kid=kid)
        if isinstance(kid, str)
        else with_header(genuine, kid=kid)
    )

    assert_401(await get_tasks(client, forged))
    assert jwks.requests <= 2  # startup, and at most one refetch for an unknown kid


@pytest.mark.parametrize("header", ["jku", "x5u"])
async def test_key_urls_in_the_header_are_never_fetched(client: AsyncClient, header: str) -> None:
    attacker_key = SigningKey.generate("better-auth-key")
    with serving_jwks(attacker_key) as attacker:
        forged = attacker_key.sign(
            claims_for("alice-id", iss=ISSUER, aud=ISSUER), **{header: attacker.url}
        )

        assert_401(await get_tasks(client, forged), "signature")
        assert attacker.requests == 0


@pytest.mark.parametrize("header", ["jwk", "x5c"])
async def test_keys_embedded_in_the_header_are_never_trusted(
    client: AsyncClient, header: str
) -> None:
    attacker_key = SigningKey.generate("better-auth-key")
    embedded = attacker_key.public_jwk() if header == "jwk" else ["MIIBIjANBgkqhkiG9w0BAQ=="]
    forged = attacker_key.sign(claims_for("alice-id", iss=ISSUER, aud=ISSUER), **{header: embedded})

    assert_401(await get_tasks(client, forged), "signature")


async def test_a_token_claiming_another_algorithm_than_its_key_is_refused(
    client: AsyncClient, key: SigningKey
) -> None:
    rsa_key = SigningKey.generate(key.kid, "RS256")
    forged = rsa_key.sign(claims_for("alice-id", iss=ISSUER, aud=ISSUER))

    assert_401(await get_tasks(client, forged), "algorithm")


def now() -> int:
    return int(time.time())


CLAIM_ATTACKS: dict[str, tuple[dict[str, Any], tuple[str, ...], str]] = {
    "expired": ({"exp": now() - 3600, "iat": now() - 7200}, (), "expired"),
    "nbf in the future": ({"nbf": now() + 3600}, (), "not yet valid"),
    "missing exp": ({}, ("exp",), "'exp'"),
    "wrong iss": ({"iss": "https://evil.example"}, (), "issuer"),
    "missing iss": ({}, ("iss",), "'iss'"),
    "wrong aud": ({"aud": "https://evil.example"}, (), "audience"),
    "missing aud": ({}, ("aud",), "'aud'"),
    "missing sub": ({}, ("sub",), "'sub'"),
    "sub not a string": ({"sub": 42}, (), ""),
}


@pytest.mark.parametrize("case", sorted(CLAIM_ATTACKS))
async def test_bad_claims_are_refused(client: AsyncClient, sign: Signer, case: str) -> None:
    overrides, dropped, message_part = CLAIM_ATTACKS[case]

    assert_401(await get_tasks(client, sign(drop=dropped, **overrides)), message_part)


async def test_stripped_signature_is_refused(client: AsyncClient, sign: Signer) -> None:
    header, payload, _signature = sign().split(".")

    assert_401(await get_tasks(client, f"{header}.{payload}."))


async def test_swapped_signature_is_refused(client: AsyncClient, sign: Signer) -> None:
    header, payload, _signature = sign("alice-id").split(".")
    *_, bobs_signature = sign("bob-id").split(".")

    assert_401(await get_tasks(client, f"{header}.{payload}.{bobs_signature}"), "signature")


async def test_tampered_payload_is_refused(client: AsyncClient, sign: Signer) -> None:
    header, _payload, signature = sign("mallory-id").split(".")
    payload = b64json(claims_for("alice-id", iss=ISSUER, aud=ISSUER))

    assert_401(await get_tasks(client, f"{header}.{payload}.{signature}"), "signature")


async def test_two_authorization_headers_are_refused(client: AsyncClient, sign: Signer) -> None:
    bearer = f"Bearer {sign()}"

    for _ in range(3):  # deterministic: the same answer every time
        response = await client.get(
            "/api/alice-id/tasks", headers=[("Authorization", bearer), ("Authorization", bearer)]
        )
        assert_401(response, "exactly one Authorization header")


async def test_a_20_kb_token_is_refused(client: AsyncClient, sign: Signer) -> None:
    huge = sign(padding="x" * 20_000)

    assert_401(await get_tasks(client, huge), "too large")


async def test_a_valid_token_of_another_user_on_my_path_is_403(
    client: AsyncClient, sign: Signer
) -> None:
    response = await get_tasks(client, sign("mallory-id"), user_id="alice-id")

    assert response.status_code == 403
    assert response.json() == {"detail": {"error": "You can only access your own tasks"}}


async def test_responses_never_echo_the_token(client: AsyncClient, sign: Signer) -> None:
    token = sign(exp=now() - 3600)

    response = await get_tasks(client, token)

    assert token.split(".")[1] not in response.text
    assert token.split(".")[1] not in str(response.headers)
