"""Request ids and the one log line per request: JSON in production, text for development."""

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from backend.log_config import JsonFormatter, RequestIdFilter, TextFormatter
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


def access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [entry for entry in parsed(stream) if entry["logger"] == "backend.access"]


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
    alice: ApiUser, json_lines: io.StringIO
) -> None:
    created = await alice.create(title="Log me")
    await alice.request("GET", f"/{created['id']}", headers={"X-Request-ID": "req-1"})

    entries = access_lines(json_lines)
    assert len(entries) == 2
    entry = entries[1]
    assert entry["request_id"] == "req-1"
    assert entry["method"] == "GET"
    assert entry["route"] == "/api/{user_id}/tasks/{task_id}"
    assert entry["status"] == 200
    assert entry["user_id"] == "alice-id"
    assert entry["duration_ms"] >= 0
    assert entry["level"] == "INFO"
    assert entries[0]["status"] == 201


async def test_refused_requests_are_logged_with_their_route_and_without_the_token(
    client: AsyncClient, json_lines: io.StringIO
) -> None:
    expired = token_for("alice-id", expires_in=-3600)
    response = await client.get(
        "/api/alice-id/tasks/7", headers={"Authorization": f"Bearer {expired}"}
    )

    entry = access_lines(json_lines)[-1]
    assert entry["status"] == 401
    assert entry["route"] == "/api/{user_id}/tasks/{task_id}"
    assert "user_id" not in entry
    assert entry["request_id"] == response.headers["x-request-id"]
    assert expired not in json_lines.getvalue()


async def test_unknown_paths_are_logged_as_unmatched_not_raw(
    client: AsyncClient, json_lines: io.StringIO
) -> None:
    await client.get("/wp-admin/secret-probe")

    entry = access_lines(json_lines)[-1]
    assert entry["status"] == 404
    assert entry["route"] == "unmatched"
    assert "secret-probe" not in json_lines.getvalue()


async def test_text_lines_for_local_development(
    alice: ApiUser, log_output: tuple[io.StringIO, logging.Handler]
) -> None:
    stream, handler = log_output
    handler.setFormatter(TextFormatter())

    await alice.request("GET", headers={"X-Request-ID": "dev-7"})

    line = stream.getvalue().splitlines()[-1]
    assert "INFO backend.access: GET /api/{user_id}/tasks 200" in line
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


async def test_access_log_can_be_turned_off(database_url: str, json_lines: io.StringIO) -> None:
    app = create_app(make_settings(database_url, access_log=False))

    async with serving(app) as client:
        await client.get("/healthz")

    assert access_lines(json_lines) == []


async def test_an_unexpected_error_still_carries_the_request_id(
    app: FastAPI, json_lines: io.StringIO
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
    assert access_lines(json_lines)[-1]["status"] == 500
