"""Error causes in columns: a journal row's cause in ``cause_kind``, ``cause_field`` and
``cause_value``; a pending item's causes as rows of ``pending_causes`` (one per problem,
with how the message names the record and the problem in words) instead of JSON text.

The move of existing rows parses their messages once, with a private copy of how the
service split them before (``split_message`` and ``cause_of`` as they were at revision
0007): causes kept as JSON keep their kind, field and value and get the words their message
gave them; items and journal error rows stored without a cause get the cause their message
was grouped by, of no kind (``""``). The downgrade puts the causes of a kind back as JSON.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_PENDING_COLUMNS = 'scope_id, side, "key", message, attempts, first_run, last_run'
_JOURNAL_COLUMNS = "id, run_id, scope_id, a_key, b_key, action, direction, outcome, message"

Problem = tuple[str, str, str, str | None, str | None]
"""One problem of a stored message: document, text, kind, field, value."""


# -- the messages' old reading (revision 0007's, kept here for this one move) ---------------
_RECORD_PREFIX = re.compile(r"^(?P<record>[^:]{1,200}?): (?P<rest>.+)$", re.S)
_ROW_NAME = re.compile(r"^(?:a new row in \S+|\S+=.* in \S+)$")


def _names_record(record: str, key: str | None, stream: str | None) -> bool:
    if stream is not None and record.startswith(f"{stream} "):
        return True
    if _ROW_NAME.match(record):
        return True
    return bool(key) and re.search(rf"(?<![\w.-]){re.escape(str(key))}(?![\w.-])",
                                   record) is not None


def _derived_value(message: str, key: str, stream: str) -> str:
    """The value of the cause the old ``cause_of`` derived from ``message``."""
    text = " ".join(message.split())
    found = _RECORD_PREFIX.match(text)
    if found is not None and _names_record(found["record"], key, stream):
        text = found["rest"]
    return text


def _split(stream: str, message: str) -> list[tuple[str, str]]:
    """``(document, text)`` per problem of a message (the old ``split_message``)."""
    parts = re.split(rf"; (?={re.escape(stream)} )", message)
    pattern = re.compile(rf"^{re.escape(stream)} (?P<document>.+?): (?P<cause>.+)$", re.S)
    out = []
    for part in parts:
        found = pattern.match(part)
        out.append((found["document"], found["cause"]) if found else ("", part))
    return out


def _stored(text: Any) -> list[tuple[str, str | None, str | None]]:
    """The (kind, field, value) causes kept as JSON text; empty for none or unreadable."""
    if not isinstance(text, str) or not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, list):
        return []
    out = []
    for item in data:
        if isinstance(item, dict) and isinstance(item.get("kind"), str):
            field, value = item.get("field"), item.get("value")
            out.append((item["kind"], field if isinstance(field, str) else None,
                        value if isinstance(value, str) else None))
    return out


def _problems(stream: str, key: str, message: str, cause: Any) -> list[Problem]:
    """The problems of one stored item, as the old grouping read them."""
    parts = _split(stream, message)
    causes = _stored(cause)
    if not causes:
        return [(document, _derived_value(text, key, stream) or text, "", None,
                 _derived_value(text, key, stream))
                for document, text in parts]
    if len(causes) == len(parts):
        return [(document, _derived_value(text, key, stream) or text, *stored)
                for (document, text), stored in zip(parts, causes, strict=True)]
    document = parts[0][0] if len(parts) == 1 else ""
    whole = _derived_value(message, key, stream) or message
    return [(document, whole, *stored) for stored in causes]


# -- tables ---------------------------------------------------------------------------------
def _journal(name: str, *, with_causes: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("a_key", sa.String(length=255), nullable=True),
        sa.Column("b_key", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=1), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
    ]
    if with_causes:
        columns.extend(_journal_cause_columns())
    op.create_table(name, *columns, sa.PrimaryKeyConstraint("id"))


def _journal_cause_columns() -> list[sa.Column[Any]]:
    return [sa.Column("cause_kind", sa.String(length=100), nullable=True),
            sa.Column("cause_field", sa.Text(), nullable=True),
            sa.Column("cause_value", sa.Text(), nullable=True)]


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


def _rebuild_sqlite(table: str, columns: str, create: Any, **options: bool) -> None:
    """SQLite: build ``table`` again under its own name (by ``create``), so that a migrated
    file holds the same definition as a newly created one (ALTER TABLE words it
    differently); the rows' ``columns`` are copied over."""
    op.rename_table(table, f"{table}_before_0008")
    create(table, **options)
    op.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_before_0008")
    op.drop_table(f"{table}_before_0008")


_pending_causes = sa.table(
    "pending_causes", sa.column("scope_id"), sa.column("side"), sa.column("key"),
    sa.column("position"), sa.column("cause_kind"), sa.column("cause_field"),
    sa.column("cause_value"), sa.column("cause_document"), sa.column("cause_text"))


def _move_pending_causes(connection: sa.Connection) -> None:
    """Give every pending item its causes as rows (see the module docstring)."""
    rows = connection.execute(sa.text(
        'SELECT p.scope_id, p.side, p."key", p.message, p.cause, s.stream FROM pending p '
        "JOIN scopes s ON s.id = p.scope_id")).all()
    causes = [{"scope_id": row.scope_id, "side": row.side, "key": row.key,
               "position": position, "cause_kind": kind, "cause_field": field,
               "cause_value": value, "cause_document": document or None, "cause_text": text}
              for row in rows
              for position, (document, text, kind, field, value) in enumerate(
                  _problems(row.stream, row.key, row.message, row.cause))]
    if causes:
        connection.execute(sa.insert(_pending_causes), causes)


def _fill_journal_causes(connection: sa.Connection) -> None:
    """Give the journal's error rows the cause of their first problem: the one kept with
    the pending item of the same record and message, else the one the message gives."""
    kept = {(row.scope_id, row.key, row.message): row.cause for row in connection.execute(
        sa.text('SELECT scope_id, "key", message, cause FROM pending WHERE cause IS NOT NULL'))}
    rows = connection.execute(sa.text(
        "SELECT j.id, j.scope_id, j.a_key, j.b_key, j.message, s.stream FROM journal j "
        "JOIN scopes s ON s.id = j.scope_id WHERE j.outcome = 'error' "
        "AND j.message IS NOT NULL")).all()
    updates = []
    for row in rows:
        key = row.a_key if row.a_key is not None else row.b_key or ""
        cause = kept.get((row.scope_id, row.a_key, row.message)) \
            or kept.get((row.scope_id, row.b_key, row.message))
        _document, _text, kind, field, value = _problems(row.stream, key, row.message,
                                                         cause)[0]
        updates.append({"row_id": row.id, "kind": kind, "field": field, "value": value})
    if updates:
        connection.execute(sa.text(
            "UPDATE journal SET cause_kind = :kind, cause_field = :field, "
            "cause_value = :value WHERE id = :row_id"), updates)


def _causes_as_json(connection: sa.Connection) -> None:
    """Put the pending items' causes of a kind back as JSON text (the downgrade)."""
    kept: dict[tuple[int, str, str], list[dict[str, str | None]]] = {}
    for row in connection.execute(sa.text(
            'SELECT scope_id, side, "key", cause_kind, cause_field, cause_value '
            "FROM pending_causes ORDER BY position")):
        if row.cause_kind:
            kept.setdefault((row.scope_id, row.side, row.key), []).append(
                {"kind": row.cause_kind, "field": row.cause_field, "value": row.cause_value})
    updates: Sequence[dict[str, Any]] = [
        {"scope": scope_id, "side": side, "key": key,
         "cause": json.dumps(causes, ensure_ascii=False)}
        for (scope_id, side, key), causes in kept.items()]
    if updates:
        connection.execute(sa.text(
            'UPDATE pending SET cause = :cause WHERE scope_id = :scope AND side = :side '
            'AND "key" = :key'), updates)


def upgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    op.create_table(
        "pending_causes",
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("cause_kind", sa.String(length=100), nullable=False),
        sa.Column("cause_field", sa.Text(), nullable=True),
        sa.Column("cause_value", sa.Text(), nullable=True),
        sa.Column("cause_document", sa.Text(), nullable=True),
        sa.Column("cause_text", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("scope_id", "side", "key", "position"),
    )
    if sqlite:
        _rebuild_sqlite("journal", _JOURNAL_COLUMNS, _journal, with_causes=True)
        op.create_index("ix_journal_run", "journal", ["run_id"], unique=False)
    else:
        for column in _journal_cause_columns():
            op.add_column("journal", column)
    _move_pending_causes(connection)
    _fill_journal_causes(connection)
    if sqlite:
        _rebuild_sqlite("pending", _PENDING_COLUMNS, _pending, with_cause=False)
    else:
        op.drop_column("pending", "cause")


def downgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _rebuild_sqlite("pending", _PENDING_COLUMNS, _pending, with_cause=True)
    else:
        op.add_column("pending", sa.Column("cause", sa.Text(), nullable=True))
    _causes_as_json(connection)
    op.drop_table("pending_causes")
    if sqlite:
        _rebuild_sqlite("journal", _JOURNAL_COLUMNS, _journal, with_causes=False)
        op.create_index("ix_journal_run", "journal", ["run_id"], unique=False)
    else:
        for name in ("cause_value", "cause_field", "cause_kind"):
            op.drop_column("journal", name)
