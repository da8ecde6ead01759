"""User rows, provisioned from verified token claims so that task foreign keys always hold.

The first request of a user id creates its row; a changed email or name updates it. Each
distinct (id, email, name) is written once per process and then remembered, so the request
path does not touch the user table again.
"""

from collections import OrderedDict

from sqlalchemy import Insert, and_, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from backend.models import User, utc_now
from backend.tokens import AuthenticatedUser

user_table = User.__table__
_REMEMBERED_USERS = 50_000


def _upsert(dialect_name: str, user: AuthenticatedUser) -> Insert:
    dialect_insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = dialect_insert(user_table).values(
        id=user.id, email=user.email, name=user.name, created_at=utc_now()
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


async def _write_user(connection: AsyncConnection, user: AuthenticatedUser) -> None:
    if user.email is not None:
        # An email now belongs to this user id; an older account that held it lets it go.
        await connection.execute(
            update(user_table)
            .where(and_(user_table.c.email == user.email, user_table.c.id != user.id))
            .values(email=None)
        )
    await connection.execute(_upsert(connection.dialect.name, user))


class UserProvisioner:
    """Makes sure the user row of an authenticated user exists and is current."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._provisioned: OrderedDict[tuple[str, str | None, str | None], None] = OrderedDict()

    async def ensure(self, user: AuthenticatedUser) -> None:
        key = (user.id, user.email, user.name)
        if key in self._provisioned:
            return
        try:
            async with self._engine.begin() as connection:
                await _write_user(connection, user)
        except IntegrityError:
            # A concurrent first request for the same email won the race: write again.
            async with self._engine.begin() as connection:
                await _write_user(connection, user)
        self._provisioned[key] = None
        if len(self._provisioned) > _REMEMBERED_USERS:
            self._provisioned.popitem(last=False)
