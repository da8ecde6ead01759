"""Security headers on every response (the edge, `edge.py`, adds them), from lists built once.

JSON and every other non-HTML response get a CSP that allows nothing, so a response a browser
is tricked into rendering cannot run anything. The docs pages (`/docs`, `/redoc`) are the only
HTML responses and bring their own policy (`routes/docs_pages.py`: this origin only); turn them
off in production with `DOCS_ENABLED=false`. `Cache-Control: no-store` is added unless a route
chose its own.
"""

ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
STRICT_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
NO_STORE = (b"cache-control", b"no-store")


def secured(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    html = False
    cache_control = False
    for name, value in headers:
        if name == b"content-type":
            html = value.startswith(b"text/html")
        elif name == b"cache-control":
            cache_control = True
    with_security = [*headers, *ALWAYS]
    if not html:
        with_security.append(STRICT_CSP)
    if not cache_control:
        with_security.append(NO_STORE)
    return with_security
