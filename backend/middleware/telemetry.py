"""Request id, the access log line and the request metrics of every HTTP request.

The edge (`edge.py`) times the whole exchange, so these see every status (401 and 429
included), and returns `X-Request-ID` on every response: the client's own when well-formed,
else a new one.
"""

import random
import re

from starlette.types import Scope

from backend.access_log import AccessLog
from backend.errors import documented_paths
from backend.metrics import Metrics
from backend.url_paths import route_path

REQUEST_ID_HEADER = b"x-request-id"
_WELL_FORMED_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "unmatched"


def route_template(scope: Scope) -> str:
    """The route's path template (`/api/{user_id}/tasks`), never the raw path.

    Routing records the matched route in the scope; requests answered before routing (401,
    429, 413) are matched here against the documented paths, which costs only on those.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    app = scope.get("app")
    if app is not None:
        path = route_path(scope)
        for template, pattern, _methods in documented_paths(app):
            if pattern.match(path):
                return template
    return UNMATCHED_ROUTE


def request_id(scope: Scope) -> str:
    """The client's `X-Request-ID` when well-formed, else a new one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if _WELL_FORMED_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    # 128 random bits as 32 hex digits, like a UUID4's hex, without a getrandom() call per
    # request: an id needs to be unique, not unpredictable.
    return f"{random.getrandbits(128):032x}"


class RequestTelemetry:
    """The access log line and the request metrics of one finished exchange."""

    def __init__(self, metrics: Metrics | None, access_log: AccessLog | None) -> None:
        self.metrics = metrics
        self.access_log = access_log

    def record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        if self.metrics is None and self.access_log is None:
            return
        route = route_template(scope)
        method = scope["method"]
        if self.metrics is not None:
            self.metrics.observe_request(route, method, status, seconds)
        if self.access_log is not None:
            user = scope.get("state", {}).get("user")
            user_id = getattr(user, "id", None)
            duration_ms = round(seconds * 1000, 2)
            self.access_log.record(request_id, method, route, status, duration_ms, user_id)
