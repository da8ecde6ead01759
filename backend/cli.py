"""Command line: `python -m backend serve | migrate | token | openapi`."""

import argparse
import asyncio
import json
import logging
import logging.config
import os
import shutil
import sys
import tempfile
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from backend.config import Settings
from backend.db import create_engine
from backend.log_config import build_log_config
from backend.metrics import MULTIPROCESS_DIR_ENV
from backend.migrate import upgrade
from backend.startup_checks import DatabaseUnreachable, probe_database, settings_error_lines
from backend.tokens import mint_token


async def _migrate(settings: Settings) -> None:
    """Upgrade without `DB_STATEMENT_TIMEOUT`: it bounds requests, while a migration may build
    an index on millions of rows, or wait for another replica's migration to end."""
    engine = create_engine(settings.model_copy(update={"db_statement_timeout": 0}))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    workers = args.workers or settings.workers
    own_metrics_dir = None
    if workers > 1 and settings.metrics_enabled:
        own_metrics_dir = _prepare_metrics_dir()
    try:
        uvicorn.run(
            "backend.main:app",
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=workers,
            # uvloop where it is installed (not on Windows or PyPy), else asyncio's own loop.
            loop="auto",
            http="backend.http_protocol:BoundedHttpToolsProtocol",
            log_config=build_log_config(settings),
            log_level=settings.log_level.lower(),
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        )
    finally:
        if own_metrics_dir is not None:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)


def _prepare_metrics_dir() -> str | None:
    """Give the workers a shared, empty directory for their metrics (before they start).

    An operator's PROMETHEUS_MULTIPROC_DIR is emptied of the last run's files; without one a
    temporary directory is made and removed on exit (the returned path).
    """
    configured = os.environ.get(MULTIPROCESS_DIR_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    created = tempfile.mkdtemp(prefix="taskapi-metrics-")
    os.environ[MULTIPROCESS_DIR_ENV] = created
    return created


def _token(settings: Settings, args: argparse.Namespace) -> str:
    secret = settings.jwt_secret()
    if secret is None:
        raise SystemExit(
            "BETTER_AUTH_SECRET is not set, so the server accepts only tokens signed by your "
            "Better Auth server (JWKS): get one there with authClient.token()"
        )
    return mint_token(
        secret,
        user_id=args.user_id,
        email=args.email,
        name=args.name,
        expires_in=args.expires_in,
        algorithm=settings.jwt_algorithms[0],
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


def openapi_document(settings: Settings) -> str:
    """The OpenAPI document `/openapi.json` serves, as the TypeScript client is generated from
    (`make client`): built by the app itself, so no server or database is needed."""
    # Imported here: importing backend.main builds its module-level app from the environment,
    # which the other commands must first check, each with its one-line refusal.
    from backend.main import create_app

    document = create_app(settings).openapi()
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API (settings from the environment)")
    serve.add_argument("--host", help="interface to bind (HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (WORKERS, default 1)")

    commands.add_parser("migrate", help="bring the database schema up to date")

    token = commands.add_parser("token", help="print a JWT the running server accepts")
    token.add_argument("--user-id", required=True, help="the token's subject (user id)")
    token.add_argument("--email", help="email claim")
    token.add_argument("--name", help="name claim")
    token.add_argument(
        "--expires-in", type=int, default=3600, help="lifetime in seconds (default 3600)"
    )
    commands.add_parser("openapi", help="print the OpenAPI document (no server or database)")
    return parser


def _load_settings() -> Settings:
    """The settings, or an exit with one line per invalid one (never a value: it may be secret)."""
    try:
        return Settings()
    except ValidationError as error:
        raise SystemExit("\n".join(settings_error_lines(error))) from None


def _require_database(settings: Settings) -> None:
    """Exit with one line saying what failed and which setting to change, unless it connects."""
    try:
        asyncio.run(probe_database(settings))
    except DatabaseUnreachable as error:
        raise SystemExit(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = _load_settings()
    if args.command == "migrate":
        logging.config.dictConfig(build_log_config(settings))
        _require_database(settings)
        asyncio.run(_migrate(settings))
        logging.getLogger("backend").info("database schema is up to date")
    elif args.command == "token":
        sys.stdout.write(_token(settings, args) + "\n")
    elif args.command == "openapi":
        sys.stdout.write(openapi_document(settings))
    else:
        _require_database(settings)
        _serve(settings, args)
    return 0
