"""The JWKS key cache, against a real JWKS endpoint on loopback that counts its fetches.

The cache's clock is one the tests move forward, so TTLs and refetch intervals pass without
waiting; everything else is real: HTTP fetches, signatures, the app answering over HTTP.
"""

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from backend.config import Settings
from backend.main import build_token_verifier, create_app

from jwks_server import JwksServer, SigningKey, claims_for, serving_jwks
from support import SECRET, make_settings, serving

ISSUER = "http://127.0.0.1:3000"
TTL = 300
REFETCH_INTERVAL = 10


class ManualClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate("key-1")


@pytest.fixture
def jwks(key: SigningKey) -> Iterator[JwksServer]:
    with serving_jwks(key) as server:
        yield server


@pytest.fixture
def settings(database_url: str, jwks: JwksServer) -> Settings:
    return make_settings(
        database_url,
        better_auth_secret=None,
        jwt_jwks_url=jwks.url,
        jwt_issuer=ISSUER,
        jwt_audience=ISSUER,
        jwks_cache_ttl_seconds=TTL,
        jwks_refetch_interval_seconds=REFETCH_INTERVAL,
        jwks_fetch_timeout_seconds=1,
        # A hundred bad tokens from one client would hit the per-IP quota: not what is tested.
        rate_limit_enabled=False,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[FastAPI]:
    """The app, its token verifier's JWKS cache driven by `clock`."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await application.state.token_verifier.aclose()
        verifier = build_token_verifier(settings, clock=clock)
        await verifier.start()
        application.state.token_verifier = verifier
        yield application


@pytest.fixture
async def client(app: FastAPI, jwks: JwksServer) -> AsyncIterator[AsyncClient]:
    jwks.requests = 0  # the fetches the tests count start after startup
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        yield http


def token(key: SigningKey, user_id: str = "alice-id") -> str:
    # A fresh `jti` makes each token new to the verified-token cache, so its key is looked up.
    return key.sign(claims_for(user_id, iss=ISSUER, aud=ISSUER, jti=secrets.token_hex(8)))


async def get_tasks(client: AsyncClient, bearer: str, user_id: str = "alice-id") -> Response:
    return await client.get(f"/api/{user_id}/tasks", headers={"Authorization": f"Bearer {bearer}"})


async def eventually(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait for what a background refresh, run by the event loop after a response, brings."""
    for _ in range(1000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the background refresh never happened")


async def background_fetches(jwks: JwksServer, expected: int) -> None:
    async def fetched() -> bool:
        return jwks.requests >= expected

    await eventually(fetched)


async def test_keys_are_fetched_at_startup_and_known_kids_never_fetch(
    client: AsyncClient, jwks: JwksServer, key: SigningKey
) -> None:
    for _ in range(20):
        assert (await get_tasks(client, token(key))).status_code == 200

    assert jwks.requests == 0


async def test_keys_are_refreshed_in_the_background_after_the_ttl(
    client: AsyncClient, jwks: JwksServer, key: SigningKey, clock: ManualClock
) -> None:
    clock.advance(TTL + 1)

    assert (await get_tasks(client, token(key))).status_code == 200
    await background_fetches(jwks, 1)
    assert (await get_tasks(client, token(key))).status_code == 200

    assert jwks.requests == 1


async def test_a_hundred_unknown_kids_cause_at_most_two_fetches(
    client: AsyncClient, jwks: JwksServer
) -> None:
    strangers = [SigningKey.generate(secrets.token_hex(8)) for _ in range(10)]
    tokens = [token(strangers[n % 10], "alice-id") for n in range(100)]

    concurrent = await asyncio.gather(*(get_tasks(client, bearer) for bearer in tokens[:50]))
    one_by_one = [await get_tasks(client, bearer) for bearer in tokens[50:]]

    assert {response.status_code for response in concurrent + one_by_one} == {401}
    assert concurrent[0].json() == {
        "detail": {"error": f"Token signing key is not among the keys at {jwks.url}"}
    }
    assert jwks.requests <= 2


async def test_a_rotated_in_key_works_at_once(
    client: AsyncClient, jwks: JwksServer, key: SigningKey
) -> None:
    new_key = SigningKey.generate("key-2")
    jwks.keys.append(new_key)

    assert (await get_tasks(client, token(new_key))).status_code == 200
    assert (await get_tasks(client, token(key))).status_code == 200
    assert jwks.requests == 1


async def test_concurrent_requests_with_a_new_key_share_one_fetch(
    client: AsyncClient, jwks: JwksServer
) -> None:
    new_key = SigningKey.generate("key-2")
    jwks.keys.append(new_key)

    responses = await asyncio.gather(*(get_tasks(client, token(new_key)) for _ in range(30)))

    assert {response.status_code for response in responses} == {200}
    assert jwks.requests == 1


async def test_a_removed_key_stops_working_after_the_next_refresh(
    client: AsyncClient, jwks: JwksServer, key: SigningKey, clock: ManualClock
) -> None:
    new_key = SigningKey.generate("key-2")
    jwks.keys.append(new_key)
    assert (await get_tasks(client, token(new_key))).status_code == 200
    old_token = token(key)
    assert (await get_tasks(client, old_token)).status_code == 200
    jwks.keys = [new_key]

    assert (await get_tasks(client, old_token)).status_code == 200  # until the next refresh
    clock.advance(TTL + 1)
    # A reused token is answered from the verified-token cache; it still starts the refresh.
    assert (await get_tasks(client, old_token)).status_code == 200

    async def old_token_refused() -> bool:
        return (await get_tasks(client, old_token)).status_code == 401

    await eventually(old_token_refused)
    response = await get_tasks(client, old_token)
    assert response.json() == {
        "detail": {"error": f"Token signing key is not among the keys at {jwks.url}"}
    }
    assert (await get_tasks(client, token(key))).status_code == 401
    assert (await get_tasks(client, token(new_key))).status_code == 200


@pytest.mark.parametrize("outage", ["error", "garbage", "slow"])
async def test_cached_keys_keep_working_while_the_endpoint_is_down(
    client: AsyncClient, jwks: JwksServer, key: SigningKey, clock: ManualClock, outage: str
) -> None:
    jwks.mode = outage
    clock.advance(TTL + 1)

    assert (await get_tasks(client, token(key))).status_code == 200
    await background_fetches(jwks, 1)
    for _ in range(5):
        assert (await get_tasks(client, token(key))).status_code == 200


@pytest.mark.parametrize("outage", ["error", "garbage", "slow"])
async def test_unknown_keys_while_the_endpoint_is_down_get_503_then_it_recovers(
    client: AsyncClient, jwks: JwksServer, clock: ManualClock, outage: str
) -> None:
    new_key = SigningKey.generate("key-2")
    jwks.keys.append(new_key)
    jwks.mode = outage

    response = await get_tasks(client, token(new_key))

    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json() == {
        "detail": {
            "error": f"Token signing keys cannot be fetched from {jwks.url} right now, "
            "try again shortly"
        }
    }
    # Within the refetch interval the outage is remembered: no new fetch, the same answer.
    assert (await get_tasks(client, token(new_key))).status_code == 503
    assert jwks.requests == 1

    jwks.mode = "ok"
    jwks.release.set()
    clock.advance(REFETCH_INTERVAL + 1)
    assert (await get_tasks(client, token(new_key))).status_code == 200


@pytest.mark.parametrize(
    "document",
    [
        b"[]",
        b'{"keys": "none"}',
        b'{"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}',
        b'{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "alg": "none", "x": "AA"}]}',
        b'{"keys": [{"kty": "RSA", "kid": "k", "n": "not-base64!", "e": "AQAB"}]}',
        b"x" * (600 * 1024),
    ],
    ids=["list", "keys-not-a-list", "symmetric-key", "alg-none", "broken-rsa", "oversized"],
)
async def test_unusable_key_sets_never_replace_working_keys(
    client: AsyncClient,
    jwks: JwksServer,
    key: SigningKey,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    document: bytes,
) -> None:
    monkeypatch.setattr(JwksServer, "document", lambda _self: document)
    clock.advance(TTL + 1)

    await get_tasks(client, token(key))
    await background_fetches(jwks, 1)

    assert (await get_tasks(client, token(key))).status_code == 200
    assert (await get_tasks(client, token(SigningKey.generate("k")))).status_code == 503


async def test_endpoint_down_at_startup_gives_503_until_it_is_back(
    settings: Settings, jwks: JwksServer, key: SigningKey, clock: ManualClock
) -> None:
    jwks.mode = "error"
    verifier = build_token_verifier(settings, clock=clock)
    await verifier.start()
    application = create_app(settings)
    async with (
        application.router.lifespan_context(application),
        AsyncClient(transport=ASGITransport(app=application), base_url="http://test") as http,
    ):
        await application.state.token_verifier.aclose()
        application.state.token_verifier = verifier

        assert (await get_tasks(http, token(key))).status_code == 503
        jwks.mode = "ok"
        clock.advance(REFETCH_INTERVAL + 1)
        assert (await get_tasks(http, token(key))).status_code == 200


async def test_startup_log_names_the_modes_and_never_the_secret(
    database_url: str, jwks: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(database_url, jwt_jwks_url=jwks.url, jwt_issuer=ISSUER)

    with caplog.at_level(logging.INFO, logger="backend"):
        async with serving(create_app(settings)):
            pass

    assert "HS256 with BETTER_AUTH_SECRET" in caplog.text
    assert f"JWKS {jwks.url} (iss {ISSUER}, aud not checked)" in caplog.text
    assert SECRET not in caplog.text


async def test_readiness_waits_for_jwks_keys(settings: Settings, jwks: JwksServer) -> None:
    jwks.mode = "error"

    async with serving(create_app(settings)) as http:
        while_down = await http.get("/readyz")
        jwks.mode = "ok"
        once_back = await http.get("/readyz")

    assert while_down.status_code == 503
    assert while_down.json()["detail"]["checks"]["jwks"].startswith("failed")
    assert once_back.status_code == 200
    assert once_back.json()["checks"] == {"database": "ok", "jwks": "ok"}


@pytest.mark.parametrize(
    ("claim", "reason"),
    [
        ("iss", f"Token issuer is not accepted: expected iss '{ISSUER}'"),
        ("aud", f"Token audience is not accepted: expected aud '{ISSUER}'"),
    ],
)
async def test_a_token_for_another_origin_is_told_which_one_is_accepted(
    client: AsyncClient, key: SigningKey, claim: str, reason: str
) -> None:
    # The usual mix-up: Better Auth serves as localhost, the API was told 127.0.0.1.
    claims = claims_for(
        "alice-id", **{"iss": ISSUER, "aud": ISSUER, claim: "http://localhost:3000"}
    )

    response = await get_tasks(client, key.sign(claims))

    assert response.status_code == 401
    assert response.json() == {"detail": {"error": reason}}
    assert reason.replace('"', "'") in response.headers["www-authenticate"]


async def test_with_better_auth_url_a_wrong_issuer_is_told_the_url_s_origin(
    database_url: str, jwks: JwksServer, key: SigningKey
) -> None:
    origin = f"http://127.0.0.1:{jwks.port}"
    settings = make_settings(database_url, better_auth_secret=None, better_auth_url=origin)
    claims = claims_for("alice-id", iss=f"http://localhost:{jwks.port}", aud=origin)

    async with serving(create_app(settings)) as http:
        wrong = await get_tasks(http, key.sign(claims))
        right = await get_tasks(http, key.sign({**claims, "iss": origin}))

    assert wrong.status_code == 401
    assert wrong.json()["detail"]["error"] == (
        f"Token issuer is not accepted: expected iss '{origin}'"
    )
    assert right.status_code == 200
