"""Command line: `python -m backend serve | migrate | token`."""

import argparse
import asyncio
import logging
import sys

import uvicorn

from backend.config import Settings
from backend.db import create_engine
from backend.migrate import upgrade
from backend.tokens import mint_token

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    uvicorn.run(
        "backend.main:app",
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        logging.getLogger("backend").info("database schema is up to date")
    elif args.command == "token":
        sys.stdout.write(_token(settings, args) + "\n")
    else:
        _serve(settings, args)
    return 0
