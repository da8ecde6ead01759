"""Readiness: named checks that must all pass before an instance should receive traffic.

The app registers the database check; other parts register their own at startup, e.g. a JWKS
key source registers "jwks" with a check that fails until its keys are loaded:
`app.state.readiness.register("jwks", source.ensure_keys_loaded)`. A check is an async
callable that returns when healthy (a string it returns is a note for the operator) and raises
otherwise; each runs under a timeout, all at once. Its outcome is "ok" (or "ok: " and the note),
"timeout", or "failed: " and the exception's class name, or the reason of a `NotReady`.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import literal_column, select

from backend.schema_revision import SchemaRevision, SchemaState
from backend.sql_runner import Statement, StatementRunner

logger = logging.getLogger("backend.health")

Check = Callable[[], Awaitable[str | None]]
OK = "ok"


class NotReady(Exception):
    """A check's failure with a reason for the operator (it holds no secret): /readyz shows it,
    and the check logs it when it changes rather than at every probe."""


def passed(outcome: str) -> bool:
    """Whether a check's outcome lets the instance take traffic: "ok", with or without a note."""
    return outcome == OK or outcome.startswith(f"{OK}: ")


class Readiness:
    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._checks: dict[str, Check] = {}

    def register(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def run(self) -> dict[str, str]:
        """Each check's outcome (see the module's docstring): an exception's details never."""
        names = list(self._checks)
        outcomes = await asyncio.gather(*(self._run_one(name) for name in names))
        return dict(zip(names, outcomes, strict=True))

    async def _run_one(self, name: str) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                note = await self._checks[name]()
        except TimeoutError:
            logger.warning("readiness check %s timed out", name)
            return "timeout"
        except NotReady as reason:
            return f"failed: {reason}"
        except Exception as error:
            logger.warning("readiness check %s failed: %s", name, type(error).__name__)
            return f"failed: {type(error).__name__}"
        return OK if note is None else f"{OK}: {note}"


_PING = Statement(select(literal_column("1").label("ok")))
# Every statement of this module, for the test that runs each one on both engines.
STATEMENTS = (_PING,)


def database_check(runner: StatementRunner, schema: SchemaRevision) -> Check:
    """The database answers (through the pool, as requests would) and holds the schema this code
    expects. Until it has, each probe reads the schema revision; from then on a trivial query
    suffices, so the probe of a ready instance costs one round trip."""

    async def check() -> str | None:
        status = schema.status
        if status is not None and status.ready:
            await runner.one(_PING, {})
        else:
            status = await schema.read()
            if not status.ready:
                raise NotReady(status.describe())
        return None if status.state is SchemaState.CURRENT else status.describe()

    return check
