"""Rate limits per user (reads, and stricter writes) and per client IP when unauthenticated.

A step of the edge (`edge.py`), after the caller is identified and before an unauthenticated
request is refused: a request with a valid token counts against its user, anything else
against its IP address, so failed logins are limited too. Every limited response carries the
IETF `RateLimit-Policy` and `RateLimit` headers; over quota the answer is 429 with
`Retry-After`. Health, readiness and metrics are exempt: a probe
must never be refused.
"""

from starlette.responses import Response
from starlette.types import Scope

from backend.client_address import ClientAddress
from backend.config import Settings
from backend.errors import error_response
from backend.metrics import Metrics
from backend.middleware.exchange import Exchange
from backend.rate_limit import Decision, Policy, RateLimiter
from backend.tokens import AuthenticatedUser
from backend.url_paths import route_path

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RateLimitGate:
    """Counts each request against its quota."""

    def __init__(self, settings: Settings, metrics: Metrics | None) -> None:
        self.metrics = metrics
        window = settings.rate_limit_window_seconds
        self.reads = Policy("reads", settings.rate_limit_reads, window)
        self.writes = Policy("writes", settings.rate_limit_writes, window)
        self.anonymous = Policy("anonymous", settings.rate_limit_anonymous, window)
        self.client_address = ClientAddress(settings.trusted_proxies)

    async def __call__(self, scope: Scope, exchange: Exchange) -> Response | None:
        """The 429 if the quota is spent; the `RateLimit` headers go on the exchange."""
        if route_path(scope) in EXEMPT_PATHS:
            return None
        key, policy = self._key_and_policy(scope, exchange)
        limiter: RateLimiter = scope["app"].state.rate_limiter
        decision = await limiter.hit(key, policy)
        if decision is None:
            if self.metrics is not None:
                self.metrics.rate_limit_fail_open.inc()
            return None
        state = policy.state_format % (decision.remaining, decision.reset_after)
        exchange.headers += (policy.policy_header, (b"ratelimit", state))
        return None if decision.allowed else self._refusal(policy, decision)

    def _key_and_policy(self, scope: Scope, exchange: Exchange) -> tuple[str, Policy]:
        caller = exchange.caller
        if isinstance(caller, AuthenticatedUser):
            policy = self.writes if scope["method"] in WRITE_METHODS else self.reads
            return f"{policy.name}:user:{caller.id}", policy
        return f"anonymous:ip:{self.client_address(scope)}", self.anonymous

    def _refusal(self, policy: Policy, decision: Decision) -> Response:
        if self.metrics is not None:
            self.metrics.rate_limited.labels(policy.name).inc()
        return error_response(
            429,
            "Too many requests, slow down",
            headers={"Retry-After": str(decision.reset_after)},
            policy=policy.name,
            retry_after=decision.reset_after,
        )
