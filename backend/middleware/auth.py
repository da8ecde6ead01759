"""Bearer authentication for `/api/`: two steps of the edge (`edge.py`).

`identify` verifies the request's token once, before the rate limit, which counts a verified
caller against their own quota (and anyone else against their IP). `require` then refuses an
`/api/` request without a valid token, before routing and body validation, so an
unauthenticated request learns only that it is unauthenticated; on success the verified user
is put on `request.state.user`.
"""

import logging

from starlette.responses import Response
from starlette.types import Scope

from backend.errors import error_response
from backend.middleware.exchange import Exchange
from backend.tokens import AuthError, TokenVerifier
from backend.url_paths import route_path

logger = logging.getLogger("backend.auth")

PROTECTED_PREFIX = "/api/"
_REALM = 'Bearer realm="api"'
JWKS_RETRY_AFTER_SECONDS = 5


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


async def identify(scope: Scope, exchange: Exchange) -> Response | None:
    """Verify an `/api/` request's bearer token: the caller, or why there is none, goes on the
    exchange. Refuses nothing itself."""
    if route_path(scope).startswith(PROTECTED_PREFIX):
        verifier: TokenVerifier = scope["app"].state.token_verifier
        try:
            exchange.caller = await verifier.verify(_bearer_token(scope))
        except AuthError as error:
            exchange.caller = error
    return None


async def require(scope: Scope, exchange: Exchange) -> Response | None:
    """401 (or 503 while JWKS keys cannot be fetched) for an `/api/` request without a valid
    bearer token; otherwise None, with the verified user on the scope's state."""
    caller = exchange.caller
    if caller is None:
        return None
    if isinstance(caller, AuthError):
        logger.info(
            "authentication failed: reason=%s method=%s path=%s",
            caller.reason,
            scope["method"],
            scope["path"],
        )
        metrics = scope["app"].state.metrics
        if metrics is not None:
            metrics.auth_failures.labels(caller.reason).inc()
        return error_response(caller.status, caller.message, headers=_failure_headers(caller))
    scope.setdefault("state", {})["user"] = caller
    return None


def _failure_headers(error: AuthError) -> dict[str, str]:
    if error.status == 503:
        return {"Retry-After": str(JWKS_RETRY_AFTER_SECONDS)}
    if error.reason == "missing":
        return {"WWW-Authenticate": _REALM}
    description = error.message.replace('"', "'")
    challenge = f'{_REALM}, error="invalid_token", error_description="{description}"'
    return {"WWW-Authenticate": challenge}
