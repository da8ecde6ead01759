"""Refuses request bodies over the configured size with 413, before anything buffers them."""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import error_response

TOO_LARGE = "Request body is too large"


class BodySizeLimitMiddleware:
    """Checks `Content-Length` up front and counts the bytes of bodies streamed without it.

    A streamed body that passes the limit raises an `HTTPException(413)` from `receive`, which
    FastAPI passes through its body parsing untouched and the app's error handler renders.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next(
            (value for name, value in scope["headers"] if name == b"content-length"), b""
        )
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            response = error_response(
                413, TOO_LARGE, headers={"Connection": "close"}, max_bytes=self.max_body_bytes
            )
            await response(scope, receive, send)
            return

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

        await self.app(scope, limited_receive, send)
