"""Initial state store schema: scopes, cursors, mappings, runs, journal, conflicts,
pending, intents.

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


def upgrade() -> None:
    op.create_table(
        "conflicts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("a_key", sa.String(length=255), nullable=False),
        sa.Column("b_key", sa.String(length=255), nullable=False),
        sa.Column("a_fields", sa.Text(), nullable=False),
        sa.Column("b_fields", sa.Text(), nullable=False),
        sa.Column("base_fields", sa.Text(), nullable=True),
        sa.Column("detected_run", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.create_index("ix_conflicts_scope_status", ["scope_id", "status"], unique=False)

    op.create_table(
        "intents",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=1), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_table(
        "journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("a_key", sa.String(length=255), nullable=True),
        sa.Column("b_key", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=1), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.create_index("ix_journal_run", ["run_id"], unique=False)

    op.create_table(
        "mappings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("a_key", sa.String(length=255), nullable=False),
        sa.Column("b_key", sa.String(length=255), nullable=False),
        sa.Column("a_hash", sa.LargeBinary(length=16), nullable=True),
        sa.Column("b_hash", sa.LargeBinary(length=16), nullable=True),
        sa.Column("a_version", sa.Text(), nullable=True),
        sa.Column("b_version", sa.Text(), nullable=True),
        sa.Column("snapshot", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mappings", schema=None) as batch_op:
        batch_op.create_index("ix_mappings_a", ["scope_id", "a_key"], unique=True)
        batch_op.create_index("ix_mappings_b", ["scope_id", "b_key"], unique=True)

    op.create_table(
        "pending",
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_run", sa.Integer(), nullable=False),
        sa.Column("last_run", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope_id", "side", "key"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("link", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("user", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_link_started", ["link", "started_at"], unique=False)

    op.create_table(
        "scopes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("link", sa.String(length=200), nullable=False),
        sa.Column("stream", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("link", "stream", name="uq_scopes_link_stream"),
    )
    op.create_table(
        "cursors",
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scope_id"],
            ["scopes.id"],
        ),
        sa.PrimaryKeyConstraint("scope_id", "side"),
    )


def downgrade() -> None:
    op.drop_table("cursors")
    op.drop_table("scopes")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_link_started")

    op.drop_table("runs")
    op.drop_table("pending")
    with op.batch_alter_table("mappings", schema=None) as batch_op:
        batch_op.drop_index("ix_mappings_b")
        batch_op.drop_index("ix_mappings_a")

    op.drop_table("mappings")
    with op.batch_alter_table("journal", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_run")

    op.drop_table("journal")
    op.drop_table("intents")
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.drop_index("ix_conflicts_scope_status")

    op.drop_table("conflicts")
