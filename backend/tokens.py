"""Bearer token verification: turns a JWT into an `AuthenticatedUser` or an `AuthError`.

Every PyJWT failure is mapped here, in one place, to a message a client can act on; nothing
from PyJWT escapes as a server error. Key sources are pluggable: `SecretKeySource` verifies
HS256 tokens with `BETTER_AUTH_SECRET`, `JwksKeySource` (jwks.py) asymmetric ones with the keys
Better Auth publishes; a token's `alg` decides which of them may look at it, nothing more.
"""

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from backend.models import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH, USER_ID_MAX_LENGTH

# Verified tokens remembered per process, the least recently used dropped first: about 1 KB
# each (the token and its user), so at most about 50 MB.
_VERIFIED_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """Who a verified token speaks for; `expires_at` is the token's `exp` (epoch seconds)."""

    id: str
    email: str | None
    name: str | None
    expires_at: float


class AuthError(Exception):
    """A request that cannot be authenticated; `status` is 401, or 503 when keys are unreachable."""

    def __init__(self, message: str, *, reason: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status


class KeySource(Protocol):
    """Verifies tokens of the algorithms it owns and returns their claims.

    `generation` changes when keys the source trusted are withdrawn: verifications cached under
    an older generation are dropped.
    """

    algorithms: frozenset[str]
    generation: int

    def describe(self) -> str: ...

    def refresh_if_due(self) -> None:
        """Called on every use, verified-token cache hits included; must not block."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def decode(self, token: str, header: dict[str, Any]) -> dict[str, Any]: ...


class SecretKeySource:
    """HS256-family tokens signed with the shared `BETTER_AUTH_SECRET`."""

    generation = 0

    def __init__(
        self,
        secret: str,
        algorithms: list[str],
        leeway: int,
        *,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> None:
        self.algorithms = frozenset(algorithms)
        self._secret = secret
        self._algorithm_list = list(algorithms)
        self._leeway = leeway
        self._issuer = issuer
        self._audience = audience
        self._required = ["exp", *(["iss"] if issuer else []), *(["aud"] if audience else [])]

    def describe(self) -> str:
        return f"{','.join(self._algorithm_list)} with BETTER_AUTH_SECRET"

    def refresh_if_due(self) -> None:
        """Nothing to refresh: the secret does not change while the process runs."""

    async def start(self) -> None:
        """Nothing to load: the secret is in memory."""

    async def aclose(self) -> None:
        """Nothing to release."""

    async def decode(self, token: str, header: dict[str, Any]) -> dict[str, Any]:
        return decode_with_expectations(
            token,
            self._secret,
            algorithms=self._algorithm_list,
            issuer=self._issuer,
            audience=self._audience,
            leeway=self._leeway,
            required=self._required,
        )


def decode_with_expectations(
    token: str,
    key: Any,
    *,
    algorithms: list[str],
    issuer: str | None,
    audience: str | None,
    leeway: int,
    required: list[str],
) -> dict[str, Any]:
    """`jwt.decode`, except that a wrong `iss` or `aud` is refused naming the value expected.

    A token from a misconfigured pair of servers (`localhost` on one side, `127.0.0.1` on the
    other) is then fixed from the first 401. Both values are public: they are in every token.
    """
    try:
        return jwt.decode(
            token,
            key,
            algorithms=algorithms,
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            options={"require": required},
        )
    except jwt.InvalidIssuerError:
        raise AuthError(
            f"Token issuer is not accepted: expected iss {issuer!a}", reason="bad_issuer"
        ) from None
    except jwt.InvalidAudienceError:
        raise AuthError(
            f"Token audience is not accepted: expected aud {audience!a}",
            reason="bad_audience",
        ) from None


KEYS_UNAVAILABLE = "Token signing keys cannot be fetched right now, try again shortly"


def keys_unavailable_at(url: str) -> str:
    """The 503 message of a JWKS source, naming the (credential-free) URL it could not fetch."""
    return f"Token signing keys cannot be fetched from {url} right now, try again shortly"


# First match wins, so subclasses come before their bases. README.md shows this table.
_PYJWT_ERRORS: tuple[tuple[type[jwt.PyJWTError], int, str, str], ...] = (
    (jwt.ExpiredSignatureError, 401, "Token expired", "expired"),
    (jwt.ImmatureSignatureError, 401, "Token not yet valid", "not_yet_valid"),
    (jwt.InvalidSignatureError, 401, "Token signature is invalid", "bad_signature"),
    (jwt.InvalidAlgorithmError, 401, "Token algorithm is not allowed", "bad_algorithm"),
    (jwt.InvalidIssuerError, 401, "Token issuer is not accepted", "bad_issuer"),
    (jwt.InvalidAudienceError, 401, "Token audience is not accepted", "bad_audience"),
    (jwt.InvalidIssuedAtError, 401, "Token 'iat' claim is invalid", "bad_iat"),
    (
        jwt.exceptions.InvalidSubjectError,
        401,
        "Token subject is not a valid user id",
        "bad_subject",
    ),
    (jwt.exceptions.InvalidJTIError, 401, "Token 'jti' claim is invalid", "bad_jti"),
    (jwt.DecodeError, 401, "Token is malformed", "malformed"),
    (jwt.InvalidKeyError, 401, "Token does not fit its signing key", "bad_key"),
    (jwt.PyJWKClientConnectionError, 503, KEYS_UNAVAILABLE, "jwks_unavailable"),
    (jwt.PyJWKClientError, 503, KEYS_UNAVAILABLE, "jwks_unusable"),
    (jwt.PyJWKSetError, 503, KEYS_UNAVAILABLE, "jwks_unusable"),
    (jwt.PyJWKError, 401, "Token signing key is not usable", "bad_key"),
)


def auth_error_from_pyjwt(error: jwt.PyJWTError) -> AuthError:
    """The client-facing 401 (or 503, when keys cannot be had) for any PyJWT failure."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return AuthError(f"Token is missing the '{error.claim}' claim", reason="missing_claim")
    for error_class, status, message, reason in _PYJWT_ERRORS:
        if isinstance(error, error_class):
            return AuthError(message, reason=reason, status=status)
    return AuthError("Token is invalid", reason="invalid")


# Characters no user id, name or email may hold: C0 and C1 controls, DEL, and lone surrogates
# (JavaScript cuts strings between the halves of an emoji; a lone half cannot be encoded as
# UTF-8 for the database, a header or a URL).
_UNUSABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
BAD_SUBJECT = "Token subject is not a valid user id: 1-255 characters, no controls, no '/'"
# The last second of year 9999: an `exp` beyond it is taken as "never" when caching.
_LATEST_EXPIRY = 253_402_300_799


def _clean_claim(value: Any, max_length: int, *, truncate: bool) -> str | None:
    """An optional profile claim as storable text, or None: a bad profile never locks a user out.

    Names lose their control characters and lone surrogates and are cut to fit; an email
    holding such characters, or too long, is dropped, since a cleaned or cut email is wrong.
    """
    if not isinstance(value, str):
        return None
    if truncate:
        value = _UNUSABLE.sub("", value).strip()[:max_length]
    elif len(value) > max_length or _UNUSABLE.search(value):
        return None
    return value.strip() or None


def _is_usable_subject(subject: Any) -> bool:
    """A user id that fits its column and one segment of the task URLs, once percent-encoded:
    no controls or lone surrogates, no `/` (it would split the segment), not `.` or `..` (which
    clients resolve away), not blank."""
    return (
        isinstance(subject, str)
        and 0 < len(subject) <= USER_ID_MAX_LENGTH
        and bool(subject.strip())
        and subject not in (".", "..")
        and "/" not in subject
        and _UNUSABLE.search(subject) is None
    )


def _expiry(claims: dict[str, Any]) -> float:
    """`exp` as epoch seconds for the verified-token cache. PyJWT has checked that it reads as
    an integer in the future; here it must also be a JSON number (RFC 7519's NumericDate)."""
    expiry = claims["exp"]
    if isinstance(expiry, bool) or not isinstance(expiry, int | float):
        raise AuthError("Token 'exp' claim must be a number", reason="bad_exp")
    return float(min(expiry, _LATEST_EXPIRY))


def user_from_claims(claims: dict[str, Any]) -> AuthenticatedUser:
    """Read the user from verified claims: `sub` (or legacy `user_id`), `email`, `name`."""
    subject = claims.get("sub", claims.get("user_id"))
    if subject is None:
        raise AuthError("Token is missing the 'sub' claim", reason="missing_claim")
    if not _is_usable_subject(subject):
        raise AuthError(BAD_SUBJECT, reason="bad_subject")
    email = _clean_claim(claims.get("email"), EMAIL_MAX_LENGTH, truncate=False)
    name = _clean_claim(claims.get("name"), NAME_MAX_LENGTH, truncate=True)
    return AuthenticatedUser(id=subject, email=email, name=name, expires_at=_expiry(claims))


class TokenVerifier:
    """Verifies bearer tokens against the configured key sources.

    A token's `alg` header only selects which source may verify it (HMAC ones the secret,
    asymmetric ones the JWKS); the source then decodes with its own fixed algorithms, so a
    token cannot pick its verification method. Verified users are cached by token (bounded,
    least recently used out first, never past `exp`, never past the withdrawal of the key that
    verified them), so a client reusing its token does not pay for signature checks on every
    request, however many other users are active.
    """

    def __init__(self, sources: list[KeySource], max_token_bytes: int) -> None:
        self._sources = sources
        self._max_token_bytes = max_token_bytes
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    @property
    def sources(self) -> tuple[KeySource, ...]:
        return tuple(self._sources)

    @property
    def modes(self) -> list[str]:
        return [source.describe() for source in self._sources]

    async def start(self) -> None:
        for source in self._sources:
            await source.start()

    async def aclose(self) -> None:
        for source in self._sources:
            await source.aclose()

    async def verify(self, token: str) -> AuthenticatedUser:
        cached = self._verified.get(token)
        if cached is not None:
            # Keys age on cache hits too, or a token reused all day would outlive its key.
            cached.source.refresh_if_due()
            if cached.user.expires_at > time.time() and (
                cached.source.generation == cached.generation
            ):
                self._verified.move_to_end(token)
                return cached.user
            del self._verified[token]
        user, source, generation = await self._verify_uncached(token)
        self._remember(token, _Verified(user, source, generation))
        return user

    def _remember(self, token: str, verified: "_Verified") -> None:
        self._verified[token] = verified
        if len(self._verified) > _VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    async def _verify_uncached(self, token: str) -> tuple[AuthenticatedUser, KeySource, int]:
        if len(token) > self._max_token_bytes:
            raise AuthError("Token is too large", reason="too_large")
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            source = (
                next((source for source in self._sources if algorithm in source.algorithms), None)
                if isinstance(algorithm, str)
                else None
            )
            if source is None:
                raise AuthError("Token algorithm is not allowed", reason="bad_algorithm")
            generation = source.generation
            claims = await source.decode(token, header)
        except jwt.PyJWTError as error:
            raise auth_error_from_pyjwt(error) from None
        return user_from_claims(claims), source, generation


@dataclass(frozen=True, slots=True)
class _Verified:
    """A cached verification and the key generation it was made under."""

    user: AuthenticatedUser
    source: KeySource
    generation: int


def mint_token(
    secret: str,
    *,
    user_id: str,
    email: str | None = None,
    name: str | None = None,
    expires_in: int = 3600,
    algorithm: str = "HS256",
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """Sign an HS256 token the API accepts (for the CLI, local development and tests)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + expires_in}
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    if email is not None:
        claims["email"] = email
    if name is not None:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm=algorithm)
