"""Service tables: run locks (leases) and forced resynchronisation requests and marks.

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
    op.create_table(
        "run_locks",
        sa.Column("link", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=300), nullable=False),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=200), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("acquired_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("link"),
    )
    op.create_table(
        "force_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("link", sa.String(length=200), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("marked", sa.Integer(), nullable=False),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("log_written", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("force_requests", schema=None) as batch_op:
        batch_op.create_index("ix_force_requests_link", ["link"], unique=False)
    op.create_table(
        "force_marks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("force_marks", schema=None) as batch_op:
        batch_op.create_index("ix_force_marks_key", ["scope_id", "side", "key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("force_marks", schema=None) as batch_op:
        batch_op.drop_index("ix_force_marks_key")
    op.drop_table("force_marks")
    with op.batch_alter_table("force_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_force_requests_link")
    op.drop_table("force_requests")
    op.drop_table("run_locks")
