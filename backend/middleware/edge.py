"""Every HTTP request's way in, as one pure-ASGI layer (each hop of a middleware stack costs
a call and a `send` wrapper per request, and there were seven).

In order, as the layers were: the request id, timing and access log (`telemetry.py`) and the
security headers (`security_headers.py`) wrap the whole exchange; CORS (Starlette's) answers
preflights and marks responses to a browser's `Origin`; then, inside CORS so that their answers
carry its headers, an unexpected error becomes a 500 or 503 (`errors.py`), the rate limit
counts the request (`rate_limit.py`), the bearer token is verified (`auth.py`) and an oversized
body is refused (`body_limit.py`). What passes goes on to the app.
"""

import time

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.config import Settings
from backend.errors import response_for_unexpected
from backend.log_config import request_id_var
from backend.metrics import Metrics
from backend.middleware.auth import authentication_refusal
from backend.middleware.body_limit import BodySizeLimit
from backend.middleware.rate_limit import Header, RateLimitGate
from backend.middleware.security_headers import secured
from backend.middleware.telemetry import REQUEST_ID_HEADER, RequestTelemetry, request_id

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


class _Exchange:
    """What the edge's inner part tells its outer part about one request."""

    __slots__ = ("headers", "started", "status")

    def __init__(self, request_id_header: Header) -> None:
        self.headers: list[Header] = [request_id_header]
        self.started = False
        self.status = 500


class Edge:
    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics | None) -> None:
        self.app = app
        self.telemetry = RequestTelemetry(metrics, settings.access_log)
        self.rate_limit = RateLimitGate(settings, metrics) if settings.rate_limit_enabled else None
        self.body_limit = BodySizeLimit(settings.max_body_bytes)
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
        exchange = _Exchange((REQUEST_ID_HEADER, request.encode("ascii")))
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
            self.telemetry.record(scope, exchange.status, time.perf_counter() - started)
            request_id_var.reset(context_token)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rate limit, authentication and body size, with any unexpected error answered."""
        exchange: _Exchange = scope[_EXCHANGE]
        try:
            if self.rate_limit is not None:
                headers, refusal = await self.rate_limit.check(scope)
                exchange.headers += headers
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
            refusal = await authentication_refusal(scope) or self.body_limit.refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            await self.app(scope, self.body_limit.limited(receive), send)
        except Exception as exc:
            if exchange.started:
                raise
            response = response_for_unexpected(exc, scope["method"], scope["path"])
            await response(scope, receive, send)
