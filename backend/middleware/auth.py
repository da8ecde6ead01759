"""Bearer authentication for `/api/`, checked by the edge (`edge.py`) for every request.

It runs before routing and body validation, so an unauthenticated request learns only that it
is unauthenticated. On success the verified user is put on `request.state.user`.
`authenticate` verifies a request's token at most once, whoever asks first (the rate limiter,
which needs the user's id, asks before this check).
"""

import logging

from starlette.responses import Response
from starlette.types import Scope

from backend.errors import error_response
from backend.tokens import AuthenticatedUser, AuthError, TokenVerifier

logger = logging.getLogger("backend.auth")

PROTECTED_PREFIX = "/api/"
_REALM = 'Bearer realm="api"'
JWKS_RETRY_AFTER_SECONDS = 5
_OUTCOME = "backend.auth"


def _bearer_token(scope: Scope) -> str:
    """The token of the single `Authorization: Bearer` header; the query string never counts."""
    values = [value for name, value in scope["headers"] if name == b"authorization"]
    if not values:
        raise AuthError("Missing bearer token", reason="missing")
    if len(values) > 1:
        raise AuthError("Send exactly one Authorization header", reason="duplicate_header")
    header = values[0].decode("latin-1").strip()
    if not header:
        raise AuthError("Missing bearer token", reason="missing")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise AuthError("Authorization scheme must be Bearer", reason="wrong_scheme")
    token = token.strip()
    if not token:
        raise AuthError("Missing bearer token", reason="missing")
    return token


async def authenticate(scope: Scope) -> AuthenticatedUser | AuthError:
    """The verified user of the request's bearer token, or why there is none (memoised)."""
    outcome: AuthenticatedUser | AuthError | None = scope.get(_OUTCOME)
    if outcome is None:
        verifier: TokenVerifier = scope["app"].state.token_verifier
        try:
            outcome = await verifier.verify(_bearer_token(scope))
        except AuthError as error:
            outcome = error
        scope[_OUTCOME] = outcome
    return outcome


async def authentication_refusal(scope: Scope) -> Response | None:
    """401 (or 503 while JWKS keys cannot be fetched) for an `/api/` request without a valid
    bearer token; otherwise None, with the verified user on the scope's state."""
    if not scope["path"].startswith(PROTECTED_PREFIX):
        return None
    outcome = await authenticate(scope)
    if isinstance(outcome, AuthError):
        logger.info(
            "authentication failed: reason=%s method=%s path=%s",
            outcome.reason,
            scope["method"],
            scope["path"],
        )
        metrics = scope["app"].state.metrics
        if metrics is not None:
            metrics.auth_failures.labels(outcome.reason).inc()
        return error_response(outcome.status, outcome.message, headers=_failure_headers(outcome))
    scope.setdefault("state", {})["user"] = outcome
    return None


def _failure_headers(error: AuthError) -> dict[str, str]:
    if error.status == 503:
        return {"Retry-After": str(JWKS_RETRY_AFTER_SECONDS)}
    if error.reason == "missing":
        return {"WWW-Authenticate": _REALM}
    description = error.message.replace('"', "'")
    challenge = f'{_REALM}, error="invalid_token", error_description="{description}"'
    return {"WWW-Authenticate": challenge}
