"""Readiness: named checks that must all pass before an instance should receive traffic.

The app registers the database check; other parts register their own at startup, e.g. a JWKS
key source registers "jwks" with a check that fails until its keys are loaded:
`app.state.readiness.register("jwks", source.ensure_keys_loaded)`. A check is an async
callable that returns when healthy and raises otherwise; each runs under a timeout, all at once.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import literal_column, select

from backend.sql_runner import Statement, StatementRunner

logger = logging.getLogger("backend.health")

Check = Callable[[], Awaitable[object]]
OK = "ok"


class Readiness:
    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._checks: dict[str, Check] = {}

    def register(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def run(self) -> dict[str, str]:
        """Each check's outcome: "ok", "timeout", or the failure's class name (never details)."""
        names = list(self._checks)
        outcomes = await asyncio.gather(*(self._run_one(name) for name in names))
        return dict(zip(names, outcomes, strict=True))

    async def _run_one(self, name: str) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                await self._checks[name]()
        except TimeoutError:
            logger.warning("readiness check %s timed out", name)
            return "timeout"
        except Exception as error:
            logger.warning("readiness check %s failed: %s", name, type(error).__name__)
            return f"failed: {type(error).__name__}"
        return OK


_PING = Statement(select(literal_column("1").label("ok")))
# Every statement of this module, for the test that runs each one on both engines.
STATEMENTS = (_PING,)


def database_check(runner: StatementRunner) -> Check:
    """The database answers a trivial query (through the pool, as requests would)."""

    async def check() -> None:
        await runner.one(_PING, {})

    return check
