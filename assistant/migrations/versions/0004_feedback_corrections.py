"""Learning from users: an evaluator's corrected answer for a thumbs-down answer (`feedback.correction`) and who
wrote it (`feedback.corrected_by`), which "Improve from feedback" turns into DPO pairs (chosen = the correction).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain nullable ADD COLUMNs: the ratings already there have no correction.
    op.add_column("feedback", sa.Column("correction", sa.Text(), nullable=True))
    op.add_column("feedback", sa.Column("corrected_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("corrected_by")
        batch.drop_column("correction")
