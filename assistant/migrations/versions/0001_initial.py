"""The schema as it was when migrations began (what `create_all` made until then).

A database made before migrations has some or all of these tables (job_metrics came later than the
rest): only the missing ones are created, so it is adopted as this revision with its rows, then upgraded.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> list[tuple[str, list, dict, list[tuple[str, list[str], bool]]]]:
    """(name, columns and constraints, table options, indexes as (name, columns, unique)), in creation order."""
    autoinc = {"sqlite_autoincrement": True}
    return [
        ("users", [
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("groups", sa.JSON(), nullable=False),
            sa.Column("password_hash", sa.String(255), nullable=False),
            sa.Column("created", sa.String(32), nullable=False),
        ], {}, []),
        ("sessions", [
            sa.Column("token_hash", sa.String(64), primary_key=True),
            sa.Column("user", sa.String(64), nullable=False),
            sa.Column("created", sa.Float(), nullable=False),
            sa.Column("expires", sa.Float(), nullable=False),
        ], {}, [("ix_sessions_user", ["user"], False)]),
        ("api_keys", [
            sa.Column("key_hash", sa.String(64), primary_key=True),
            sa.Column("user", sa.String(64), nullable=False),
            sa.Column("created", sa.String(32), nullable=False),
        ], {}, [("ix_api_keys_user", ["user"], False)]),
        ("login_failures", [
            sa.Column("name", sa.String(128), primary_key=True),
            sa.Column("count", sa.Integer(), nullable=False),
            sa.Column("last_failure", sa.Float(), nullable=False),
        ], {}, []),
        ("audit_log", [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("time", sa.String(32), nullable=False),
            sa.Column("actor", sa.String(128)),
            sa.Column("action", sa.String(64), nullable=False),
            sa.Column("detail", sa.Text(), nullable=False),
        ], autoinc, []),
        ("jobs", [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("owner", sa.String(64), nullable=False),
            sa.Column("title", sa.String(200), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("progress", sa.Float(), nullable=False),
            sa.Column("total", sa.Integer(), nullable=False),
            sa.Column("done", sa.Integer(), nullable=False),
            sa.Column("label", sa.String(200), nullable=False),
            sa.Column("log", sa.JSON(), nullable=False),
            sa.Column("result", sa.JSON()),
            sa.Column("error", sa.Text()),
            sa.Column("cancel_requested", sa.Integer(), nullable=False),
            sa.Column("created", sa.String(32), nullable=False),
            sa.Column("started", sa.String(32)),
            sa.Column("finished", sa.String(32)),
        ], autoinc, [("ix_jobs_owner", ["owner"], False), ("ix_jobs_state", ["state"], False)]),
        ("job_metrics", [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=False),
            sa.Column("row", sa.JSON(), nullable=False),
        ], {}, [("ix_job_metrics_job_id", ["job_id"], False)]),
        ("conversations", [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("user", sa.String(64), nullable=False),
            sa.Column("title", sa.String(80), nullable=False),
            sa.Column("created", sa.String(32), nullable=False),
            sa.Column("updated", sa.String(32), nullable=False),
        ], autoinc, [("ix_conversations_user", ["user"], False)]),
        ("messages", [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("content", sa.Text(), nullable=False),
            sa.Column("sources", sa.JSON()),
            sa.Column("engine", sa.String(128)),
            sa.Column("created", sa.String(32), nullable=False),
        ], autoinc, [("ix_messages_conversation_id", ["conversation_id"], False)]),
        ("feedback", [
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("user", sa.String(64), nullable=False),
            sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
            sa.Column("rating", sa.Integer(), nullable=False),
            sa.Column("comment", sa.Text(), nullable=False),
            sa.Column("created", sa.String(32), nullable=False),
            sa.UniqueConstraint("user", "message_id", name="uq_feedback_user_message"),
        ], {}, [("ix_feedback_message", ["message_id"], False)]),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, options, indexes in _tables():
        if name in existing:
            continue
        op.create_table(name, *columns, **options)
        for index, cols, unique in indexes:
            op.create_index(index, name, cols, unique=unique)


def downgrade() -> None:
    for name, _columns, _options, _indexes in reversed(_tables()):
        op.drop_table(name)
