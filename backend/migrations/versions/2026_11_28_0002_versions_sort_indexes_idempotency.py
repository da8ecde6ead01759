"""Task versions (ETags), an index per list sort order, and stored idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "task", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    # (user_id) alone is a prefix of every composite index: it only cost writes. A global
    # index on a boolean drew SQLite's planner away from the per-user sort indexes.
    op.drop_index("ix_task_user_id", table_name="task")
    op.drop_index("ix_task_completed", table_name="task")
    op.create_index("ix_task_user_id_updated_at_id", "task", ["user_id", "updated_at", "id"])
    op.create_index("ix_task_user_id_title_id", "task", ["user_id", "title", "id"])
    op.create_index("ix_task_user_id_id", "task", ["user_id", "id"])

    op.create_table(
        "idempotency_key",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("location", sa.String(length=2048), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name="fk_idempotency_key_user_id_user", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_key"),
    )
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_key")
    op.drop_index("ix_task_user_id_id", table_name="task")
    op.drop_index("ix_task_user_id_title_id", table_name="task")
    op.drop_index("ix_task_user_id_updated_at_id", table_name="task")
    op.create_index("ix_task_completed", "task", ["completed"])
    op.create_index("ix_task_user_id", "task", ["user_id"])
    with op.batch_alter_table("task") as batch:
        batch.drop_column("version")
