"""What job workers in other processes or machines need on `jobs`: the request to run, who holds the job
and until when, its heartbeat, how often it was tried, whether to resume it; an index to find queued work.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("payload", "worker", "lease_expires", "heartbeat", "attempts", "resume")


def upgrade() -> None:
    # Plain ADD COLUMNs (SQLite can do those in place); the NOT NULL ones have a server default, so the
    # rows already there get 0.
    op.add_column("jobs", sa.Column("payload", sa.JSON(), nullable=True))
    op.add_column("jobs", sa.Column("worker", sa.String(128), nullable=True))
    op.add_column("jobs", sa.Column("lease_expires", sa.Float(), nullable=True))
    op.add_column("jobs", sa.Column("heartbeat", sa.Float(), nullable=True))
    op.add_column("jobs", sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.add_column("jobs", sa.Column("resume", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.create_index("ix_jobs_state_kind", "jobs", ["state", "kind"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_kind", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
