"""Security headers on every response (pure ASGI), from lists built once.

JSON and every other non-HTML response get a CSP that allows nothing, so a response a browser
is tricked into rendering cannot run anything. The Swagger UI page (`/docs`, which loads its
scripts from a CDN) is the one HTML response and keeps its own rules; turn it off in production
with `DOCS_ENABLED=false`. `Cache-Control: no-store` is added unless a route chose its own.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
STRICT_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    html = False
    cache_control = False
    for name, value in headers:
        if name == b"content-type":
            html = value.startswith(b"text/html")
        elif name == b"cache-control":
            cache_control = True
    secured = [*headers, *ALWAYS]
    if not html:
        secured.append(STRICT_CSP)
    if not cache_control:
        secured.append(NO_STORE)
    return secured
