"""Bounded request headers: 431 for a header line or a header block over its limit, before
the token is verified or anything else reads them; repeated `If-Match` / `If-None-Match` lines
joined into one list, as RFC 9110 (5.3) reads them.

The server (`http_protocol.py`) stops reading a request head that grows far past these
limits; this step applies them exactly, under any ASGI server.
"""

from starlette.responses import Response
from starlette.types import Scope

from backend.errors import error_response
from backend.middleware.exchange import Exchange

# Name and value of one header line, but for `Authorization`: an over-long token there is the
# token verifier's to refuse (401, JWT_MAX_TOKEN_BYTES), as long as the block is within bounds.
MAX_HEADER_LINE_BYTES = 8 * 1024
# Names and values of all header lines of a request; more when JWT_MAX_TOKEN_BYTES needs it.
MAX_HEADERS_BYTES = 32 * 1024
TOO_LARGE = "Request header fields are too large"
_AUTHORIZATION_LINE = len(b"authorization") + len(b"Bearer ")
# Headers whose repeated lines make one comma-separated list.
_JOINED_LISTS = frozenset({b"if-match", b"if-none-match"})


class HeaderLimits:
    """The step: a line over `max_line_bytes` or all lines over `max_headers_bytes` is 431."""

    def __init__(self, max_token_bytes: int) -> None:
        self.max_line_bytes = max(MAX_HEADER_LINE_BYTES, max_token_bytes + _AUTHORIZATION_LINE)
        self.max_headers_bytes = max(MAX_HEADERS_BYTES, self.max_line_bytes + MAX_HEADER_LINE_BYTES)

    def too_large(self, header: str | None = None) -> Response:
        """The 431 answer, naming the header line that is too long (never its value)."""
        named = {"header": header} if header is not None else {}
        return error_response(
            431,
            TOO_LARGE,
            headers={"Connection": "close"},
            max_header_line_bytes=self.max_line_bytes,
            max_headers_bytes=self.max_headers_bytes,
            **named,
        )

    async def __call__(self, scope: Scope, _exchange: Exchange) -> Response | None:
        """431 for a line or all lines over their limit; joins repeated list headers."""
        total = 0
        lists = 0
        for name, value in scope["headers"]:
            size = len(name) + len(value)
            if size > self.max_line_bytes and name != b"authorization":
                return self.too_large(name.decode("latin-1")[:100])
            total += size
            if name in _JOINED_LISTS:
                lists += 1
        if total > self.max_headers_bytes:
            return self.too_large()
        if lists > 1:
            scope["headers"] = _joined(scope["headers"])
        return None


def _joined(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with the lines of each list header joined by `, ` in the first one's place."""
    values: dict[bytes, list[bytes]] = {}
    kept = []
    for name, value in headers:
        if name in _JOINED_LISTS:
            if name in values:
                values[name].append(value)
                continue
            values[name] = [value]
        kept.append((name, value))
    return [
        (name, b", ".join(values[name])) if name in values else (name, value)
        for name, value in kept
    ]
