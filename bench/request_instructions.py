"""Instructions per request of the API's own request handling, database stubbed: a figure that
a busy machine does not move.

The same stubbed app as `request_overhead.py`, but the measured requests run inside one
`functools.reduce` call, so that valgrind's callgrind counts only them:

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \\
        --callgrind-out-file=/tmp/cg.out .venv/bin/python bench/request_instructions.py get 500

prints "Collected : N": N / 500 is the instructions of one `get` (or `list`, `create`,
`toggle`, `replace`: the benchmark's requests, the list answered with one task). Repeated runs
agree within 0.5%; timings on a 2-core machine shared with other work do not. Run it from a
checkout whose `backend/` is to be counted (a baseline worktree works: this file imports
`backend` from the current directory, and sets the runner under the name `3ecefa5` gave it too).
A stubbed request never waits, so each one is driven to its end with a single `send`.
"""

import asyncio
import functools
import inspect
import logging
import logging.config
import os
import sys
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, os.getcwd())
sys.path.insert(1, str(Path(__file__).resolve().parent))

from request_overhead import (
    SECRET,
    AnsweringRunner,
    already_provisioned,
    caller,
    request_scope,
)

from backend.config import Settings
from backend.log_config import build_log_config
from backend.main import create_app
from backend.tokens import mint_token

WARM_UP_REQUESTS = 300
TASKS = "/api/bench-user/tasks"
# The requests of bench/wrk/tasks.lua: method, path, query string, body.
REQUESTS: dict[str, tuple[str, str, bytes, bytes]] = {
    "list": ("GET", TASKS, b"limit=20", b""),
    "get": ("GET", f"{TASKS}/1", b"", b""),
    "create": ("POST", TASKS, b"", b'{"title": "Benchmark task", "description": "Created by wrk"}'),
    "toggle": ("PATCH", f"{TASKS}/1/complete", b"", b""),
    "replace": (
        "PUT",
        f"{TASKS}/1",
        b"",
        b'{"title": "Replaced by wrk", "description": "Full replacement", "completed": true}',
    ),
}


def _to_the_end(request: Coroutine[Any, Any, None]) -> None:
    try:
        request.send(None)
    except StopIteration:
        return
    raise RuntimeError("a stubbed request waited: it cannot be counted this way")


async def _count(kind: str, requests: int, database: Path) -> None:
    settings = Settings(
        environment="production",
        database_url=f"sqlite+aiosqlite:///{database}",
        better_auth_secret=SECRET,
        rate_limit_reads=10**9,
        rate_limit_writes=10**9,
    )
    # The app's own logging configuration, written to /dev/null: log calls cost what they cost.
    logging.config.dictConfig(build_log_config(settings))
    with Path(os.devnull).open("w") as text_sink, Path(os.devnull).open("wb") as sink:  # noqa: ASYNC230
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(text_sink)
        if "access_log_sink" in inspect.signature(create_app).parameters:
            app = create_app(settings, access_log_sink=sink)
        else:
            app = create_app(settings)
        token = mint_token(SECRET, user_id="bench-user")
        async with app.router.lifespan_context(app):
            app.state.runner = app.state.task_runner = AnsweringRunner()
            app.state.user_provisioner.ensure = already_provisioned
            method, path, query, body = REQUESTS[kind]
            scope = dict(request_scope(method, path, body, token), query_string=query)
            call = caller(app, scope, body)
            for _ in range(WARM_UP_REQUESTS):
                _to_the_end(call())
            functools.reduce(lambda _, __: _to_the_end(call()), range(requests), None)


def main() -> None:
    kind, requests = sys.argv[1], int(sys.argv[2])
    if kind not in REQUESTS:
        raise SystemExit(f"usage: request_instructions.py {'|'.join(REQUESTS)} REQUESTS")
    os.environ.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_count(kind, requests, Path(directory) / "unused.db"))


if __name__ == "__main__":
    main()
