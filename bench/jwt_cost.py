"""CPU cost of verifying one bearer token: HS256 against EdDSA (Ed25519), with PyJWT.

Measured in-process, one call at a time, with the options the API uses (`exp` required,
leeway). Also times the API's own `TokenVerifier`, with the secret and a JWKS key source (its
key set loaded from a JWKS document, as after a fetch), on an HS256 and an EdDSA token it has
already verified: what a client reusing its token pays per request.

    python bench/jwt_cost.py
"""

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from backend.jwks import JwksKeySource, parse_key_set
from backend.tokens import SecretKeySource, TokenVerifier

SECRET = "jwt-cost-secret-0123456789abcdef0123456789"
CLAIMS_EXTRA = {"email": "someone@bench.example", "name": "Some One"}


def _per_call_us(function: Callable[[], Any], calls: int) -> float:
    """Best of five batches, in microseconds per call (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def measure(calls: int = 2000) -> dict[str, float]:
    now = int(time.time())
    claims = {"sub": "bench-user", "iat": now, "exp": now + 3600, **CLAIMS_EXTRA}
    hs_token = jwt.encode(claims, SECRET, algorithm="HS256")
    private_key = Ed25519PrivateKey.generate()
    public_key = private_key.public_key()
    ed_token = jwt.encode(claims, private_key, algorithm="EdDSA", headers={"kid": "k1"})
    options = {"require": ["exp"]}

    def decode_hs() -> None:
        jwt.decode(hs_token, SECRET, algorithms=["HS256"], leeway=30, options=options)

    def decode_ed() -> None:
        jwt.get_unverified_header(ed_token)
        jwt.decode(ed_token, public_key, algorithms=["EdDSA"], leeway=30, options=options)

    loop = asyncio.new_event_loop()
    jwks = JwksKeySource(
        "http://127.0.0.1:9/jwks",  # never fetched: the key set is installed below
        issuer=None,
        audience=None,
        leeway=30,
        cache_ttl=3600,
        refetch_interval=60,
        fetch_timeout=1,
    )
    jwk = {**json.loads(OKPAlgorithm.to_jwk(public_key)), "kid": "k1", "alg": "EdDSA"}
    jwks._install(parse_key_set(orjson.dumps({"keys": [jwk]})))
    verifier = TokenVerifier([SecretKeySource(SECRET, ["HS256"], 30), jwks], 8192)
    loop.run_until_complete(verifier.verify(hs_token))
    loop.run_until_complete(verifier.verify(ed_token))

    def verify_cached_hs() -> None:
        loop.run_until_complete(verifier.verify(hs_token))

    def verify_cached_ed() -> None:
        loop.run_until_complete(verifier.verify(ed_token))

    try:
        results = {
            "hs256_decode_us": _per_call_us(decode_hs, calls),
            "eddsa_decode_us": _per_call_us(decode_ed, calls),
            "api_verifier_cached_us": _per_call_us(verify_cached_hs, calls),
            "api_verifier_cached_eddsa_us": _per_call_us(verify_cached_ed, calls),
        }
    finally:
        loop.run_until_complete(jwks.aclose())
        loop.close()
    results["eddsa_extra_us"] = results["eddsa_decode_us"] - results["hs256_decode_us"]
    return results


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
