"""Bearer token verification: turns a JWT into an `AuthenticatedUser` or an `AuthError`.

Every PyJWT failure is mapped here, in one place, to a message a client can act on; nothing
from PyJWT escapes as a server error. Key sources are pluggable: `SecretKeySource` verifies
HS256 tokens with `BETTER_AUTH_SECRET`, and further sources (JWKS) slot in beside it.
"""

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from backend.models import EMAIL_MAX_LENGTH, NAME_MAX_LENGTH, USER_ID_MAX_LENGTH

_VERIFIED_CACHE_SIZE = 10_000


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
    """Verifies tokens of the algorithms it owns and returns their claims."""

    algorithms: frozenset[str]

    async def decode(self, token: str, header: dict[str, Any]) -> dict[str, Any]: ...


class SecretKeySource:
    """HS256-family tokens signed with the shared `BETTER_AUTH_SECRET`."""

    def __init__(self, secret: str, algorithms: list[str], leeway: int) -> None:
        self.algorithms = frozenset(algorithms)
        self._secret = secret
        self._algorithm_list = list(algorithms)
        self._leeway = leeway

    async def decode(self, token: str, header: dict[str, Any]) -> dict[str, Any]:
        return jwt.decode(
            token,
            self._secret,
            algorithms=self._algorithm_list,
            leeway=self._leeway,
            options={"require": ["exp"]},
        )


_PYJWT_MESSAGES: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (jwt.ExpiredSignatureError, "Token expired", "expired"),
    (jwt.ImmatureSignatureError, "Token not yet valid", "not_yet_valid"),
    (jwt.InvalidSignatureError, "Token signature is invalid", "bad_signature"),
    (jwt.InvalidAlgorithmError, "Token algorithm is not allowed", "bad_algorithm"),
    (jwt.InvalidIssuerError, "Token issuer is not accepted", "bad_issuer"),
    (jwt.InvalidAudienceError, "Token audience is not accepted", "bad_audience"),
    (jwt.DecodeError, "Token is malformed", "malformed"),
)


def _auth_error_from_pyjwt(error: jwt.PyJWTError) -> AuthError:
    if isinstance(error, jwt.MissingRequiredClaimError):
        return AuthError(f"Token is missing the '{error.claim}' claim", reason="missing_claim")
    for error_class, message, reason in _PYJWT_MESSAGES:
        if isinstance(error, error_class):
            return AuthError(message, reason=reason)
    return AuthError("Token is invalid", reason="invalid")


def _clean_claim(value: Any, max_length: int, *, truncate: bool) -> str | None:
    """An optional profile claim as storable text: a string without NULs, within bounds.

    Names are cut to fit; an email that does not fit is dropped, since a cut one is wrong.
    """
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    if len(value) > max_length and not truncate:
        return None
    return value[:max_length] or None


def user_from_claims(claims: dict[str, Any]) -> AuthenticatedUser:
    """Read the user from verified claims: `sub` (or legacy `user_id`), `email`, `name`."""
    subject = claims.get("sub", claims.get("user_id"))
    if subject is None:
        raise AuthError("Token is missing the 'sub' claim", reason="missing_claim")
    if (
        not isinstance(subject, str)
        or not subject.strip()
        or len(subject) > USER_ID_MAX_LENGTH
        or "\x00" in subject
    ):
        raise AuthError("Token subject is not a valid user id", reason="bad_subject")
    email = _clean_claim(claims.get("email"), EMAIL_MAX_LENGTH, truncate=False)
    name = _clean_claim(claims.get("name"), NAME_MAX_LENGTH, truncate=True)
    return AuthenticatedUser(id=subject, email=email, name=name, expires_at=float(claims["exp"]))


class TokenVerifier:
    """Verifies bearer tokens against the configured key sources.

    A token's `alg` header only selects which source may verify it; the source then decodes
    with its own fixed algorithms, so a token cannot pick its verification method. Verified
    users are cached by token (bounded, never past `exp`), so a client reusing its token does
    not pay for signature checks on every request.
    """

    def __init__(self, sources: list[KeySource], max_token_bytes: int) -> None:
        self._sources = sources
        self._max_token_bytes = max_token_bytes
        self._verified: OrderedDict[str, AuthenticatedUser] = OrderedDict()

    @property
    def modes(self) -> list[str]:
        return sorted(algorithm for source in self._sources for algorithm in source.algorithms)

    async def verify(self, token: str) -> AuthenticatedUser:
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at > time.time():
                return cached
            del self._verified[token]
        user = await self._verify_uncached(token)
        self._remember(token, user)
        return user

    def forget_all(self) -> None:
        """Drop cached verifications, e.g. after keys were rotated out."""
        self._verified.clear()

    def _remember(self, token: str, user: AuthenticatedUser) -> None:
        self._verified[token] = user
        if len(self._verified) > _VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    async def _verify_uncached(self, token: str) -> AuthenticatedUser:
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
            claims = await source.decode(token, header)
        except jwt.PyJWTError as error:
            raise _auth_error_from_pyjwt(error) from None
        return user_from_claims(claims)


def mint_token(
    secret: str,
    *,
    user_id: str,
    email: str | None = None,
    name: str | None = None,
    expires_in: int = 3600,
    algorithm: str = "HS256",
) -> str:
    """Sign an HS256 token the API accepts (for the CLI, local development and tests)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + expires_in}
    if email is not None:
        claims["email"] = email
    if name is not None:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm=algorithm)
