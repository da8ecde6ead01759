"""Liveness and readiness probes: no token, no secret, 200 or 503 naming the failed check."""

import asyncio

from fastapi import FastAPI
from httpx import AsyncClient

from backend.main import create_app

from support import make_settings, serving


async def test_liveness_needs_no_token_and_touches_nothing(client: AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_reports_the_database_check(client: AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_unreachable_database_makes_the_instance_unready_but_alive() -> None:
    url = "postgresql://app:hunter2-password@127.0.0.1:1/tasks"
    app = create_app(make_settings(url, readiness_timeout_seconds=5))

    async with serving(app) as client:
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")

    assert alive.status_code == 200
    assert ready.status_code == 503
    detail = ready.json()["detail"]
    assert detail["error"] == "Not ready: database"
    assert detail["failed"] == ["database"]
    assert detail["checks"]["database"].startswith("failed: ")
    assert "hunter2" not in ready.text
    assert "127.0.0.1" not in ready.text


async def test_components_register_their_own_checks(app: FastAPI, client: AsyncClient) -> None:
    async def keys_not_loaded() -> None:
        raise RuntimeError("no JWKS keys yet")

    app.state.readiness.register("jwks", keys_not_loaded)
    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["detail"]["failed"] == ["jwks"]
    assert response.json()["detail"]["checks"] == {
        "database": "ok",
        "jwks": "failed: RuntimeError",
    }
    assert "no JWKS keys yet" not in response.text


async def test_a_hanging_check_times_out_instead_of_hanging_the_probe(database_url: str) -> None:
    app = create_app(make_settings(database_url, readiness_timeout_seconds=0.2))

    async def hangs() -> None:
        await asyncio.Event().wait()

    app.state.readiness.register("jwks", hangs)
    async with serving(app) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["detail"]["checks"]["jwks"] == "timeout"
