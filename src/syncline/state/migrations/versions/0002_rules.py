"""Posting rules: xref entries and post requests.

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


def upgrade() -> None:
    op.create_table(
        "xref_entries",
        sa.Column("link", sa.String(length=200), nullable=False),
        sa.Column("table_name", sa.String(length=100), nullable=False),
        sa.Column("local_value", sa.String(length=255), nullable=False),
        sa.Column("remote_value", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("link", "table_name", "local_value"),
    )
    op.create_table(
        "post_requests",
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("scope_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("post_requests")
    op.drop_table("xref_entries")
