"""`python -m backend migrate | token | serve`, run as a newcomer runs them."""

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy.engine import make_url

from backend.cli import main
from backend.config import normalize_database_url
from backend.tokens import mint_token

from processes import ROOT, running_server
from support import SECRET, free_port, token_for

PASSWORD = "pw-" + "s3cr3t-never-printed"


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


def test_openapi_command_prints_the_document_without_a_database(
    in_tmp_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["openapi"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["paths"]["/api/{user_id}/tasks"]["post"]["operationId"] == "create_task"
    assert list(in_tmp_dir.iterdir()) == []


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


def run_refused(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command that must refuse to start: exit 1, one line on stderr, no traceback."""
    project_root = Path(__file__).resolve().parents[1]
    completed = subprocess.run(
        [sys.executable, "-m", "backend", *args],
        env={**os.environ, "PYTHONPATH": str(project_root), "PORT": str(free_port()), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    errors = [line for line in completed.stderr.splitlines() if " INFO " not in line]
    assert completed.returncode == 1, completed.stderr
    assert len(errors) == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    return completed


def unreachable_postgres(postgres_dsn: str, closed_port: int) -> dict[str, tuple[str, str]]:
    """DATABASE_URLs that cannot connect, each with the place and reason the refusal names."""
    real = make_url(normalize_database_url(postgres_dsn))
    return {
        "refused": (
            f"postgresql://taskapi:{PASSWORD}@127.0.0.1:{closed_port}/tasks",
            f"127.0.0.1:{closed_port}/tasks (connection refused",
        ),
        "no host": (
            f"postgresql://taskapi:{PASSWORD}@db.nowhere.invalid/tasks",
            "db.nowhere.invalid:5432/tasks (host name not found)",
        ),
        "no database": (
            real.set(database="no_such_database").render_as_string(hide_password=False),
            f'{real.host}:{real.port or 5432}/no_such_database (database "no_such_database" '
            "does not exist)",
        ),
    }


@pytest.mark.direct_postgres  # PostgreSQL's own words for a missing database, not PgBouncer's
@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize("case", ["refused", "no host", "no database"])
def test_an_unreachable_postgresql_is_one_line_naming_the_setting(
    in_tmp_dir: Path, postgres_dsn: str, command: str, case: str
) -> None:
    # Bound but not listening: connections are refused, and no other process can take the port.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url, says = unreachable_postgres(postgres_dsn, closed.getsockname()[1])[case]
        refused = run_refused(command, env={"DATABASE_URL": url}, cwd=in_tmp_dir)

    assert refused.stderr.startswith(f"cannot connect to the database at {says}")
    assert refused.stderr.strip().endswith("): check DATABASE_URL")
    assert PASSWORD not in refused.stderr + refused.stdout


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_database_that_never_answers_is_refused_within_the_connect_timeout(
    in_tmp_dir: Path, command: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never speaks
        port = silent.getsockname()[1]
        env = {
            "DATABASE_URL": f"postgresql://taskapi:{PASSWORD}@127.0.0.1:{port}/tasks",
            "DB_CONNECT_TIMEOUT": "1",
        }
        refused = run_refused(command, env=env, cwd=in_tmp_dir)

    assert f"127.0.0.1:{port}/tasks (no answer within DB_CONNECT_TIMEOUT=1 seconds)" in (
        refused.stderr
    )


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_sqlite_file_that_cannot_be_created_is_one_line_naming_the_setting(
    in_tmp_dir: Path, command: str
) -> None:
    (in_tmp_dir / "not-a-directory").write_text("")
    path = in_tmp_dir / "not-a-directory" / "tasks.db"

    refused = run_refused(command, env={"DATABASE_URL": f"sqlite:///{path}"}, cwd=in_tmp_dir)

    assert f"cannot connect to the database at file {path} (" in refused.stderr
    assert refused.stderr.strip().endswith("): check DATABASE_URL")


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_weak_production_secret_is_one_line_without_the_secret(
    in_tmp_dir: Path, command: str
) -> None:
    published = "replace-with-a-long-random-secret-of-32-or-more-characters"
    env = {"ENVIRONMENT": "production", "BETTER_AUTH_SECRET": published}

    refused = run_refused(command, env=env, cwd=in_tmp_dir)

    assert refused.stderr.startswith("invalid setting: BETTER_AUTH_SECRET is a placeholder")
    assert published not in refused.stderr
    assert "replace-with" not in refused.stderr


def test_a_better_auth_url_with_the_auth_path_is_refused_saying_what_to_set(
    in_tmp_dir: Path,
) -> None:
    env = {"BETTER_AUTH_URL": "http://localhost:3000/api/auth"}

    refused = run_refused("serve", env=env, cwd=in_tmp_dir)

    assert refused.stderr.startswith(
        "invalid setting: BETTER_AUTH_URL is Better Auth's baseURL, without /api/auth: "
        "set it to http://localhost:3000 "
    )


def test_a_production_server_with_a_strong_secret_serves(in_tmp_dir: Path) -> None:
    secret = secrets.token_urlsafe(32)
    env = {"ENVIRONMENT": "production", "BETTER_AUTH_SECRET": secret}
    project_root = Path(__file__).resolve().parents[1]
    run_cli("migrate", env={**os.environ, "PYTHONPATH": str(project_root), **env}, cwd=in_tmp_dir)

    with running_server(env, in_tmp_dir) as server:
        token = mint_token(secret, user_id="u1")
        response = httpx.get(
            f"{server.base_url}/api/u1/tasks", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200
    assert secret not in server.log()


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
        "HOME": str(home),
        "DATABASE_URL": f"postgresql://app:hunter2@db.example.com/tasks?{query}",
    }

    refused = run_refused(command, env=env, cwd=in_tmp_dir)

    assert refused.stderr.startswith("invalid setting: DATABASE_URL: ")
    assert says in refused.stderr
    assert "hunter2" not in refused.stderr + refused.stdout


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
