"""`python -m backend migrate | token | serve`, run as a newcomer runs them."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from backend.cli import main

from processes import running_server
from support import SECRET


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


@pytest.mark.parametrize("command", ["migrate", "serve"])
@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("sslmode=verify-full", "add sslrootcert=system"),
        ("sslmode=require&channel_binding=require", "channel_binding=require is not supported"),
        ("sslmode=verify-full&sslrootcert=/no/such/ca.pem", "sslrootcert /no/such/ca.pem cannot"),
        ("options=-c%20search_path%3Dapp&foo=1", "parameter foo is not a libpq"),
    ],
)
def test_a_database_url_the_driver_cannot_honour_stops_startup_in_one_line(
    in_tmp_dir: Path, command: str, query: str, says: str
) -> None:
    home = in_tmp_dir / "home"  # without ~/.postgresql/root.crt
    home.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "HOME": str(home),
        "DATABASE_URL": f"postgresql://app:hunter2@db.example.com/tasks?{query}",
    }

    completed = subprocess.run(
        [sys.executable, "-m", "backend", command],
        env=env,
        cwd=in_tmp_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 1
    assert completed.stderr.count("\n") == 1, completed.stderr
    assert completed.stderr.startswith("cannot start: DATABASE_URL: ")
    assert says in completed.stderr
    assert "hunter2" not in completed.stderr + completed.stdout
