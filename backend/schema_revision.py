"""The schema revision the database is at, against the one this code's migrations end at.

Serving before the migrations ran (a deploy's usual mistake, or a rolling deploy whose new
instances start before its migration job ends) would otherwise look ready and fail every
request. The revision is read at startup and by readiness until the database holds the code's
schema; from then on it is trusted, so a ready instance's probe costs what it did before.
"""

import logging
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from alembic.script import ScriptDirectory
from sqlalchemy import column, select, table

from backend.errors import database_failure, schema_mismatch
from backend.migrate import alembic_config
from backend.sql_runner import Statement, StatementRunner

logger = logging.getLogger("backend.schema")

MIGRATE_COMMAND = "python -m backend migrate"

_READ_REVISION = Statement(select(column("version_num")).select_from(table("alembic_version")))
# Every statement of this module, for the test that runs each one on both engines.
STATEMENTS = (_READ_REVISION,)


class SchemaState(StrEnum):
    CURRENT = "current"
    NOT_MIGRATED = "not migrated"
    BEHIND = "behind"
    AHEAD = "ahead"


@dataclass(frozen=True)
class CodeRevisions:
    """The revisions of this code's migrations: the last one, and every one it knows."""

    head: str
    known: frozenset[str]

    def compare(self, revisions: frozenset[str]) -> "SchemaStatus":
        """Where a database holding `revisions` (alembic_version's rows) stands."""
        if not revisions:
            state = SchemaState.NOT_MIGRATED
        elif not revisions <= self.known:
            state = SchemaState.AHEAD
        elif revisions == {self.head}:
            state = SchemaState.CURRENT
        else:
            state = SchemaState.BEHIND
        return SchemaStatus(state, ", ".join(sorted(revisions)), self.head)


@cache
def code_revisions() -> CodeRevisions:
    """Read from `backend/migrations/versions` once per process."""
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    if head is None:
        raise RuntimeError("backend/migrations/versions holds no migration")
    return CodeRevisions(head, frozenset(script.revision for script in scripts.walk_revisions()))


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    revision: str
    expected: str

    @property
    def ready(self) -> bool:
        """Served when current, and when ahead: a rollback to the previous release must work,
        which every migration has to allow (docs/operations.md); refusing it would take every
        instance out of the load balancer at once."""
        return self.state in (SchemaState.CURRENT, SchemaState.AHEAD)

    def describe(self) -> str:
        """One line for the operator: where the database is, what the code expects, what to do."""
        if self.state is SchemaState.CURRENT:
            return f"schema current: the database is at revision {self.revision}"
        if self.state is SchemaState.AHEAD:
            return (
                f"schema ahead: the database is at revision {self.revision}, which this code "
                f"does not know (it expects {self.expected}): newer code migrated it; serving, "
                "as migrations keep the previous release working"
            )
        if self.state is SchemaState.NOT_MIGRATED:
            where = "the database has no schema revision"
        else:
            where = f"the database is at revision {self.revision}"
        return (
            f"schema {self.state}: {where}, this code expects {self.expected}; "
            f"run `{MIGRATE_COMMAND}`"
        )


class SchemaRevision:
    """The database's schema status as last read, and the read that logs each change of it."""

    __slots__ = ("_code", "_runner", "status")

    def __init__(self, runner: StatementRunner, code: CodeRevisions) -> None:
        self._runner = runner
        self._code = code
        self.status: SchemaStatus | None = None

    async def read(self) -> SchemaStatus:
        """Read alembic_version (a missing table is a database never migrated) and log the
        status in one line when it differs from the last one read."""
        try:
            rows = await self._runner.all(_READ_REVISION, {})
        except Exception as error:
            if not schema_mismatch(error):
                raise
            rows = []
        status = self._code.compare(frozenset(str(row["version_num"]) for row in rows))
        if status != self.status:
            level = logging.INFO if status.state is SchemaState.CURRENT else logging.WARNING
            suffix = "" if status.ready else " (not ready until then)"
            logger.log(level, "%s%s", status.describe(), suffix)
        self.status = status
        return status

    async def read_at_startup(self) -> None:
        """Read (and so log) the status once. The app starts whatever it finds, not ready until
        migrated: in a rolling deploy new instances may start before the migration job ends. A
        database that does not answer is readiness's to report."""
        try:
            await self.read()
        except Exception as error:
            if database_failure(error) is None:
                logger.warning("schema revision not read at startup: %s", type(error).__name__)
