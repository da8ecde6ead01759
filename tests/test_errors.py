"""Failures of the server's own: a clean 5xx body, never a traceback."""

import asyncpg
import pytest
from sqlalchemy.exc import IntegrityError

from backend.main import create_app

from support import make_settings, serving, token_for


async def test_unreachable_database_is_503_with_retry_after() -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:1/nowhere", db_pool_timeout=2)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {token_for('alice-id')}"}

    async with serving(app) as client:
        response = await client.get("/api/alice-id/tasks", headers=headers)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json() == {"detail": {"error": "Database unavailable, try again shortly"}}


@pytest.mark.usefixtures("in_tmp_dir")
async def test_unexpected_errors_are_a_bare_500() -> None:
    app = create_app(make_settings("sqlite:///tasks.db"))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with serving(app, raise_app_exceptions=False) as client:
        response = await client.get("/boom")

    assert response.status_code == 500
    assert response.json() == {"detail": {"error": "Internal server error"}}
    assert "secret internals" not in response.text


@pytest.mark.parametrize(
    "conflict",
    [
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.ForeignKeyViolationError("violates foreign key constraint"),
        IntegrityError("UPDATE tag ...", {}, Exception("UNIQUE constraint failed")),
    ],
)
@pytest.mark.usefixtures("in_tmp_dir")
async def test_a_write_that_loses_a_race_on_a_constraint_is_409(conflict: Exception) -> None:
    app = create_app(make_settings("sqlite:///tasks.db"))

    @app.get("/race")
    async def race() -> None:
        raise conflict

    async with serving(app, raise_app_exceptions=False) as client:
        response = await client.get("/race")

    assert response.status_code == 409
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "detail": {"error": "A concurrent write changed the same data first: retry this one"}
    }


async def test_exhausted_connection_pool_is_503(database_url: str) -> None:
    settings = make_settings(database_url, db_pool_size=1, db_pool_timeout=0.2)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {token_for('alice-id')}"}

    async with serving(app) as client:
        await client.get("/api/alice-id/tasks", headers=headers)
        # Hold the only connection of the pool that serves the task routes.
        async with app.state.runner.transaction():
            response = await client.get("/api/alice-id/tasks", headers=headers)
        recovered = await client.get("/api/alice-id/tasks", headers=headers)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert recovered.status_code == 200
