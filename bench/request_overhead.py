"""CPU cost of the API's own request handling, with the database stubbed out.

Runs well-formed `get` and `create` requests through the whole ASGI app in-process (the edge,
FastAPI's middleware and router, the endpoint), one at a time, with the store's runner
replaced by one that answers at once: what the framework and our code cost per request,
without the query, the network or the HTTP server. Lean handlers on and off.

    python bench/request_overhead.py            # µs per request, best of five batches
"""

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.config import Settings
from backend.main import create_app
from backend.tokens import mint_token

SECRET = "request-overhead-secret-0123456789abcdef0123"
_NOW = datetime.now(UTC)
_ROW = {
    "id": 1,
    "user_id": "bench-user",
    "title": "A task",
    "description": None,
    "completed": False,
    "created_at": _NOW,
    "updated_at": _NOW,
    "version": 1,
}


class AnsweringRunner:
    """A runner whose every statement returns the same task at once."""

    async def one_or_none(self, _statement: object, _params: object) -> dict[str, Any]:
        return dict(_ROW)

    async def one(self, _statement: object, _params: object) -> dict[str, Any]:
        return dict(_ROW)

    async def all(self, _statement: object, _params: object) -> list[dict[str, Any]]:
        return [dict(_ROW, total=1)]

    async def execute(self, _statement: object, _params: object) -> int:
        return 1

    def connections(self) -> tuple[int, int]:
        return 0, 0

    async def close(self) -> None:
        return None


async def already_provisioned(_user: object) -> None:
    return None


def request_scope(method: str, path: str, body: bytes, token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def _measure(lean: bool, database: Path, requests: int) -> dict[str, float]:
    settings = Settings(
        environment="production",
        database_url=f"sqlite+aiosqlite:///{database}",
        better_auth_secret=SECRET,
        lean_handlers_enabled=lean,
        rate_limit_reads=10**9,
        rate_limit_writes=10**9,
    )
    with Path(os.devnull).open("wb") as sink:  # noqa: ASYNC230 (opening /dev/null)
        return await _measure_app(create_app(settings, access_log_sink=sink), requests)


async def _measure_app(app: Any, requests: int) -> dict[str, float]:
    token = mint_token(SECRET, user_id="bench-user")
    results = {}
    async with app.router.lifespan_context(app):
        app.state.runner = AnsweringRunner()
        app.state.user_provisioner.ensure = already_provisioned
        for name, method, path, body in (
            ("get", "GET", "/api/bench-user/tasks/1", b""),
            ("create", "POST", "/api/bench-user/tasks", b'{"title": "A task"}'),
        ):
            call = caller(app, request_scope(method, path, body, token), body)
            for _ in range(500):
                await call()
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(requests):
                    await call()
                best = min(best, (time.perf_counter() - started) / requests)
            results[name] = best * 1e6
    return results


def caller(app: Any, scope: dict[str, Any], body: bytes) -> Callable[[], Awaitable[None]]:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 300:
            raise RuntimeError(f"unexpected status {message['status']}")

    async def call() -> None:
        await app(dict(scope, state={}), receive, send)

    return call


def main() -> None:
    # Other log lines go nowhere here; the access log writes to /dev/null, as it costs.
    logging.disable(logging.CRITICAL)
    os.environ.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory() as directory:
        for lean in (True, False):
            figures = asyncio.run(_measure(lean, Path(directory) / "unused.db", 3000))
            label = "lean handlers" if lean else "FastAPI's full handling"
            line = ", ".join(f"{name} {us:.1f} µs" for name, us in figures.items())
            print(f"{label}: {line}")


if __name__ == "__main__":
    main()
