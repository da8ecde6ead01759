"""Task priority and due date, each with an index for its sort order and filters.

Existing tasks get the defaults: priority none (0) and no due date.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "task",
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("task", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_task_user_id_priority_id", "task", ["user_id", "priority", "id"])
    op.create_index("ix_task_user_id_due_at_id", "task", ["user_id", "due_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_task_user_id_due_at_id", table_name="task")
    op.drop_index("ix_task_user_id_priority_id", table_name="task")
    # Plain DROP COLUMN (SQLite 3.35+): a batch would recreate the table without its triggers.
    op.drop_column("task", "due_at")
    op.drop_column("task", "priority")
