"""Database tables as SQLModel classes; the migrations in `migrations/` create exactly these.

Table models declare storage only: column types and lengths, keys, indexes, server defaults.
They validate nothing (SQLModel never validates a `table=True` class) and carry no Python-side
default a store would rely on: every value is bound by the statement that writes it. What a
client may send is ruled by `schemas.py`, which takes its lengths from here.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlmodel import Field, SQLModel

# Stable constraint names, so that migrations can refer to them on every engine.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TITLE_MAX_LENGTH = 200
IDEMPOTENCY_KEY_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 1000
USER_ID_MAX_LENGTH = 255
EMAIL_MAX_LENGTH = 255
NAME_MAX_LENGTH = 100
TAG_MAX_LENGTH = 50
# A tag's key is its name case-folded, which can be longer: `str.casefold()` turns one character
# into at most three.
TAG_KEY_MAX_LENGTH = 3 * TAG_MAX_LENGTH
RECURRENCE_MAX_LENGTH = 255


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every engine.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so values are stored as UTC and
    given their zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """On PostgreSQL every driver reads `timestamptz` back zone-aware, so only the inner
        type's processing remains: no call per timestamp of every row read."""
        if dialect.name == "postgresql":
            return self.impl_instance.result_processor(dialect, coltype)
        return super().result_processor(dialect, coltype)


def _timestamp_column(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=False, **kwargs))


class User(SQLModel, table=True):
    """A Better Auth user, provisioned from the claims of the first token that names it."""

    id: str = Field(primary_key=True, max_length=USER_ID_MAX_LENGTH)
    # Nullable: self-minted tokens may carry no email, and an email that moves to a new
    # Better Auth account is released from the old row rather than refused.
    email: str | None = Field(default=None, unique=True, index=True, max_length=EMAIL_MAX_LENGTH)
    name: str | None = Field(default=None, max_length=NAME_MAX_LENGTH)
    created_at: datetime = _timestamp_column()

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, email={self.email!r})"


class Task(SQLModel, table=True):
    """One to-do item, owned by exactly one user."""

    __table_args__ = (
        # One index per sort order of the list query (read forwards or backwards), each ending
        # in `id`, the tie-breaker, so a page is read off the index with no sort. The first
        # also serves the foreign key's lookups.
        Index("ix_task_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_task_user_id_updated_at_id", "user_id", "updated_at", "id"),
        Index("ix_task_user_id_title_id", "user_id", "title", "id"),
        Index("ix_task_user_id_id", "user_id", "id"),
        # `sort=priority` and `sort=due_at` read these too; `priority=` and `overdue=` filters
        # are applied while walking one of them, or read a range of them.
        Index("ix_task_user_id_priority_id", "user_id", "priority", "id"),
        Index("ix_task_user_id_due_at_id", "user_id", "due_at", "id"),
        # Never hand out the id of a deleted task again (SQLite reuses rowids otherwise).
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    user_id: str = Field(
        sa_column=Column(
            String(USER_ID_MAX_LENGTH),
            ForeignKey("user.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    title: str = Field(max_length=TITLE_MAX_LENGTH)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    # No index of its own: the filter is applied while walking a per-user sort index, and a
    # global index on a boolean only tempted planners away from those.
    completed: bool
    created_at: datetime = _timestamp_column()
    updated_at: datetime = _timestamp_column()
    # The rank of `schemas.Priority` (0 none .. 3 high), so the order is the column's own and an
    # index serves it; statements return the name (`task_store`).
    priority: int = Field(sa_column=Column(SmallInteger, nullable=False, server_default=text("0")))
    due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # An RFC 5545 RRULE value as `recurrence.py` writes it back; never set without `due_at`.
    recurrence: str | None = Field(
        default=None, sa_column=Column(String(RECURRENCE_MAX_LENGTH), nullable=True)
    )
    # Bumped by every write: the task's ETag, and the If-Match precondition, are built on it.
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default=text("1")))

    def __repr__(self) -> str:
        return f"Task(id={self.id!r}, user_id={self.user_id!r}, completed={self.completed!r})"


class TaskCount(SQLModel, table=True):
    """How many tasks each user has, and how many of them are completed.

    Kept by database triggers on `task` (migration 0003), so a list's total costs one primary
    key lookup instead of counting every matching task. Searches still count.
    """

    __tablename__ = "task_count"

    user_id: str = Field(
        sa_column=Column(
            String(USER_ID_MAX_LENGTH),
            ForeignKey("user.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    total: int
    completed: int

    def __repr__(self) -> str:
        return f"TaskCount(user_id={self.user_id!r}, total={self.total!r})"


class Tag(SQLModel, table=True):
    """One of a user's tags: its key (the name case-folded), which identifies it, and the
    spelling it is shown in.

    A row no task links to is inert: lists, filters and the tag endpoints see only linked tags,
    and the next task to use its key respells it (`task_store`).
    """

    __table_args__ = (PrimaryKeyConstraint("user_id", "key"),)

    user_id: str = Field(
        sa_column=Column(
            String(USER_ID_MAX_LENGTH), ForeignKey("user.id", ondelete="CASCADE"), nullable=False
        )
    )
    key: str = Field(sa_column=Column(String(TAG_KEY_MAX_LENGTH), nullable=False))
    name: str = Field(max_length=TAG_MAX_LENGTH)

    def __repr__(self) -> str:
        return f"Tag(user_id={self.user_id!r}, name={self.name!r})"


class TaskTag(SQLModel, table=True):
    """A tag on a task, by the tag's key: renaming a tag moves its links with it (`ON UPDATE
    CASCADE`). The primary key reads a task's tags; the second index a user's tasks with a tag,
    with statistics on the keys themselves, so the planner knows a rare tag from a common one."""

    __tablename__ = "task_tag"
    __table_args__ = (
        PrimaryKeyConstraint("task_id", "key"),
        ForeignKeyConstraint(
            ["user_id", "key"],
            ["tag.user_id", "tag.key"],
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        Index("ix_task_tag_user_id_key_task_id", "user_id", "key", "task_id"),
    )

    task_id: int = Field(
        sa_column=Column(Integer, ForeignKey("task.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: str = Field(sa_column=Column(String(USER_ID_MAX_LENGTH), nullable=False))
    key: str = Field(sa_column=Column(String(TAG_KEY_MAX_LENGTH), nullable=False))

    def __repr__(self) -> str:
        return f"TaskTag(task_id={self.task_id!r}, key={self.key!r})"


class IdempotencyKey(SQLModel, table=True):
    """The first response to a POST sent with an `Idempotency-Key`, replayed to its retries.

    Keys are scoped to their user. The row is claimed in the transaction that creates the task
    and completed in it, so other requests see a key only with its response.
    """

    __tablename__ = "idempotency_key"
    __table_args__ = (PrimaryKeyConstraint("user_id", "key"),)

    user_id: str = Field(
        sa_column=Column(
            String(USER_ID_MAX_LENGTH), ForeignKey("user.id", ondelete="CASCADE"), nullable=False
        )
    )
    key: str = Field(sa_column=Column(String(IDEMPOTENCY_KEY_MAX_LENGTH), nullable=False))
    # SHA-256 of the normalised request, in hex.
    fingerprint: str = Field(max_length=64)
    status_code: int | None
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    location: str | None = Field(default=None, max_length=2048)
    # Indexed for the purge of expired keys.
    created_at: datetime = _timestamp_column(index=True)

    def __repr__(self) -> str:
        return f"IdempotencyKey(user_id={self.user_id!r}, key={self.key!r})"
