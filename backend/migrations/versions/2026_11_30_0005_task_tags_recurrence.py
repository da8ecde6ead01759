"""Tags (a per-user `tag` table and the `task_tag` links) and the task's recurrence rule.

Existing tasks get the defaults: no tags and no recurrence.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("task", sa.Column("recurrence", sa.String(length=255), nullable=True))
    op.create_table(
        "tag",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=150), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name="fk_tag_user_id_user", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_tag"),
    )
    op.create_table(
        "task_tag",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=150), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name="fk_task_tag_task_id_task", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "key"],
            ["tag.user_id", "tag.key"],
            name="fk_task_tag_user_id_tag",
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "key", name="pk_task_tag"),
    )
    op.create_index("ix_task_tag_user_id_key_task_id", "task_tag", ["user_id", "key", "task_id"])


def downgrade() -> None:
    op.drop_index("ix_task_tag_user_id_key_task_id", table_name="task_tag")
    op.drop_table("task_tag")
    op.drop_table("tag")
    # Plain DROP COLUMN (SQLite 3.35+): a batch would recreate the table without its triggers.
    op.drop_column("task", "recurrence")
