"""Refuses request bodies over the configured size with 413, however they are framed and
whether or not the route reads them, before anything buffers more than the limit."""

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Message, Receive, Scope

from backend.errors import error_response

TOO_LARGE = "Request body is too large"


class BodySizeLimit:
    """The last step before the app: a declared `Content-Length` over the limit is refused
    before any byte is read; a body streamed without one (chunked) is read here, up to the
    limit, so that a route that never reads its body (a GET, a DELETE) still refuses one over
    it; other bodies are counted as the app reads them.

    A body that passes the limit while the app reads it raises an `HTTPException(413)` from
    `receive`, which FastAPI passes through its body parsing untouched and the app's error
    handler renders.
    """

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes

    async def bounded(self, scope: Scope, receive: Receive) -> Receive | Response:
        """`receive` as the app gets it, or the 413 answer."""
        streamed = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_body_bytes:
                    return self._too_large()
                return self.limited(receive)
            if name == b"transfer-encoding":
                streamed = True
        return await self._read_whole(receive) if streamed else self.limited(receive)

    def _too_large(self) -> Response:
        return error_response(
            413, TOO_LARGE, headers={"Connection": "close"}, max_bytes=self.max_body_bytes
        )

    async def _read_whole(self, receive: Receive) -> Receive | Response:
        """A streamed body, read up to the limit and replayed to the app; 413 past it."""
        chunks = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                return self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

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
