"""Per-user task counts kept by triggers, so a list's X-Total-Count is one row lookup.

The triggers fire on every insert and delete of a task and on updates that change
`completed`; tasks never change owner. Existing tasks are counted once here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL: inserts and deletes are counted per statement (transition tables), so a bulk
# insert or a user's cascading delete updates each counter row once, not once per task (row
# triggers made a 100,000-task insert take a minute, each update a new version of one row).
# Completion changes are rare and single-row: a row trigger that fires only on a real change.
_POSTGRESQL_TRIGGERS = [
    """
    CREATE FUNCTION task_count_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO task_count AS c (user_id, total, completed)
        SELECT user_id, count(*), count(*) FILTER (WHERE completed)
        FROM inserted GROUP BY user_id
        ON CONFLICT (user_id) DO UPDATE
        SET total = c.total + EXCLUDED.total, completed = c.completed + EXCLUDED.completed;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION task_count_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE task_count AS c
        SET total = c.total - d.total, completed = c.completed - d.completed
        FROM (
            SELECT user_id, count(*) AS total, count(*) FILTER (WHERE completed) AS completed
            FROM deleted GROUP BY user_id
        ) AS d
        WHERE c.user_id = d.user_id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION task_count_on_completion() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE task_count
        SET completed = completed + NEW.completed::int - OLD.completed::int
        WHERE user_id = NEW.user_id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER task_count_on_insert AFTER INSERT ON task
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION task_count_on_insert()
    """,
    """
    CREATE TRIGGER task_count_on_delete AFTER DELETE ON task
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION task_count_on_delete()
    """,
    """
    CREATE TRIGGER task_count_on_completion AFTER UPDATE OF completed ON task
    FOR EACH ROW WHEN (OLD.completed IS DISTINCT FROM NEW.completed)
    EXECUTE FUNCTION task_count_on_completion()
    """,
]
_SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER task_count_on_insert AFTER INSERT ON task BEGIN
        INSERT INTO task_count (user_id, total, completed)
        VALUES (NEW.user_id, 1, NEW.completed)
        ON CONFLICT (user_id) DO UPDATE
        SET total = total + 1, completed = completed + excluded.completed;
    END
    """,
    """
    CREATE TRIGGER task_count_on_delete AFTER DELETE ON task BEGIN
        UPDATE task_count
        SET total = total - 1, completed = completed - OLD.completed
        WHERE user_id = OLD.user_id;
    END
    """,
    """
    CREATE TRIGGER task_count_on_completion AFTER UPDATE OF completed ON task
    WHEN OLD.completed IS NOT NEW.completed BEGIN
        UPDATE task_count
        SET completed = completed + NEW.completed - OLD.completed
        WHERE user_id = NEW.user_id;
    END
    """,
]
_TRIGGERS = ("task_count_on_insert", "task_count_on_delete", "task_count_on_completion")


def upgrade() -> None:
    op.create_table(
        "task_count",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name="fk_task_count_user_id_user", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_task_count"),
    )
    op.execute(
        "INSERT INTO task_count (user_id, total, completed) "
        "SELECT user_id, count(*), sum(CASE WHEN completed THEN 1 ELSE 0 END) "
        "FROM task GROUP BY user_id"
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRESQL_TRIGGERS if postgresql else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger} ON task" if postgresql else f"DROP TRIGGER {trigger}")
        if postgresql:
            op.execute(f"DROP FUNCTION {trigger}()")
    op.drop_table("task_count")
