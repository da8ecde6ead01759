"""User rows, provisioned from verified token claims so that task foreign keys always hold.

The first request of a user id creates its row; a changed email or name updates it. Each
distinct (id, email, name) is written once per process and then remembered (the most recently
seen ones, bounded), so the request path does not touch the user table again.
"""

from collections import OrderedDict
from typing import Any

from sqlalchemy import Insert, and_, bindparam, or_, update
from sqlalchemy.dialects import postgresql, sqlite

from backend.models import User, UTCDateTime, utc_now
from backend.sql_runner import INTEGRITY_ERRORS, Statement, StatementRunner
from backend.tokens import AuthenticatedUser

user_table = User.__table__
# Users remembered as written, per process, the least recently seen dropped first: about 300
# bytes each, so at most about 15 MB.
_REMEMBERED_USERS = 50_000


def _upsert(dialect_insert: Any) -> Insert:
    statement = dialect_insert(user_table).values(
        id=bindparam("id"),
        email=bindparam("email"),
        name=bindparam("name"),
        created_at=bindparam("created_at", type_=UTCDateTime()),
    )
    changed = or_(
        user_table.c.email.is_distinct_from(statement.excluded.email),
        user_table.c.name.is_distinct_from(statement.excluded.name),
    )
    return statement.on_conflict_do_update(
        index_elements=[user_table.c.id],
        set_={"email": statement.excluded.email, "name": statement.excluded.name},
        where=changed,
    )


_UPSERT = Statement(_upsert(postgresql.insert), sqlite=_upsert(sqlite.insert))
# An email now belongs to this user id; an older account that held it lets it go. (Parameters
# are named unlike the columns: in an UPDATE, a column's name is reserved for its new value.)
_RELEASE_EMAIL = Statement(
    update(user_table)
    .where(
        and_(
            user_table.c.email == bindparam("claimed_email"),
            user_table.c.id != bindparam("claimant_id"),
        )
    )
    .values(email=None)
)
# Every statement of this module, for the test that runs each one on both engines.
STATEMENTS = (_UPSERT, _RELEASE_EMAIL)


async def _write_user(runner: StatementRunner, user: AuthenticatedUser) -> None:
    async with runner.transaction() as transaction:
        if user.email is not None:
            await transaction.execute(
                _RELEASE_EMAIL, {"claimed_email": user.email, "claimant_id": user.id}
            )
        await transaction.execute(
            _UPSERT,
            {"id": user.id, "email": user.email, "name": user.name, "created_at": utc_now()},
        )


class UserProvisioner:
    """Makes sure the user row of an authenticated user exists and is current."""

    def __init__(self, runner: StatementRunner) -> None:
        self._runner = runner
        self._provisioned: OrderedDict[tuple[str, str | None, str | None], None] = OrderedDict()

    async def ensure(self, user: AuthenticatedUser) -> None:
        key = (user.id, user.email, user.name)
        if key in self._provisioned:
            self._provisioned.move_to_end(key)
            return
        try:
            await _write_user(self._runner, user)
        except INTEGRITY_ERRORS:
            # A concurrent first request for the same email won the race: write again.
            await _write_user(self._runner, user)
        self._provisioned[key] = None
        if len(self._provisioned) > _REMEMBERED_USERS:
            self._provisioned.popitem(last=False)
