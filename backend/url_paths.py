"""Request paths: the route path every edge step reads, and the URLs the API writes into
response headers (`Location`, `Link`), percent-encoded (RFC 3986).

Under an ASGI `root_path` (the app mounted at `/prefix`, or `uvicorn --root-path`), the scope's
`path` keeps the prefix, as clients see it; routes, and every step that asks which endpoint a
request is for, read the path without it (`route_path`), as Starlette's router does.

Starlette hands the app the decoded path and writes header values as Latin-1, so a user id
such as `用户-1` would fail the response after its write had committed (the client retries and
duplicates the task), and one holding `%`, `?`, `>` or a space would name another URL. Each
path is encoded before the write runs, so every header value is plain ASCII.
"""

import re
from urllib.parse import quote

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.types import Scope

# Anything but RFC 3986's unreserved characters and the `/` between segments needs encoding;
# the common path has none, and is then used as it is.
_NEEDS_ENCODING = re.compile(r"[^A-Za-z0-9/._~-]")


def route_path(scope: Scope) -> str:
    """The path the routes match: the scope's `path` without the `root_path` it starts with."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        rest = path[len(root_path) :]
        if not rest or rest[0] == "/":
            return rest
    return path


def encoded_path(path: str) -> str:
    """`path` (decoded, as in the ASGI scope) with every segment percent-encoded as UTF-8."""
    if _NEEDS_ENCODING.search(path) is None:
        return path
    return quote(path, safe="/")


def request_path(request: Request) -> str:
    """The request's path, percent-encoded."""
    return encoded_path(request.scope["path"])


def request_url(request: Request) -> URL:
    """The request's URL with its path percent-encoded (Starlette's `request.url` keeps the
    path decoded, escaping only `?`, `#` and `\\`)."""
    path: str = request.scope["path"]
    encoded = encoded_path(path)
    return request.url if encoded is path else request.url.replace(path=encoded)
