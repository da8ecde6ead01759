"""What the edge's steps learn about one request and pass on to the steps after them."""

from backend.tokens import AuthenticatedUser, AuthError

Header = tuple[bytes, bytes]


class Exchange:
    """One request's way through the edge: the caller, once identified; extra response headers
    (request id, rate limit); whether the response has started, and its status."""

    __slots__ = ("caller", "headers", "started", "status")

    def __init__(self, request_id_header: Header) -> None:
        self.caller: AuthenticatedUser | AuthError | None = None
        self.headers: list[Header] = [request_id_header]
        self.started = False
        self.status = 500
