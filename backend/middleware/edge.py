"""Every HTTP request's way in, as one pure-ASGI layer: each hop of a middleware stack costs a
call and a `send` wrapper per request, so the concerns are steps of one layer instead.

Two kinds of concern, each in its own module:
- wrapping the whole exchange: the request id, timing and access log (`telemetry.py`), the
  security headers (`security_headers.py`) and, for a request with an `Origin`, CORS
  (Starlette's), which answers preflights and marks responses; inside CORS, so that these
  answers carry its headers, an unexpected error becomes a 500 or 503 (`errors.py`);
- `Step`s, run in the order of `Edge.steps` (data, read top to bottom): each may answer the
  request itself, and passes what it learnt to the next on the `Exchange`.
What passes every step goes on to the app.
"""

import time
from collections.abc import Awaitable, Callable

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.access_log import AccessLog
from backend.config import Settings
from backend.errors import response_for_unexpected
from backend.log_config import request_id_var
from backend.metrics import Metrics
from backend.middleware import auth
from backend.middleware.body_limit import BodySizeLimit
from backend.middleware.exchange import Exchange
from backend.middleware.forwarded_scheme import ForwardedScheme
from backend.middleware.header_limits import HeaderLimits
from backend.middleware.rate_limit import RateLimitGate
from backend.middleware.security_headers import secured
from backend.middleware.telemetry import REQUEST_ID_HEADER, RequestTelemetry, request_id

# A step sees the request and what earlier steps learnt; a response it returns is the answer.
Step = Callable[[Scope, Exchange], Awaitable[Response | None]]

# Request headers a browser frontend sends, and response headers it may read.
CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
CORS_EXPOSE_HEADERS = [
    "Location",
    "ETag",
    "Link",
    "X-Total-Count",
    "Idempotent-Replayed",
    "X-Request-ID",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
]
_EXCHANGE = "backend.exchange"


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        metrics: Metrics | None,
        access_log: AccessLog | None,
    ) -> None:
        self.app = app
        self.telemetry = RequestTelemetry(metrics, access_log)
        self.body_limit = BodySizeLimit(settings.max_body_bytes)
        header_limits = HeaderLimits(settings.jwt_max_token_bytes)
        rate_limit = RateLimitGate(settings, metrics) if settings.rate_limit_enabled else None
        forwarded = ForwardedScheme(settings.trusted_proxies) if settings.trusted_proxies else None
        self.steps: tuple[Step, ...] = tuple(
            step
            for step in (
                header_limits,  # 431 for headers over their limits, before anything reads them
                forwarded,  # behind a trusted TLS proxy, the client's https
                auth.identify,  # who is asking: the bearer token, verified once
                rate_limit,  # counts the request against the caller's quota, or their IP's
                auth.require,  # 401 for an /api/ request without a valid token
            )
            if step is not None
        )
        self.cors = CORSMiddleware(
            self._guarded,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request = request_id(scope)
        context_token = request_id_var.set(request)
        exchange = Exchange((REQUEST_ID_HEADER, request.encode("ascii")))
        scope[_EXCHANGE] = exchange

        async def send_out(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.started = True
                exchange.status = message["status"]
                message["headers"] = secured([*message.get("headers", ()), *exchange.headers])
            await send(message)

        try:
            if any(name == b"origin" for name, _ in scope["headers"]):
                await self.cors(scope, receive, send_out)
            else:
                await self._guarded(scope, receive, send_out)
        finally:
            self.telemetry.record(scope, request, exchange.status, time.perf_counter() - started)
            request_id_var.reset(context_token)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The steps, then the body limit (413 for a body over it, however framed), then the
        app, with any unexpected error answered."""
        exchange: Exchange = scope[_EXCHANGE]
        try:
            for step in self.steps:
                answer = await step(scope, exchange)
                if answer is not None:
                    await answer(scope, receive, send)
                    return
            bounded = await self.body_limit.bounded(scope, receive)
            if isinstance(bounded, Response):
                await bounded(scope, receive, send)
                return
            await self.app(scope, bounded, send)
        except Exception as exc:
            if exchange.started:
                raise
            response = response_for_unexpected(exc, scope["method"], scope["path"])
            await response(scope, receive, send)
