"""The state store's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create
them; a test checks that the two agree.

Terms:

scope
    One stream of one link (``link``, ``stream``); most rows hang off a scope id so that
    indexes stay small.
mapping
    Record ``a_key`` on side a is record ``b_key`` on side b; with the content hashes and
    versions both had when last synced, and (for the merge policy) the synced values.
intent
    A batch of writes about to be sent to one side, written before sending and deleted when
    its results are settled, so a crash in between is resumed without duplicates.
pending
    A record that could not be synced (an item error); it is read again next run.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "conflicts",
    "cursors",
    "intents",
    "journal",
    "mappings",
    "metadata",
    "pending",
    "runs",
    "scopes",
]

metadata = MetaData()

KEY = String(255)

scopes = Table(
    "scopes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("link", String(200), nullable=False),
    Column("stream", String(100), nullable=False),
    UniqueConstraint("link", "stream", name="uq_scopes_link_stream"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("scope_id", Integer, ForeignKey("scopes.id"), primary_key=True),
    Column("side", String(1), primary_key=True),
    Column("value", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

mappings = Table(
    "mappings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope_id", Integer, nullable=False),
    Column("a_key", KEY, nullable=False),
    Column("b_key", KEY, nullable=False),
    Column("a_hash", LargeBinary(16), nullable=True),
    Column("b_hash", LargeBinary(16), nullable=True),
    Column("a_version", Text, nullable=True),
    Column("b_version", Text, nullable=True),
    Column("snapshot", Text, nullable=True),
    Column("run_id", Integer, nullable=True),
    Index("ix_mappings_a", "scope_id", "a_key", unique=True),
    Index("ix_mappings_b", "scope_id", "b_key", unique=True),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("link", String(200), nullable=False),
    Column("trigger", String(20), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("scope", Text, nullable=True),
    Column("user", String(200), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("duration_s", Float, nullable=True),
    Column("outcome", String(20), nullable=False),
    Column("counts", Text, nullable=True),
    Column("message", Text, nullable=True),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("host", String(200), nullable=True),
    Column("pid", Integer, nullable=True),
    Index("ix_runs_link_started", "link", "started_at"),
)

journal = Table(
    "journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("scope_id", Integer, nullable=False),
    Column("a_key", KEY, nullable=True),
    Column("b_key", KEY, nullable=True),
    Column("action", String(1), nullable=False),
    Column("direction", String(3), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("message", Text, nullable=True),
    Index("ix_journal_run", "run_id"),
)

conflicts = Table(
    "conflicts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope_id", Integer, nullable=False),
    Column("a_key", KEY, nullable=False),
    Column("b_key", KEY, nullable=False),
    Column("a_fields", Text, nullable=False),
    Column("b_fields", Text, nullable=False),
    Column("base_fields", Text, nullable=True),
    Column("detected_run", Integer, nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("status", String(10), nullable=False),
    Column("resolution", Text, nullable=True),
    Column("resolved_by", String(200), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Index("ix_conflicts_scope_status", "scope_id", "status"),
)

pending = Table(
    "pending",
    metadata,
    Column("scope_id", Integer, primary_key=True),
    Column("side", String(1), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("message", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_run", Integer, nullable=False),
    Column("last_run", Integer, nullable=False),
)

intents = Table(
    "intents",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("scope_id", Integer, nullable=False),
    Column("target", String(1), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
