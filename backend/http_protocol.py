"""The HTTP/1.1 protocol `python -m backend serve` runs: uvicorn's httptools one, reading no
more of a request head than the header limits allow.

httptools (llhttp) has no limit of its own on a request head: it gathers a header of any size
(a 2 MB `Authorization` line) before handing it over. This protocol counts the bytes of the
head as they arrive and, once they pass `MAX_REQUEST_HEAD_BYTES`, answers 431 and closes the
connection without parsing further. Heads within that bound reach the app, whose
`header_limits` step applies the exact limits (431 with the same error).

After the 431 the connection is closed the way servers close on a client still sending: the
write side first, then whatever else arrives is discarded for at most `LINGER_SECONDS`, so
that the close does not reset the connection before the client has read the answer.
"""

from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from backend.errors import error_response
from backend.middleware.header_limits import TOO_LARGE

# The request line and the header lines with their separators: room for the largest headers
# the settings allow (a JWT_MAX_TOKEN_BYTES of 64 KiB and 32 KiB of others).
MAX_REQUEST_HEAD_BYTES = 128 * 1024
LINGER_SECONDS = 2.0


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._reading_head:
            super().data_received(data)
            return
        self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > MAX_REQUEST_HEAD_BYTES:
            self._refuse_head()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_head = True
        super().on_message_complete()

    def eof_received(self) -> None:
        if self._refused:
            self.transport.close()
            return
        super().eof_received()

    def _refuse_head(self) -> None:
        if self.transport.is_closing():
            return
        self._refused = True
        answer = error_response(
            431,
            TOO_LARGE,
            headers={"Connection": "close"},
            max_request_head_bytes=MAX_REQUEST_HEAD_BYTES,
        )
        head = [STATUS_LINE[answer.status_code]]
        head += [name + b": " + value + b"\r\n" for name, value in answer.raw_headers]
        self.transport.write(b"".join([*head, b"\r\n", bytes(answer.body)]))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
