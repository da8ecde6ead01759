"""Refuses request bodies over the configured size with 413, before anything buffers them."""

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Message, Receive, Scope

from backend.errors import error_response
from backend.middleware.exchange import Exchange

TOO_LARGE = "Request body is too large"


class BodySizeLimit:
    """Checks `Content-Length` up front and counts the bytes of bodies streamed without it.

    A streamed body that passes the limit raises an `HTTPException(413)` from `receive`, which
    FastAPI passes through its body parsing untouched and the app's error handler renders.
    """

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, _exchange: Exchange) -> Response | None:
        """413 for a declared `Content-Length` over the limit, before any byte is read."""
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_body_bytes:
                    return error_response(
                        413,
                        TOO_LARGE,
                        headers={"Connection": "close"},
                        max_bytes=self.max_body_bytes,
                    )
                break
        return None

    def limited(self, receive: Receive) -> Receive:
        """`receive`, counting body bytes and refusing past the limit."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(
                        413, detail={"error": TOO_LARGE, "max_bytes": self.max_body_bytes}
                    )
            return message

        return limited_receive
