"""Request ids and the one access line per request: JSON in production, text for development.

The access log has its own writer (`backend/access_log.py`); the app's other lines go through
`logging`. Both are read here as production writes them.
"""

import asyncio
import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from backend.access_log import AccessLog
from backend.config import LogFormat, Settings
from backend.log_config import JsonFormatter, RequestIdFilter
from backend.main import create_app

from support import ApiUser, make_settings, serving, token_for


@pytest.fixture
def log_output() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    """What the app's loggers write, through the same formatter and filter production uses."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("backend")
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield stream, handler
    logger.removeHandler(handler)
    logger.setLevel(previous_level)


@pytest.fixture
def json_lines(log_output: tuple[io.StringIO, logging.Handler]) -> io.StringIO:
    stream, handler = log_output
    handler.setFormatter(JsonFormatter())
    return stream


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def access_sink() -> io.BytesIO:
    return io.BytesIO()


@pytest.fixture
async def app(settings: Settings, access_sink: io.BytesIO) -> AsyncIterator[FastAPI]:
    """The app of every test here, its access lines written to `access_sink`."""
    as_in_production = settings.model_copy(update={"log_format": LogFormat.JSON})
    application = create_app(as_in_production, access_log_sink=access_sink)
    async with application.router.lifespan_context(application):
        yield application


async def access_lines(sink: io.BytesIO, count: int) -> list[dict[str, Any]]:
    """The first `count` access lines, once the writer has written them (it does so within a
    tenth of a second)."""
    for _ in range(100):
        lines = sink.getvalue().decode().splitlines()
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} access lines, got: {sink.getvalue()!r}")


async def test_a_well_formed_client_request_id_is_kept(alice: ApiUser) -> None:
    response = await alice.request("GET", headers={"X-Request-ID": "trace-42.abc:1"})

    assert response.headers["x-request-id"] == "trace-42.abc:1"


@pytest.mark.parametrize("given", ["has spaces", "x" * 129, 'quote"s', "\u00e9t\u00e9"])
async def test_a_malformed_request_id_is_replaced(client: AsyncClient, given: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": given.encode()})

    assert response.headers["x-request-id"] != given
    assert len(response.headers["x-request-id"]) == 32


async def test_every_response_gets_a_fresh_request_id(client: AsyncClient) -> None:
    ids = {(await client.get(path)).headers["x-request-id"] for path in ("/healthz", "/nope")}
    ids.add((await client.get("/api/alice-id/tasks")).headers["x-request-id"])

    assert len(ids) == 3


async def test_one_json_line_per_request_with_route_template_and_user(
    alice: ApiUser, access_sink: io.BytesIO
) -> None:
    created = await alice.create(title="Log me")
    await alice.request("GET", f"/{created['id']}", headers={"X-Request-ID": "req-1"})

    entries = await access_lines(access_sink, 2)
    assert len(entries) == 2
    entry = entries[1]
    assert entry["request_id"] == "req-1"
    assert entry["method"] == "GET"
    assert entry["route"] == "/api/{user_id}/tasks/{task_id}"
    assert entry["status"] == 200
    assert entry["user_id"] == "alice-id"
    assert entry["duration_ms"] >= 0
    assert entry["level"] == "INFO"
    assert entry["logger"] == "backend.access"
    assert entry["message"].startswith("GET /api/{user_id}/tasks/{task_id} 200 ")
    assert entry["time"].endswith("Z")
    assert entries[0]["status"] == 201


async def test_refused_requests_are_logged_with_their_route_and_without_the_token(
    client: AsyncClient, access_sink: io.BytesIO, json_lines: io.StringIO
) -> None:
    expired = token_for("alice-id", expires_in=-3600)
    response = await client.get(
        "/api/alice-id/tasks/7", headers={"Authorization": f"Bearer {expired}"}
    )

    entry = (await access_lines(access_sink, 1))[-1]
    assert entry["status"] == 401
    assert entry["route"] == "/api/{user_id}/tasks/{task_id}"
    assert "user_id" not in entry
    assert entry["request_id"] == response.headers["x-request-id"]
    assert expired.encode() not in access_sink.getvalue()
    assert expired not in json_lines.getvalue()


async def test_unknown_paths_are_logged_as_unmatched_not_raw(
    client: AsyncClient, access_sink: io.BytesIO
) -> None:
    await client.get("/wp-admin/secret-probe")

    entry = (await access_lines(access_sink, 1))[-1]
    assert entry["status"] == 404
    assert entry["route"] == "unmatched"
    assert b"secret-probe" not in access_sink.getvalue()


async def test_text_lines_for_local_development(database_url: str) -> None:
    sink = io.BytesIO()
    app = create_app(make_settings(database_url, log_format="text"), access_log_sink=sink)
    headers = {"Authorization": f"Bearer {token_for('alice-id')}", "X-Request-ID": "dev-7"}

    async with serving(app) as client:
        await client.get("/api/alice-id/tasks", headers=headers)

    line = sink.getvalue().decode().splitlines()[-1]
    assert " INFO backend.access: GET /api/{user_id}/tasks 200 " in line
    assert "user=alice-id" in line
    assert line.endswith("[request dev-7]")


async def test_database_errors_are_logged_with_the_request_id(json_lines: io.StringIO) -> None:
    app = create_app(make_settings("postgresql://postgres@127.0.0.1:1/nowhere"))
    headers = {"Authorization": f"Bearer {token_for('alice-id')}", "X-Request-ID": "db-down-1"}

    async with serving(app) as client:
        response = await client.get("/api/alice-id/tasks", headers=headers)

    assert response.status_code == 503
    failure = next(entry for entry in parsed(json_lines) if entry["logger"] == "backend.errors")
    assert failure["request_id"] == "db-down-1"
    assert failure["level"] == "ERROR"


@pytest.mark.parametrize("setting", [{"access_log": False}, {"log_level": "WARNING"}])
async def test_access_log_can_be_turned_off(database_url: str, setting: dict[str, Any]) -> None:
    sink = io.BytesIO()
    app = create_app(make_settings(database_url, **setting), access_log_sink=sink)

    async with serving(app) as client:
        await client.get("/healthz")

    assert sink.getvalue() == b""


async def test_no_line_is_lost_on_a_graceful_shutdown(database_url: str) -> None:
    """Lines still queued when the server stops are written before it exits."""
    sink = io.BytesIO()
    app = create_app(make_settings(database_url, log_format="json"), access_log_sink=sink)

    async with serving(app) as client:
        for _ in range(300):
            await client.get("/healthz")
        await asyncio.gather(*(client.get("/healthz") for _ in range(200)))

    lines = sink.getvalue().decode().splitlines()
    assert len(lines) == 500
    assert all(json.loads(line)["route"] == "/healthz" for line in lines)


def test_close_writes_what_the_writer_had_not_yet_written() -> None:
    """Whatever is queued when the server stops is written, however long until the next flush."""
    sink = io.BytesIO()
    access_log = AccessLog(sink, json=True, capacity=1000, metrics=None, flush_seconds=3600)
    access_log.start()
    for index in range(50):
        access_log.record(f"r{index}", "GET", "/healthz", 200, 0.1, None)
    assert sink.getvalue() == b""

    access_log.close()

    lines = [json.loads(line) for line in sink.getvalue().decode().splitlines()]
    assert [line["request_id"] for line in lines] == [f"r{index}" for index in range(50)]


class _BlockingSink(io.BytesIO):
    """A sink whose writes wait until `released` is set, like a log pipe nobody reads."""

    def __init__(self, released: threading.Event) -> None:
        super().__init__()
        self._released = released

    def write(self, data: Any) -> int:
        self._released.wait()
        return super().write(data)


async def test_a_stalled_log_sink_drops_lines_and_counts_them_but_never_holds_requests(
    database_url: str,
) -> None:
    blocked = threading.Event()
    sink = _BlockingSink(blocked)
    settings = make_settings(database_url, access_log_buffer_lines=100, log_format="json")
    app = create_app(settings, access_log_sink=sink)

    async with serving(app) as client:
        statuses = [(await client.get("/healthz")).status_code for _ in range(250)]
        metrics = (await client.get("/metrics")).text
        blocked.set()

    assert statuses == [200] * 250
    dropped = next(
        line for line in metrics.splitlines() if line.startswith("access_log_dropped_lines_total")
    )
    dropped_lines = float(dropped.split()[-1])
    assert dropped_lines >= 100
    written = sink.getvalue().decode().splitlines()
    assert 100 <= len(written) <= 251 - dropped_lines


async def test_an_unexpected_error_still_carries_the_request_id(
    app: FastAPI, json_lines: io.StringIO, access_sink: io.BytesIO
) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with serving(app) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "boom-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "secret internals" not in response.text
    error = next(entry for entry in parsed(json_lines) if entry["logger"] == "backend.errors")
    assert error["request_id"] == "boom-1"
    assert "RuntimeError: secret internals" in error["exception"]
    assert (await access_lines(access_sink, 1))[-1]["status"] == 500
