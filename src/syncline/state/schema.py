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
journal
    One row per record a run touched (see :class:`syncline.journal.JournalRow`); an error
    row keeps its error's first cause in ``cause_kind``, ``cause_field`` (the field, column
    or constraint concerned) and ``cause_value`` (see :class:`syncline.errors.ErrorCause`).
pending
    A record that could not be synced (an item error); it is read again next run. Its
    error's causes are rows of ``pending_causes`` (one per problem, by ``position``: a
    document with two lines missing their xref entries has two), each with its kind, field
    and value and the words for this record (``cause_document``: how the message names the
    record; ``cause_text``: the problem without that name); an error known only by its
    message has none.
run progress
    ``run_progress``: while a run goes, where it stands per stream (JSON, rewritten about
    once a second, removed when the run ends), so that a service on the same state store
    shows the progress of runs other processes make (see
    :mod:`syncline.state.progress_store`).
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

from syncline.sql_variants import sqlite_autoincrement

__all__ = [
    "api_tokens",
    "conflicts",
    "cursors",
    "force_marks",
    "force_requests",
    "intents",
    "journal",
    "journal_listed",
    "link_controls",
    "link_fences",
    "mappings",
    "metadata",
    "pending",
    "pending_causes",
    "post_requests",
    "run_locks",
    "run_progress",
    "runs",
    "scopes",
    "users",
    "xref_entries",
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
    Column("cause_kind", String(100), nullable=True),
    Column("cause_field", Text, nullable=True),
    Column("cause_value", Text, nullable=True),
    Index("ix_journal_run", "run_id"),
)

journal_listed = [column for column in journal.c if not column.name.startswith("cause_")]
"""The journal columns that listings of the journal show (the API, the console, ``syncline
journal``): a row's cause is told by its message there."""

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

pending_causes = Table(
    "pending_causes",
    metadata,
    Column("scope_id", Integer, primary_key=True),
    Column("side", String(1), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("cause_kind", String(100), nullable=False),
    Column("cause_field", Text, nullable=True),
    Column("cause_value", Text, nullable=True),
    Column("cause_document", Text, nullable=True),
    Column("cause_text", Text, nullable=True),
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

# -- service (issue 5): run locks and forced resynchronisation --------------------------------
# run_lock
#     The lease that lets one run of a link go at a time, across processes: taken by an
#     atomic insert-or-conditional-update, renewed by a heartbeat, released at the end, and
#     taken over once ``expires_at`` (seconds since the epoch) has passed.
# force_request
#     One ``syncline force`` (or API) request: its criteria, who asked, how many records it
#     marked, the run that wrote them and where its log goes.
# force_mark
#     One record (by its key on the authoritative ``side``) to send again with action code R,
#     cleared once written.

run_locks = Table(
    "run_locks",
    metadata,
    Column("link", String(200), primary_key=True),
    Column("owner", String(300), nullable=False),
    Column("holder", Text, nullable=True),
    Column("host", String(200), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("acquired_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

link_fences = Table(
    "link_fences",
    metadata,
    Column("link", String(200), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("run_id", Integer, nullable=True),
)
"""A link's fencing token: ``generation`` grows by one each time a run lock of the link is
taken (in the same transaction), and is never reset; ``run_id`` is the run the current
holder started (none yet: ``NULL``). Every state write of a run checks it (see
:mod:`syncline.state.fencing`)."""

force_requests = Table(
    "force_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("link", String(200), nullable=False),
    Column("side", String(1), nullable=False),
    Column("criteria", Text, nullable=False),
    Column("requested_by", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("marked", Integer, nullable=False),
    Column("log_path", Text, nullable=True),
    Column("run_id", Integer, nullable=True),
    Column("log_written", Boolean, nullable=False, default=False),
    Index("ix_force_requests_link", "link"),
)

force_marks = sqlite_autoincrement(Table(  # ids never reused: a run clears only older marks
    "force_marks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope_id", Integer, nullable=False),
    Column("side", String(1), nullable=False),
    Column("key", KEY, nullable=False),
    Column("request_id", Integer, nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_force_marks_key", "scope_id", "side", "key", unique=True),
))

# -- posting rules (issue 4): xref entries and post requests --------------------------------
# xref entry
#     One entry of a link's cross-reference table (``table_name``: ledger_account, tax_rate,
#     ...): the local value and the books value it maps to. Entries here win over the
#     config's; ``syncline xref`` edits them.
# post request
#     A document (by its key on side a) that ``syncline post`` asked to send while the
#     stream's ``send_all`` is off; cleared once the document is in the books or the rules
#     said why it cannot go.

xref_entries = Table(
    "xref_entries",
    metadata,
    Column("link", String(200), primary_key=True),
    Column("table_name", String(100), primary_key=True),
    Column("local_value", KEY, primary_key=True),
    Column("remote_value", KEY, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=True),
)

post_requests = Table(
    "post_requests",
    metadata,
    Column("scope_id", Integer, primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("requested_by", String(200), nullable=True),
)

# -- users and link controls (issue 5): who may use the service, and what they switched ------
# user
#     A person (or program) using the API: a unique ``name``, a ``role`` (viewer, operator,
#     admin) and an argon2 ``password_hash`` (none: token access only).
# api token
#     A bearer token of a user; only its SHA-256 ``token_hash`` is stored (the token itself
#     is shown once, when created).
# link control
#     What an administrator or operator switched on a link (``stream`` empty) or one of its
#     streams: ``paused`` (no run starts by schedule or by hand) and, per link, whether it
#     takes part in "Sync All" (``sync_all``).

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=True),
    UniqueConstraint("name", name="uq_users_name"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("label", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Index("ix_api_tokens_hash", "token_hash", unique=True),
    Index("ix_api_tokens_user", "user_id"),
)

link_controls = Table(
    "link_controls",
    metadata,
    Column("link", String(200), primary_key=True),
    Column("stream", String(100), primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("sync_all", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=True),
)

run_progress = Table(
    "run_progress",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("progress", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
