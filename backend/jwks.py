"""Asymmetric tokens verified with the public keys a JWKS endpoint (Better Auth's) publishes.

Keys are held in memory, chosen by the token's `kid`, and each key fixes its own algorithm
(its `alg`, or its type and curve), so a token cannot choose how it is checked. The request
path never waits on the network for a known key: a key set older than its TTL is refreshed in
the background while the old keys keep serving. An unknown `kid` may refetch the set, at most
once per refetch interval however many requests carry unknown kids, and concurrent callers
share one fetch. When the endpoint is down, slow or returns garbage, the keys already held keep
working and a token that needs keys that cannot be fetched gets a 503 within the fetch timeout.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx
import jwt
import orjson

from backend.tokens import AuthError, decode_with_expectations, keys_unavailable_at

logger = logging.getLogger("backend.jwks")

# The JWS algorithms of Better Auth's JWT plugin and their siblings; never HMAC, never `none`.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
MAX_KID_LENGTH = 256
MAX_JWKS_BYTES = 512 * 1024


class JwksUnusable(ValueError):
    """The endpoint answered, but not with a key set this service can verify tokens with."""


class SigningKey(NamedTuple):
    """A public key and the JWK it was read from (to notice a `kid` whose key changed)."""

    key: jwt.PyJWK
    jwk: dict[str, Any]


def parse_key_set(body: bytes) -> dict[str, SigningKey]:
    """The usable signing keys of a JWKS document, by `kid`.

    A key without a string `kid`, meant for encryption, symmetric (`oct`), or of an algorithm
    outside `ASYMMETRIC_ALGORITHMS` is left out; a document with no usable key is refused as a
    whole, so a broken response never replaces keys that work.
    """
    document = orjson.loads(body)
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksUnusable("the response is not a JWKS document (no 'keys' list)")
    keys: dict[str, SigningKey] = {}
    for entry in entries:
        key = _usable_key(entry)
        if key is not None:
            keys[entry["kid"]] = SigningKey(key, entry)
    if not keys:
        raise JwksUnusable(f"none of its {len(entries)} keys is a usable signing key")
    return keys


def _usable_key(entry: Any) -> jwt.PyJWK | None:
    if not isinstance(entry, dict):
        return None
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        return None
    if entry.get("kty") == "oct" or entry.get("use", "sig") != "sig":
        return None
    algorithm = entry.get("alg")
    if algorithm is not None and algorithm not in ASYMMETRIC_ALGORITHMS:
        return None
    try:
        key = jwt.PyJWK(entry)
    except jwt.PyJWTError as error:
        logger.warning("JWKS key %r skipped: %s", kid, type(error).__name__)
        return None
    return key if key.algorithm_name in ASYMMETRIC_ALGORITHMS else None


def redact_url(url: str) -> str:
    """The URL without credentials or query, fit for logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


class JwksKeySource:
    """A `KeySource` for asymmetric tokens whose public keys live at a JWKS URL.

    `generation` grows whenever a refresh drops or changes a key, so verifications cached
    under the old keys are not trusted any more.
    """

    algorithms = ASYMMETRIC_ALGORITHMS

    def __init__(
        self,
        url: str,
        *,
        issuer: str | None,
        audience: str | None,
        leeway: int,
        cache_ttl: float,
        refetch_interval: float,
        fetch_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.generation = 0
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._required = ["exp", *(["iss"] if issuer else []), *(["aud"] if audience else [])]
        self._cache_ttl = cache_ttl
        self._refetch_interval = refetch_interval
        self._fetch_timeout = fetch_timeout
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._refresh_due = 0.0
        self._last_unknown_kid_fetch: float | None = None
        self._last_fetch_failed = False
        self._fetch: asyncio.Task[None] | None = None
        public_url = redact_url(url)
        self._unavailable = keys_unavailable_at(public_url)
        self._unknown_kid = f"Token signing key is not among the keys at {public_url}"
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(fetch_timeout),
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    def describe(self) -> str:
        issuer = self._issuer or "not checked"
        audience = self._audience or "not checked"
        return f"JWKS {redact_url(self.url)} (iss {issuer}, aud {audience})"

    async def start(self) -> None:
        """Load the keys before the first request; a failure is logged and retried on demand."""
        await self._refresh()

    async def ensure_keys_loaded(self) -> None:
        """Readiness: some keys are held, fetched now (within the timeout) if none are yet."""
        if not self._keys:
            await self._refresh()
        if not self._keys:
            raise JwksUnusable("no signing keys loaded from the JWKS endpoint")

    async def aclose(self) -> None:
        if self._fetch is not None:
            self._fetch.cancel()
        await self._http.aclose()

    async def decode(self, token: str, header: dict[str, Any]) -> dict[str, Any]:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            raise AuthError("Token has no usable key id ('kid')", reason="bad_kid")
        known = self._keys.get(kid)
        key = known.key if known is not None else await self._key_after_refetch(kid)
        self.refresh_if_due()
        return decode_with_expectations(
            token,
            key,
            algorithms=[key.algorithm_name],
            issuer=self._issuer,
            audience=self._audience,
            leeway=self._leeway,
            required=self._required,
        )

    def refresh_if_due(self) -> None:
        """Start a background refresh once the keys are older than their TTL; never wait."""
        if self._fetch is None and self._clock() >= self._refresh_due:
            self._fetch = asyncio.create_task(self._fetch_keys())

    async def _key_after_refetch(self, kid: str) -> jwt.PyJWK:
        """Refetch the key set for an unknown `kid`, unless one was fetched for that lately."""
        now = self._clock()
        recently = (
            self._last_unknown_kid_fetch is not None
            and now - self._last_unknown_kid_fetch < self._refetch_interval
        )
        if self._fetch is not None or not recently:
            if self._fetch is None:
                self._last_unknown_kid_fetch = now
            await self._refresh()
        fetched = self._keys.get(kid)
        if fetched is not None:
            return fetched.key
        if self._last_fetch_failed:
            raise AuthError(self._unavailable, reason="jwks_unavailable", status=503)
        raise AuthError(self._unknown_kid, reason="unknown_kid")

    async def _refresh(self) -> None:
        """Fetch the key set, joining a fetch already under way instead of starting another."""
        if self._fetch is None:
            self._fetch = asyncio.create_task(self._fetch_keys())
        await asyncio.shield(self._fetch)

    async def _fetch_keys(self) -> None:
        try:
            async with asyncio.timeout(self._fetch_timeout):
                keys = parse_key_set(await self._download())
        except (httpx.HTTPError, TimeoutError, ValueError) as error:
            self._last_fetch_failed = True
            self._refresh_due = self._clock() + self._refetch_interval
            logger.warning(
                "JWKS fetch from %s failed (%s: %s); %d cached keys stay in use "
                "(the URL comes from BETTER_AUTH_URL, or JWT_JWKS_URL when set)",
                redact_url(self.url),
                type(error).__name__,
                error,
                len(self._keys),
            )
        else:
            self._install(keys)
        finally:
            self._fetch = None

    async def _download(self) -> bytes:
        async with self._http.stream("GET", self.url) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise JwksUnusable(f"the response is larger than {MAX_JWKS_BYTES} bytes")
            return bytes(body)

    def _install(self, keys: dict[str, SigningKey]) -> None:
        dropped = [
            kid for kid, old in self._keys.items() if kid not in keys or keys[kid].jwk != old.jwk
        ]
        if dropped:
            self.generation += 1
            logger.info("JWKS keys removed or replaced: %s", ", ".join(sorted(dropped)))
        added = sorted(keys.keys() - self._keys.keys())
        if added:
            logger.info("JWKS keys added: %s", ", ".join(added))
        self._keys = keys
        self._last_fetch_failed = False
        self._refresh_due = self._clock() + self._cache_ttl
