"""An instance serving a database whose schema is not the code's: not ready until migrated, and
saying which revision is there, which is expected and the command that fixes it; task requests
meanwhile are a 503 that says the schema is not migrated, never a 500 or "try again shortly"."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from backend.db import create_engine
from backend.errors import SCHEMA_NOT_MIGRATED
from backend.main import create_app
from backend.migrate import alembic_config, upgrade
from backend.schema_revision import code_revisions

from processes import ROOT, running_server, wait_until
from support import SECRET, ApiUser, make_settings, serving, token_for

HEAD = code_revisions().head
PREVIOUS = ScriptDirectory.from_config(alembic_config()).get_revision(HEAD).down_revision
FIX = "run `python -m backend migrate`"


def as_alice(client: httpx.AsyncClient) -> ApiUser:
    return ApiUser(client, "alice-id", token_for("alice-id"))


def assert_schema_503(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.json() == {"detail": {"error": SCHEMA_NOT_MIGRATED}}
    assert response.headers["retry-after"] == "30"


async def test_a_database_never_migrated_is_not_ready_and_says_how_to_fix(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with serving(create_app(make_settings(fresh_database_url))) as client:
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")
        listed = await as_alice(client).request("GET")
        created = await as_alice(client).request("POST", json={"title": "lost?"})

    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["detail"] == {
        "error": "Not ready: database",
        "failed": ["database"],
        "checks": {
            "database": "failed: schema not migrated: the database has no schema revision, "
            f"this code expects {HEAD}; {FIX}"
        },
    }
    assert_schema_503(listed)
    assert_schema_503(created)
    startup = [r.message for r in caplog.records if r.name == "backend.schema"]
    assert startup == [
        f"schema not migrated: the database has no schema revision, this code expects {HEAD}; "
        f"{FIX} (not ready until then)"
    ]
    request_lines = [r.message for r in caplog.records if r.name == "backend.errors"]
    assert len(request_lines) == 2
    assert all(line.startswith("database schema is not migrated: ") for line in request_lines)
    assert all("python -m backend migrate" in line for line in request_lines)
    assert (
        "purging expired idempotency keys failed: the database schema is not migrated"
        in caplog.messages
    )
    assert "Traceback" not in caplog.text


async def test_a_database_behind_the_code_is_not_ready_and_names_both_revisions(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert PREVIOUS is not None
    engine = create_engine(make_settings(fresh_database_url))
    await upgrade(engine, str(PREVIOUS))
    await engine.dispose()

    async with serving(create_app(make_settings(fresh_database_url))) as client:
        ready = await client.get("/readyz")

    reason = f"schema behind: the database is at revision {PREVIOUS}, this code expects {HEAD}"
    assert ready.status_code == 503
    assert ready.json()["detail"]["checks"] == {"database": f"failed: {reason}; {FIX}"}
    assert f"{reason}; {FIX} (not ready until then)" in caplog.messages


async def test_an_instance_started_before_its_migration_becomes_ready_without_a_restart(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = make_settings(fresh_database_url)
    async with serving(create_app(settings)) as client:
        before = await client.get("/readyz")
        early = await as_alice(client).request("POST", json={"title": "before the migration"})
        engine = create_engine(settings)
        await upgrade(engine)
        await engine.dispose()
        after = await client.get("/readyz")
        created = await as_alice(client).request("POST", json={"title": "after the migration"})
        listed = await as_alice(client).request("GET")

    assert before.status_code == 503
    assert_schema_503(early)
    assert after.status_code == 200
    assert after.json() == {"status": "ready", "checks": {"database": "ok"}}
    assert created.status_code == 201
    assert listed.json() == [created.json()]
    assert f"schema current: the database is at revision {HEAD}" in caplog.messages


async def test_a_database_ahead_of_the_code_is_served_and_says_so(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A rollback: newer code migrated the database. Served, since every migration keeps the
    previous release working; refusing would take every instance out of the balancer."""
    settings = make_settings(fresh_database_url)
    engine = create_engine(settings)
    await upgrade(engine)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '9999_next'"))
    await engine.dispose()

    async with serving(create_app(settings)) as client:
        ready = await client.get("/readyz")
        created = await as_alice(client).request("POST", json={"title": "after a rollback"})

    reason = (
        "schema ahead: the database is at revision 9999_next, which this code does not know "
        f"(it expects {HEAD}): newer code migrated it; serving, as migrations keep the "
        "previous release working"
    )
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": f"ok: {reason}"}}
    assert created.status_code == 201
    assert reason in [r.message for r in caplog.records if r.levelno == logging.WARNING]


async def test_a_table_or_column_the_code_needs_missing_under_a_request_is_a_schema_503(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A schema changed under a running instance (restored, or migrated down): the request that
    meets it is a 503 that says so, not a 500, and the log names the fix."""
    settings = make_settings(fresh_database_url)
    engine = create_engine(settings)
    await upgrade(engine)
    async with serving(create_app(settings)) as client:
        alice = as_alice(client)
        task = await alice.create(title="kept")
        async with engine.begin() as connection:
            await connection.execute(text("ALTER TABLE task DROP COLUMN description"))
        read = await alice.request("GET", f"/{task['id']}")
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE task_count"))
        listed = await alice.request("GET")
    await engine.dispose()

    assert_schema_503(read)
    assert_schema_503(listed)
    assert sum("database schema is not migrated" in line for line in caplog.messages) == 2


def test_a_real_server_logs_the_schema_once_and_turns_ready_when_migrated(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """The rolling deploy: instances start before the migration job, stay out of the balancer
    until it has run, then serve."""
    env = {
        "DATABASE_URL": fresh_database_url,
        "BETTER_AUTH_SECRET": SECRET,
        "ENVIRONMENT": "development",
        "LOG_FORMAT": "text",
    }
    with running_server(env, tmp_path) as server:
        before = httpx.get(f"{server.base_url}/readyz")
        migrate = subprocess.run(
            [sys.executable, "-m", "backend", "migrate"],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        wait_until(
            lambda: httpx.get(f"{server.base_url}/readyz").status_code == 200, "readiness", 10
        )
    log = server.log()

    assert before.status_code == 503
    assert FIX in before.json()["detail"]["checks"]["database"]
    assert migrate.returncode == 0, migrate.stderr
    assert log.count("schema not migrated: the database has no schema revision") == 1
    assert log.count(f"schema current: the database is at revision {HEAD}") == 1
    assert "Traceback" not in log
