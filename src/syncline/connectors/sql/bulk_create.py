"""The bulk-create lane: many new rows in one SQLite table keyed by its rowid, column by
column.

A first sync hands over thousands of records to create at a time, column by column
(:class:`~syncline.connectors.base.CreateRows`). For the common case (an SQLite table
whose key is its ``INTEGER PRIMARY KEY``, no document lines, values that need no
conversion or convert cleanly) this module skips the per-operation objects of
:mod:`~syncline.connectors.sql.writing`: values are converted per column, inserted with
one ``executemany`` (or one JSON statement, see :mod:`syncline.sqlite_bulk`) and the new
keys worked out from the rowids, all in one transaction with the batch's results stored
in the batch log, exactly as :func:`~syncline.connectors.sql.writing.write` stores them.

On PostgreSQL the lane takes any table without document lines whose keys
:func:`~syncline.connectors.sql.postgres_writes.insert_columns` can make, from
:data:`~syncline.connectors.sql.postgres_writes.BULK_MIN` rows up, and inserts by ``COPY``.

Whenever the lane does not apply, or the database rejects something, :func:`write_creates`
returns ``None`` having changed nothing, and the caller writes the batch the general way
(which reports failures per record).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncline.connectors.base import CreatedRows, CreateRows
from syncline.connectors.sql import postgres_writes as pg
from syncline.connectors.sql.batch_log import log_batch, stored_results
from syncline.connectors.sql.binding import BoundStream
from syncline.connectors.sql.coerce import ColumnKind, reader_for
from syncline.connectors.sql.connection import is_connection_problem
from syncline.connectors.sql.mariadb_writes import insert_columns
from syncline.connectors.sql.writing import WriteContext, stamp_value, write_transaction
from syncline.model import FieldType
from syncline.sqlite_bulk import json_insert_columns

__all__ = ["write_creates"]

_TEXT_WRITER_SAFE = frozenset({str, type(None)})
_TEXT_WRITER = reader_for(FieldType.TEXT)
"""The writer of text columns (the same function as the reader): values that are already
text or ``None`` need no call."""


class _NotConsecutive(Exception):
    """The new rowids were not the consecutive numbers expected: roll back."""


def _columns(bound: BoundStream, batch: CreateRows) -> tuple[list[str], list[Sequence[Any]]] | None:
    """The column names and their values (column by column) to insert, or ``None`` when the
    lane does not apply (no fields, a field on the key column or not mapped, a value that
    does not convert)."""
    specs = {spec.name: spec for spec in bound.fields}
    if not batch.names or any(name not in specs for name in batch.names):
        return None
    chosen = [specs[name] for name in batch.names]
    if any(spec.column.name == bound.key.name for spec in chosen):
        return None
    converted: list[Sequence[Any]] = []
    for spec, values in zip(chosen, batch.columns, strict=True):
        if spec.write is _TEXT_WRITER and set(map(type, values)) <= _TEXT_WRITER_SAFE:
            converted.append(values)
            continue
        try:
            converted.append(list(map(spec.write, values)))
        except (ValueError, TypeError, ArithmeticError):
            return None
    return [spec.column.name for spec in chosen], converted


def _insert(conn: Connection, bound: BoundStream, columns: list[str],
            values: list[Sequence[Any]]) -> list[str]:
    """Insert the rows whose values ``values`` holds column by column, and return their new
    keys as text.

    Raises:
        _NotConsecutive: the rowids were not consecutive (the caller rolls back).
    """
    key = bound.key.column
    before = conn.execute(sa.select(sa.func.max(key))).scalar() or 0
    count = len(values[0])
    single = json_insert_columns(bound.table.name, columns, values)
    if single is not None:
        conn.exec_driver_sql(*single)
    else:
        names = ", ".join(f'"{column}"' for column in columns)
        conn.exec_driver_sql(f'INSERT INTO "{bound.table.name}" ({names}) '
                             f"VALUES ({', '.join('?' * len(columns))})",
                             list(zip(*values, strict=True)))
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    first = last - count + 1
    inserted = conn.execute(sa.select(sa.func.count()).where(key.between(first, last)))
    if first <= before or inserted.scalar_one() != count:
        raise _NotConsecutive
    return list(map(str, range(first, last + 1)))


def _pg_insert(conn: Connection, bound: BoundStream, columns: list[str],
               values: list[Sequence[Any]], count: int,
               stamp: tuple[str, Any] | None) -> list[str]:
    """PostgreSQL: insert the rows by ``COPY`` (see :mod:`~syncline.connectors.sql.
    postgres_writes`) and return their new keys as text.

    Raises:
        NotApplicable: the keys cannot be made; nothing written.
    """
    text = str if bound.key.kind is ColumnKind.INTEGER else bound.key.text
    return [text(native) for native in
            pg.insert_columns(conn, bound, count, columns, values, stamp)]


def write_creates(context: WriteContext, batch: CreateRows) -> CreatedRows | None:
    """Create the rows of ``batch`` through the bulk lane (see the module docstring), or return
    ``None`` with nothing changed when the lane does not apply.

    Raises:
        sqlalchemy.exc.DBAPIError: the database cannot be used (lost connection, locked);
            nothing of the batch was applied.
        ValueError: the batch id was logged already, for a different number of rows.
    """
    bound = context.bound
    postgres = bound.dialect == "postgresql" and len(batch) >= pg.BULK_MIN  # COPY
    mariadb = bound.dialect in ("mysql", "mariadb")  # multi-row INSERT (mariadb_writes)
    if (not len(batch) or bound.lines is not None or not bound.key.rowid_alias
            or bound.dialect != "sqlite") and not (postgres and bound.lines is None) \
            and not mariadb:
        return None
    prepared = _columns(bound, batch)
    if prepared is None:
        return None
    columns, values = prepared
    try:
        with write_transaction(context) as conn:
            stored = stored_results(conn, batch.batch_id)
            if stored is not None:
                return _stored(stored, batch)
            stamp = stamp_value(conn, bound)
            if stamp is not None and stamp[0] not in columns and not postgres:
                columns = [*columns, stamp[0]]
                values = [*values, [stamp[1]] * len(batch)]
            keys: list[str] | None
            if postgres:
                keys = _pg_insert(conn, bound, columns, values, len(batch), stamp)
            elif mariadb:
                keys = insert_columns(conn, bound, columns, values)
            else:
                keys = _insert(conn, bound, columns, values)
            if keys is None:
                return None
            log_batch(conn, batch.batch_id, json.dumps({"keys": keys}, separators=(",", ":")))
            return CreatedRows(list(keys))
    except (_NotConsecutive, pg.NotApplicable):
        return None
    except sa.exc.DBAPIError as error:
        if is_connection_problem(error):
            raise
        return None


def _stored(text: str, batch: CreateRows) -> CreatedRows:
    from syncline.connectors.sql.batch_log import load_results

    return CreatedRows.from_results(load_results(text, batch.as_write_batch()))
