"""One rule for request bodies: over MAX_BODY_BYTES is 413, whether declared with
`Content-Length` or streamed chunked, and whether or not the operation reads a body; through
a real server, with real chunked uploads."""

from collections.abc import AsyncIterator

import httpx
import pytest

from processes import Server
from support import ApiUser, token_for

LIMIT = 1024 * 1024
TOO_LARGE = {"detail": {"error": "Request body is too large", "max_bytes": LIMIT}}


def _chunked(size: int) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, size, 64 * 1024):
            yield b"x" * min(64 * 1024, size - start)

    return chunks()


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH", "POST"])
async def test_a_body_over_the_limit_is_413_however_it_is_framed(
    server: Server, method: str
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        alice = ApiUser(http, "alice-id", token_for("alice-id"))
        task = await alice.create(title="Kept")
        suffix = "" if method in ("GET", "POST") else f"/{task['id']}"
        json_type = {"Content-Type": "application/json"}

        declared = await alice.request(
            method, suffix, content=b"x" * (LIMIT + 1), headers=json_type
        )
        streamed = await alice.request(
            method, suffix, content=_chunked(LIMIT + 1), headers=json_type
        )

        assert declared.status_code == streamed.status_code == 413, streamed.text
        assert declared.json() == streamed.json() == TOO_LARGE
        assert (await alice.request("GET")).json() == [task]


async def test_a_streamed_body_within_the_limit_is_read_as_a_declared_one(
    server: Server,
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        alice = ApiUser(http, "alice-id", token_for("alice-id"))
        task = await alice.create(title="Kept")
        body = b'{"title": "Streamed", "description": "' + b"d" * 900 + b'"}'

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 100):
                yield body[start : start + 100]

        fetched = await alice.request("GET", f"/{task['id']}", content=_chunked(LIMIT))
        written = await alice.request("PUT", f"/{task['id']}", content=chunks())

    assert fetched.status_code == 200
    assert written.status_code == 200, written.text
    assert written.json()["title"] == "Streamed"
