"""Request headers are bounded: 431 with a clear body for a header line or a header block
over its limit, through a real server (whose protocol stops reading an oversized head) and
through the app alone."""

import json
import socket

import httpx

from backend.config import Settings
from backend.http_protocol import MAX_REQUEST_HEAD_BYTES
from backend.main import create_app
from backend.middleware.header_limits import HeaderLimits

from processes import Server
from support import ApiUser, make_settings, serving, token_for

LIMITS = HeaderLimits(Settings.model_fields["jwt_max_token_bytes"].default)
TOO_LARGE = {
    "error": "Request header fields are too large",
    "max_header_line_bytes": LIMITS.max_line_bytes,
    "max_headers_bytes": LIMITS.max_headers_bytes,
}


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
    assert MAX_REQUEST_HEAD_BYTES < 256 * 1024
    head = b"GET /api/alice/tasks HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer "
    status, headers, body = _answer_to_a_partial_head(server, head + b"a" * 256 * 1024)

    assert status == 431
    assert headers["connection"] == "close"
    assert json.loads(body) == {
        "detail": {
            "error": "Request header fields are too large",
            "max_request_head_bytes": MAX_REQUEST_HEAD_BYTES,
        }
    }
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


def test_a_header_line_over_its_limit_is_431_naming_it(server: Server) -> None:
    token = token_for("alice")
    response = httpx.get(
        f"{server.base_url}/api/alice/tasks",
        headers={"Authorization": f"Bearer {token}", "X-Padding": "p" * LIMITS.max_line_bytes},
    )

    assert response.status_code == 431
    assert response.json() == {"detail": {**TOO_LARGE, "header": "x-padding"}}
    assert "x-request-id" in response.headers


def test_headers_over_their_total_limit_are_431(server: Server) -> None:
    padding = {f"X-Padding-{n}": "p" * 4000 for n in range(LIMITS.max_headers_bytes // 4000 + 1)}
    response = httpx.get(f"{server.base_url}/api/alice/tasks", headers=padding)

    assert response.status_code == 431
    assert response.json() == {"detail": TOO_LARGE}


def test_headers_just_within_the_limits_are_served(server: Server) -> None:
    token = token_for("alice")
    headers = {"Authorization": f"Bearer {token}"}
    line = LIMITS.max_line_bytes - len("x-padding-0")
    while sum(len(k) + len(v) for k, v in headers.items()) + line + 12 < LIMITS.max_headers_bytes:
        headers[f"X-Padding-{len(headers)}"] = "p" * line

    response = httpx.get(f"{server.base_url}/api/alice/tasks", headers=headers)

    assert response.status_code == 200, response.text


async def test_the_app_alone_applies_the_same_limits(alice: ApiUser) -> None:
    """Under any ASGI server (here, none), the app's own step answers the same 431."""
    long_line = await alice.request("GET", headers={"X-Padding": "p" * LIMITS.max_line_bytes})
    many = await alice.request("GET", headers={f"X-Padding-{n}": "p" * 4000 for n in range(9)})

    assert long_line.status_code == many.status_code == 431
    assert long_line.json() == {"detail": {**TOO_LARGE, "header": "x-padding"}}
    assert many.json() == {"detail": TOO_LARGE}


async def test_a_longer_token_limit_makes_room_for_its_authorization_line(
    database_url: str,
) -> None:
    """A token over 8 KiB is the token verifier's to refuse (401, saying it is too large),
    whatever JWT_MAX_TOKEN_BYTES; only a header block over its limit is 431."""
    settings = make_settings(database_url, jwt_max_token_bytes=16_384)
    async with serving(create_app(settings)) as http:
        within = await http.get(
            "/api/alice/tasks", headers={"Authorization": "Bearer " + "a" * 16_000}
        )
        beyond = await http.get(
            "/api/alice/tasks", headers={"Authorization": "Bearer " + "a" * 16_500}
        )

    assert within.status_code == beyond.status_code == 401
    assert "too large" not in within.headers["www-authenticate"]
    assert "too large" in beyond.headers["www-authenticate"]
