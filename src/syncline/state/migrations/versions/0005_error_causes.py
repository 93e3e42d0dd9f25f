"""Pending items keep their error's cause as data (kind, field, value), for grouping.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = 'scope_id, side, "key", message, attempts, first_run, last_run'


def _pending(name: str, *, with_cause: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_run", sa.Integer(), nullable=False),
        sa.Column("last_run", sa.Integer(), nullable=False),
    ]
    if with_cause:
        columns.append(sa.Column("cause", sa.Text(), nullable=True))
    op.create_table(name, *columns, sa.PrimaryKeyConstraint("scope_id", "side", "key"))


def _rebuild_sqlite(*, with_cause: bool) -> None:
    """SQLite: build the table again under its own name, so that a migrated file holds the
    same definition as a newly created one (ALTER TABLE words it differently)."""
    op.rename_table("pending", "pending_before_0005")
    _pending("pending", with_cause=with_cause)
    op.execute(f"INSERT INTO pending ({_COLUMNS}) SELECT {_COLUMNS} FROM pending_before_0005")
    op.drop_table("pending_before_0005")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(with_cause=True)
    else:
        op.add_column("pending", sa.Column("cause", sa.Text(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(with_cause=False)
    else:
        op.drop_column("pending", "cause")
