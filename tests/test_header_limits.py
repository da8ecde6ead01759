"""Request headers are bounded: 431 with a clear body for a header line or a header block
over its limit, through a real server (whose protocol stops reading an oversized head) and
through the app alone."""

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.middleware.header_limits import MAX_HEADER_LINE_BYTES, MAX_HEADERS_BYTES

from processes import Server, running_server
from support import SECRET, ApiUser, token_for

TOO_LARGE = {
    "error": "Request header fields are too large",
    "max_header_line_bytes": MAX_HEADER_LINE_BYTES,
    "max_headers_bytes": MAX_HEADERS_BYTES,
}


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    env = {"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": SECRET, "LOG_LEVEL": "WARNING"}
    with running_server(env, tmp_path) as running:
        yield running
    assert "Traceback" not in running.log()


def _answer_to_a_partial_head(server: Server, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `head`, a request head that has not ended, and read the answer: the server must
    give it without waiting for the rest."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = dict(
        line.decode().lower().split(": ", 1) for line in header_block.split(b"\r\n") if line
    )
    return int(status_line.split()[1]), headers, body


def test_an_endless_authorization_header_is_431_before_it_ends(server: Server) -> None:
    """The first 256 KiB of a header line that never ends (a 2 MB token, say) are enough."""
    head = b"GET /api/alice/tasks HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer "
    status, headers, body = _answer_to_a_partial_head(server, head + b"a" * 256 * 1024)

    assert status == 431
    assert headers["connection"] == "close"
    assert json.loads(body) == {"detail": TOO_LARGE}
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


def test_a_header_line_over_its_limit_is_431_naming_it(server: Server) -> None:
    token = token_for("alice")
    response = httpx.get(
        f"{server.base_url}/api/alice/tasks",
        headers={"Authorization": f"Bearer {token}", "X-Padding": "p" * MAX_HEADER_LINE_BYTES},
    )

    assert response.status_code == 431
    assert response.json() == {"detail": {**TOO_LARGE, "header": "x-padding"}}
    assert "x-request-id" in response.headers


def test_headers_over_their_total_limit_are_431(server: Server) -> None:
    padding = {f"X-Padding-{n}": "p" * 4000 for n in range(MAX_HEADERS_BYTES // 4000 + 1)}
    response = httpx.get(f"{server.base_url}/api/alice/tasks", headers=padding)

    assert response.status_code == 431
    assert response.json() == {"detail": TOO_LARGE}


def test_headers_just_within_the_limits_are_served(server: Server) -> None:
    token = token_for("alice")
    headers = {"Authorization": f"Bearer {token}"}
    line = MAX_HEADER_LINE_BYTES - len("x-padding-0")
    while sum(len(k) + len(v) for k, v in headers.items()) + line + 12 < MAX_HEADERS_BYTES:
        headers[f"X-Padding-{len(headers)}"] = "p" * line

    response = httpx.get(f"{server.base_url}/api/alice/tasks", headers=headers)

    assert response.status_code == 200, response.text


async def test_the_app_alone_applies_the_same_limits(alice: ApiUser) -> None:
    """Under any ASGI server (here, none), the app's own step answers the same 431."""
    long_token = await alice.request("GET", headers={"Authorization": "Bearer " + "a" * 9000})
    many = await alice.request("GET", headers={f"X-Padding-{n}": "p" * 4000 for n in range(9)})

    assert long_token.status_code == many.status_code == 431
    assert long_token.json() == {"detail": {**TOO_LARGE, "header": "authorization"}}
    assert many.json() == {"detail": TOO_LARGE}
