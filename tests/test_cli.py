"""`python -m backend migrate | token | serve`, run as a newcomer runs them."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from backend.cli import main

from processes import ROOT, running_server
from support import SECRET, token_for


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "backend", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout.strip()


def test_token_command_prints_a_token_for_the_configured_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BETTER_AUTH_SECRET", SECRET)

    assert (
        main(["token", "--user-id", "u1", "--email", "u1@example.com", "--expires-in", "60"]) == 0
    )

    claims = jwt.decode(capsys.readouterr().out.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "u1"
    assert claims["email"] == "u1@example.com"
    assert claims["exp"] - claims["iat"] == 60


def test_migrate_serve_and_token_work_together_from_nothing(in_tmp_dir: Path) -> None:
    project_root = Path(__file__).resolve().parents[1]
    # in_tmp_dir took every setting out of the environment: all three run on their defaults.
    env = {**os.environ, "PYTHONPATH": str(project_root)}
    run_cli("migrate", env=env, cwd=in_tmp_dir)
    token = run_cli("token", "--user-id", "newcomer", env=env, cwd=in_tmp_dir)
    headers = {"Authorization": f"Bearer {token}"}

    with running_server({}, in_tmp_dir) as server:
        base = server.base_url
        created = httpx.post(f"{base}/api/newcomer/tasks", json={"title": "hi"}, headers=headers)
        listed = httpx.get(f"{base}/api/newcomer/tasks", headers=headers)
    output = server.log()

    assert created.status_code == 201
    assert listed.json() == [created.json()]
    assert (in_tmp_dir / "data" / "tasks.db").exists()
    assert "using the development secret in data/dev-secret" in output
    assert token not in output


@pytest.mark.usefixtures("in_tmp_dir")
def test_token_command_carries_the_configured_issuer_and_audience(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BETTER_AUTH_SECRET", SECRET)
    monkeypatch.setenv("JWT_ISSUER", "https://issuer.example")
    monkeypatch.setenv("JWT_AUDIENCE", "task-api")

    main(["token", "--user-id", "u1"])

    token = capsys.readouterr().out.strip()
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], issuer="https://issuer.example", audience="task-api"
    )
    assert claims["sub"] == "u1"


@pytest.mark.usefixtures("in_tmp_dir")
def test_token_command_explains_that_jwks_only_servers_take_better_auth_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BETTER_AUTH_URL", "http://localhost:3000")

    with pytest.raises(SystemExit, match=r"BETTER_AUTH_SECRET is not set.*authClient\.token\(\)"):
        main(["token", "--user-id", "u1"])


def create_and_read_back(base_url: str) -> None:
    headers = {"Authorization": f"Bearer {token_for('loop-user')}"}
    created = httpx.post(f"{base_url}/api/loop-user/tasks", json={"title": "t"}, headers=headers)
    assert created.status_code == 201
    assert httpx.get(f"{base_url}/api/loop-user/tasks", headers=headers).json() == [created.json()]


def test_serve_runs_on_uvloop_where_it_is_installed(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "BETTER_AUTH_SECRET": SECRET}

    with running_server(env, tmp_path) as server:
        create_and_read_back(server.base_url)

    assert "event loop=uvloop" in server.log()


def test_serve_runs_on_asyncio_where_uvloop_cannot_install(
    database_url: str, tmp_path: Path
) -> None:
    # A platform without uvloop (Windows, PyPy): the dependency's marker leaves it out, so its
    # import fails, as this stand-in's does.
    without_uvloop = tmp_path / "without-uvloop" / "uvloop"
    without_uvloop.mkdir(parents=True)
    (without_uvloop / "__init__.py").write_text("raise ImportError('no uvloop on this platform')\n")
    env = {
        "DATABASE_URL": database_url,
        "BETTER_AUTH_SECRET": SECRET,
        "PYTHONPATH": os.pathsep.join([str(without_uvloop.parent), str(ROOT)]),
    }

    with running_server(env, tmp_path) as server:
        create_and_read_back(server.base_url)

    assert "event loop=asyncio" in server.log()
