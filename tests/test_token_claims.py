"""Whatever a validly signed token's claims hold, the answer is a 401 or the request is served:
never a 500, and never a user locked out by their own profile (a name cut in the middle of an
emoji by JavaScript, a control character in an email).

Each token is built from raw JSON text, so values JSON libraries would not write (`1e999`,
lone surrogates, integers of 5,000 digits, arrays nested 2,500 deep) reach the API as an
attacker would send them. Every claim the API or PyJWT reads is tried on both engines.
"""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import Settings
from backend.main import create_app

from support import SECRET, make_settings, serving

SUBJECT = "claims-user"
ISSUER = "https://auth.example.com"
AUDIENCE = "https://api.example.com"
URL = f"/api/{SUBJECT}/tasks"

# Raw JSON texts of hostile values: types, sizes, numbers past every limit, unicode.
HOSTILE_VALUES = [
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1.5",
    "-0.0",
    "9223372036854775807",
    "18446744073709551616",
    "1" + "0" * 400,
    "-" + "1" * 400,
    "1e308",
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "-Infinity",
    '""',
    '" "',
    '"\\u0000"',
    '"a\\u0000b"',
    '"\\ud83d"',
    '"Zo\\ud83d"',
    '"\\ude00 tail"',
    '"\\ud83d\\ude00"',
    '"\\u0007bell\\u001b[31m"',
    '"tab\\tnew\\nline\\r"',
    '"del\\u007f c1\\u0085\\u009f"',
    '"\\u202eevil\\u200b"',
    '"用户-名"',
    '"a/b"',
    '"."',
    '".."',
    '"%2F%00"',
    '"<script>\\"quote\\";</script>"',
    '"' + "x" * 5000 + '"',
    '"' + "é" * 2000 + '"',
    '"1700000000"',
    '"9_999_999_999"',
    "[]",
    "{}",
    '["a", 1]',
    '{"a": {"b": [null]}}',
]
# JSON no parser should read (an integer of 5,000 digits, arrays nested 2,500 deep): the whole
# token is malformed, whichever claim holds them.
UNREADABLE_VALUES = ["1" + "0" * 5000, "[" * 2500 + "]" * 2500]
# Every claim PyJWT checks or the API reads (`user_id` is the legacy subject).
CLAIMS = ["sub", "user_id", "email", "name", "exp", "iat", "nbf", "iss", "aud", "jti"]
# Profile claims are cleaned or dropped, never a reason to refuse the user.
PROFILE_CLAIMS = {"email", "name"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Without rate limits: each test sends a hundred refused tokens from one address."""
    return make_settings(database_url, rate_limit_enabled=False)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def raw_token(claims: dict[str, str]) -> str:
    """An HS256 token whose payload holds each claim's raw JSON text, signed with the secret."""
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    payload = "{" + ",".join(f"{json.dumps(name)}:{value}" for name, value in claims.items())
    body = _b64((payload + "}").encode("utf-8", "surrogatepass"))
    signing_input = f"{header}.{body}".encode()
    signature = hmac.new(SECRET.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def base_claims() -> dict[str, str]:
    now = int(time.time())
    return {"sub": json.dumps(SUBJECT), "iat": str(now), "exp": str(now + 600)}


async def task_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM task"))).scalar_one())


async def try_every_value(
    client: AsyncClient, engine: AsyncEngine, claim: str, base: dict[str, str]
) -> None:
    """Each hostile value in `claim` over the valid `base` claims: a list and a create, each a
    401, a 403 (another user's path) or served, and a create stored only when answered 201."""
    created = 0
    for value in [*HOSTILE_VALUES, *UNREADABLE_VALUES]:
        claims = dict(base)
        if claim == "user_id":
            del claims["sub"]
        claims[claim] = value
        headers = {"Authorization": f"Bearer {raw_token(claims)}"}

        listed = await client.get(URL, headers=headers)
        posted = await client.post(URL, json={"title": "hostile"}, headers=headers)

        for response in (listed, posted):
            assert response.status_code in (200, 201, 401, 403), (value[:80], response.text)
            assert response.headers["content-type"] == "application/json"
            if response.status_code == 401:
                assert response.json()["detail"]["error"].startswith("Token")
        if claim in PROFILE_CLAIMS and value not in UNREADABLE_VALUES:
            assert (listed.status_code, posted.status_code) == (200, 201), value[:80]
        created += posted.status_code == 201
        assert await task_count(engine) == created, value[:80]


@pytest.mark.parametrize("claim", CLAIMS)
async def test_any_claim_value_is_a_401_or_served_never_a_500(
    client: AsyncClient, engine: AsyncEngine, claim: str
) -> None:
    await try_every_value(client, engine, claim, base_claims())


@pytest.mark.parametrize("claim", ["iss", "aud"])
async def test_any_issuer_or_audience_is_a_401_or_served_when_both_are_checked(
    database_url: str, engine: AsyncEngine, claim: str
) -> None:
    settings = make_settings(
        database_url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, rate_limit_enabled=False
    )
    base = {**base_claims(), "iss": json.dumps(ISSUER), "aud": json.dumps([AUDIENCE, "other"])}

    async with serving(create_app(settings)) as client:
        valid = await client.get(URL, headers={"Authorization": f"Bearer {raw_token(base)}"})
        assert valid.status_code == 200
        await try_every_value(client, engine, claim, base)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ('"Zo\\ud83d"', "Zo"),
        ('"\\ud83d\\ude00 Zoë"', "😀 Zoë"),
        ('"An\\u0000na\\u0007\\u009f"', "Anna"),
        ('"\\ude00"', None),
        ('"' + "😀" * 150 + '"', "😀" * 100),
    ],
)
async def test_names_are_cleaned_not_refused(
    client: AsyncClient, engine: AsyncEngine, value: str, stored: str | None
) -> None:
    claims = {**base_claims(), "name": value, "email": '"zoe@example.com"'}

    response = await client.get(URL, headers={"Authorization": f"Bearer {raw_token(claims)}"})

    assert response.status_code == 200
    assert await user_row(engine) == {"id": SUBJECT, "email": "zoe@example.com", "name": stored}


@pytest.mark.parametrize(
    "value", ['"zo\\ud83d@example.com"', '"zoe@example.com\\r\\n"', '"zoe\\u0000@example.com"']
)
async def test_emails_that_cleaning_would_change_are_dropped(
    client: AsyncClient, engine: AsyncEngine, value: str
) -> None:
    claims = {**base_claims(), "name": '"Zoe"', "email": value}

    response = await client.get(URL, headers={"Authorization": f"Bearer {raw_token(claims)}"})

    assert response.status_code == 200
    assert await user_row(engine) == {"id": SUBJECT, "email": None, "name": "Zoe"}


async def user_row(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        result = await connection.execute(text('SELECT id, email, name FROM "user"'))
        [row] = result.mappings().all()
        return dict(row)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"1700000000000"', "Token 'exp' claim must be a number"),
        ("true", "Token expired"),
        ("1e999", "Token is malformed"),
        ("NaN", "Token is malformed"),
        ('"soon"', "Token is malformed"),
    ],
)
async def test_an_exp_that_is_not_a_finite_number_is_401(
    client: AsyncClient, value: str, message: str
) -> None:
    claims = {**base_claims(), "exp": value}

    response = await client.get(URL, headers={"Authorization": f"Bearer {raw_token(claims)}"})

    assert response.status_code == 401
    assert response.json() == {"detail": {"error": message}}


@pytest.mark.parametrize("value", ["1" + "0" * 400, "1e300", "253402300800"])
async def test_an_exp_far_in_the_future_is_accepted_and_verified_once(
    app: FastAPI, client: AsyncClient, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    [source] = app.state.token_verifier.sources
    decode = source.decode
    decoded: list[str] = []

    async def counted(token: str, header: dict[str, Any]) -> dict[str, Any]:
        decoded.append(token)
        return await decode(token, header)

    monkeypatch.setattr(source, "decode", counted)
    claims = {**base_claims(), "exp": value}
    headers = {"Authorization": f"Bearer {raw_token(claims)}"}

    first = await client.get(URL, headers=headers)
    again = await client.get(URL, headers=headers)

    assert first.status_code == again.status_code == 200
    assert len(decoded) == 1
