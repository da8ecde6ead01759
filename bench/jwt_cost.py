"""CPU cost of verifying one bearer token: HS256 against EdDSA (Ed25519), with PyJWT.

Measured in-process, one call at a time, with the options the API uses (`exp` required,
leeway). Also times the API's own `TokenVerifier` on a token it has already verified, which is
what a client reusing its token pays per request whatever the algorithm.

    python bench/jwt_cost.py
"""

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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

    verifier = TokenVerifier([SecretKeySource(SECRET, ["HS256"], 30)], 8192)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(verifier.verify(hs_token))

    def verify_cached() -> None:
        loop.run_until_complete(verifier.verify(hs_token))

    try:
        results = {
            "hs256_decode_us": _per_call_us(decode_hs, calls),
            "eddsa_decode_us": _per_call_us(decode_ed, calls),
            "api_verifier_cached_us": _per_call_us(verify_cached, calls),
        }
    finally:
        loop.close()
    results["eddsa_extra_us"] = results["eddsa_decode_us"] - results["hs256_decode_us"]
    return results


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
