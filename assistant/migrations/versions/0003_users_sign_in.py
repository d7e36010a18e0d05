"""What single sign-on and managing people need: `users.disabled` and `users.sign_in` (password, oidc or
header), and the table of sign-in requests in flight (OpenID Connect's state, nonce and PKCE verifier).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs with server defaults: the accounts already there are enabled password accounts.
    op.add_column("users", sa.Column("disabled", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.add_column("users", sa.Column("sign_in", sa.String(16), nullable=False, server_default=sa.text("'password'")))
    op.create_table(
        "sign_in_requests",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sign_in_requests")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("sign_in")
        batch.drop_column("disabled")
