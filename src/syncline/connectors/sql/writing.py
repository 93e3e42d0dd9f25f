"""Writing batches: one transaction per batch, executemany per kind of operation, per-item
fallback with savepoints, and the batch log for crash recovery.

Terms:

item
    One write operation made ready for the database (:class:`PreparedItem`): its column values
    converted, its lines turned into rows, its key in the key column's own type.
batch log
    ``syncline_batches`` (see :mod:`~syncline.connectors.sql.capture`): the batch's results
    are stored in the same transaction as its writes, so after a crash a batch id found there
    was applied (with exactly those results) and one not found was not applied at all.

A batch is applied in one transaction: deletes, then updates, then creates (so that a value
freed by a delete or update can be taken by a create), each as few ``executemany`` calls as
the operations allow. If the database rejects the batch as a whole (a unique key taken, a
value too long...), it is rolled back and applied again one item at a time, each inside a
savepoint, so that only the rejected items fail. Where the schema does not prove the key
unique, updates and deletes go one statement per item, each of which must touch exactly one
row (see :mod:`~syncline.connectors.sql.unproven_writes`). The batch log itself is kept by
:mod:`~syncline.connectors.sql.batch_log`. On PostgreSQL, a large enough group goes by
``COPY`` and set statements instead of ``executemany`` (see
:mod:`~syncline.connectors.sql.postgres_writes`), inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from syncline.connectors.base import WriteBatch, WriteKind, WriteResult
from syncline.connectors.sql import postgres_writes as pg
from syncline.connectors.sql.batch_log import (
    BatchAbandoned,
    abandon_batch,
    dump_results,
    load_results,
    log_batch,
    stored_results,
)
from syncline.connectors.sql.binding import BoundStream, KeyColumn, KeyGeneration
from syncline.connectors.sql.capture import set_suppression
from syncline.connectors.sql.coerce import ColumnKind, writer_for
from syncline.connectors.sql.connection import WRITE_OPTION, is_connection_problem
from syncline.connectors.sql.db_errors import database_cause
from syncline.connectors.sql.mariadb_writes import (
    delete_keys,
    existing_keys,
    insert_group,
    update_group,
)
from syncline.connectors.sql.reading import chunks, column_among
from syncline.connectors.sql.settings import mask_secrets
from syncline.connectors.sql.unproven_writes import (
    KeyNotUnique,
    matching_rows,
    not_unique,
    write_one_by_one,
)
from syncline.connectors.sql.write_items import (
    PreparedItem,
    failed_result,
    missing_result,
    prepare,
)
from syncline.errors import ItemError, ValidationFailed
from syncline.model import FieldType

__all__ = [
    "WriteContext",
    "recover",
    "stamp_value",
    "write",
    "write_transaction",
]

_KEY_PARAM = "syncline_key_"


@dataclass(frozen=True, slots=True)
class WriteContext:
    """What writing needs besides the batch: the engine, the bound stream, whether SQLite's
    ``syncline_control`` exists, and the URL (to mask its password in messages)."""

    engine: Engine
    bound: BoundStream
    control_table: bool
    url: sa.URL


# -- applying --------------------------------------------------------------------------------
def stamp_value(conn: Connection, bound: BoundStream) -> tuple[str, Any] | None:
    """The ``updated`` column's name and the value that stamps a batch's rows with now,
    converted for the column and the driver (``None`` without an ``updated`` column)."""
    column = bound.updated
    if column is None:
        return None
    value = writer_for(FieldType.DATETIME, column)(datetime.now(UTC))
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    if process is not None:
        value = process(value)
    return column.name, value


def _stamp(conn: Connection, bound: BoundStream) -> dict[str, Any]:
    """``{updated column: now}`` for the statements of a batch (empty without an ``updated``
    column). The value is converted for the column once and bound as is, instead of once per
    row."""
    stamp = stamp_value(conn, bound)
    if stamp is None:
        return {}
    name, value = stamp
    untyped = sa.types.NullType()
    return {name: sa.type_coerce(sa.bindparam("syncline_stamp_", value, type_=untyped),
                                 untyped)}


def _with_stamp(columns: Iterable[str], stamp: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in stamp.items() if name not in columns}


def _existing(conn: Connection, key: KeyColumn, natives: list[Any]) -> set[Any]:
    bulk = existing_keys(conn, key, natives)  # MariaDB/MySQL: IN lists sized to the packet
    if bulk is not None:
        return bulk
    found: set[Any] = set()
    for part in chunks(natives):
        found.update(conn.execute(sa.select(key.column).where(
            column_among(key.column, part, conn.dialect.name))).scalars())
    return found


def _groups(items: list[PreparedItem]) -> Iterator[list[PreparedItem]]:
    """Items with the same set of columns (one ``executemany`` each), in their order."""
    grouped: dict[tuple[str, ...], list[PreparedItem]] = {}
    for item in items:  # values are built in field order: the same columns, the same tuple
        grouped.setdefault(tuple(item.values), []).append(item)
    yield from grouped.values()


def _replace_lines(conn: Connection, bound: BoundStream, items: list[PreparedItem],
                   delete_first: bool) -> None:
    lines = bound.lines
    if lines is None:
        return
    with_lines = [item for item in items if item.lines is not None]
    if delete_first:
        for part in chunks([item.native for item in with_lines]):
            conn.execute(sa.delete(lines.table).where(lines.parent.in_(part)))
    rows = [{**row, lines.parent.name: item.native}
            for item in with_lines for row in item.lines or []]
    if pg.takes(conn, len(rows)):  # PostgreSQL: COPY (see postgres_writes)
        pg.copy_rows(conn, lines.table, rows)
    elif rows:
        conn.execute(sa.insert(lines.table), rows)


def _executemany(conn: Connection, statement: sa.Insert, params: list[dict[str, Any]]) -> None:
    """``conn.execute(statement, params)``; on SQLite, when no value needs SQLAlchemy's type
    processing (text, integers, values converted beforehand), the statement is compiled once
    and the rows are handed to the driver as tuples, which saves most of the per-row cost."""
    if conn.dialect.name != "sqlite" or not params:
        conn.execute(statement, params)
        return
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(params[0]))
    names = compiled.positiontup or []
    fixed: dict[str, Any] = {}
    for name in names:
        bind = compiled.binds.get(name)
        if bind is None or bind.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) \
                is not None:
            conn.execute(statement, params)
            return
        if name not in params[0]:
            fixed[name] = bind.value
    rows = [tuple(row[n] if n in row else fixed[n] for n in names) for row in params]
    conn.exec_driver_sql(compiled.string, rows)


class _KeysNotConsecutive(Exception):
    """The rowid shortcut of :func:`_sqlite_rowid_insert` did not hold: roll the batch back and
    write it again without the shortcut."""


def _sqlite_rowid_insert(conn: Connection, bound: BoundStream, statement: sa.Insert,
                         params: list[dict[str, Any]]) -> list[Any]:
    """Insert into a table keyed by SQLite's rowid with a plain ``executemany`` and work out
    the new keys: SQLite numbers new rows one above the highest rowid, and syncline holds the
    write lock, so the keys are consecutive. That is checked afterwards; if it does not hold,
    :class:`_KeysNotConsecutive` is raised (no savepoint is taken: in SQLite it would make
    every insert also write a statement journal)."""
    key = bound.key.column
    before = conn.execute(sa.select(sa.func.max(key))).scalar() or 0
    _executemany(conn, statement, params)
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    first = last - len(params) + 1
    inserted = conn.execute(sa.select(sa.func.count()).where(key.between(first, last)))
    if first <= before or inserted.scalar_one() != len(params):
        raise _KeysNotConsecutive
    return list(range(first, last + 1))


def _insert(conn: Connection, bound: BoundStream, group: list[PreparedItem],
            stamp: dict[str, Any], shortcut: bool) -> None:
    """Insert one group of creates and set each item's ``native`` key."""
    if insert_group(conn, bound, group, stamp):  # MariaDB/MySQL: multi-row INSERT
        return
    key = bound.key
    natives = pg.insert_rows(conn, bound, [i.values for i in group], stamp) \
        if pg.takes(conn, len(group)) else None  # PostgreSQL: COPY (see postgres_writes)
    if natives is not None:
        for item, native in zip(group, natives, strict=True):
            item.native = native
        return
    statement = sa.insert(bound.table)
    if stamp:
        statement = statement.values(_with_stamp(group[0].values, stamp))
    if key.name in group[0].values:
        for item in group:
            item.native = item.values[key.name]
        _executemany(conn, statement, [item.values for item in group])
        return
    if key.generation is KeyGeneration.UUID:
        for item in group:
            item.native = item.values[key.name] = key.new_key()
        _executemany(conn, statement, [item.values for item in group])
        return
    if key.kind is not ColumnKind.INTEGER and not key.rowid_alias \
            and not conn.dialect.insert_returning:
        # A server default that is not a number (MariaDB before 10.5 or MySQL: ``DEFAULT
        # uuid()``) cannot be read back without RETURNING (LAST_INSERT_ID() knows only
        # AUTO_INCREMENT numbers), so the uuid is made here instead, in the same form.
        for item in group:
            made = uuid4()
            item.native = item.values[key.name] = \
                made if key.kind is ColumnKind.UUID else str(made)
        _executemany(conn, statement, [item.values for item in group])
        return
    params = [item.values for item in group]
    if key.sequence is not None:
        taken = sa.select(sa.func.nextval(key.sequence)).select_from(
            sa.func.generate_series(1, len(group)))
        for item, native in zip(group, conn.execute(taken).scalars(), strict=True):
            item.native = item.values[key.name] = native
        conn.execute(statement, params)
        return
    if key.rowid_alias and shortcut:
        natives = _sqlite_rowid_insert(conn, bound, statement, params)
    elif conn.dialect.insert_returning:
        returning = statement.returning(key.column, sort_by_parameter_order=True)
        natives = list(conn.execute(returning, params).scalars())
    else:
        natives = []
        for one in params:
            inserted = conn.execute(statement, one).inserted_primary_key
            natives.append(inserted[0] if inserted else None)
    for item, native in zip(group, natives, strict=True):
        item.native = native


def _apply(conn: Connection, bound: BoundStream, items: list[PreparedItem],
           stamp: dict[str, Any], shortcut: bool = True) -> dict[int, WriteResult]:
    """Apply ``items`` inside the caller's transaction; results by item index. ``stamp`` holds
    what :func:`_stamp` returned; ``shortcut`` allows :func:`_sqlite_rowid_insert`. Raises the
    database's error if it rejects any statement."""
    results: dict[int, WriteResult] = {}
    key = bound.key
    changing = [i for i in items if i.op.kind is not WriteKind.CREATE]
    if key.unique:
        existing = _existing(conn, key, [i.native for i in changing]) if changing else set()
        for item in changing:
            if item.native not in existing:
                results[item.index] = missing_result(bound, item.op)
    else:  # each update or delete must touch exactly one row (see unproven_writes)
        for item in changing:
            matched = matching_rows(conn, key, item.native)
            if matched != 1:
                results[item.index] = missing_result(bound, item.op) if not matched \
                    else not_unique(bound, item.op, matched)
    alive = [i for i in items if i.index not in results]

    deletes = [i for i in alive if i.op.kind is WriteKind.DELETE]
    if not key.unique:
        write_one_by_one(conn, bound, [(i.index, i.native) for i in deletes], [
            (i.index, i.native, {**i.values, **_with_stamp(i.values, stamp)})
            for i in alive if i.op.kind is WriteKind.UPDATE and (i.values or stamp)])
        deletes = []
    if pg.takes(conn, len(deletes)):  # PostgreSQL: = ANY(array) (see postgres_writes)
        pg.delete_rows(conn, bound, [i.native for i in deletes])
        deletes = []
    elif delete_keys(conn, bound, [i.native for i in deletes]):  # MariaDB/MySQL: IN lists
        deletes = []
    for part in chunks([i.native for i in deletes]):
        if bound.lines is not None:
            conn.execute(sa.delete(bound.lines.table).where(bound.lines.parent.in_(part)))
        conn.execute(sa.delete(bound.table).where(key.column.in_(part)))

    updates = [i for i in alive if i.op.kind is WriteKind.UPDATE]
    for group in _groups([i for i in updates if (i.values or stamp) and key.unique]):
        if (pg.takes(conn, len(group)) and pg.update_rows(  # PostgreSQL: COPY + UPDATE … FROM
                conn, bound, [i.native for i in group], [i.values for i in group], stamp)) \
                or update_group(conn, bound, group, stamp):  # MariaDB/MySQL: temp table + JOIN
            continue
        statement = sa.update(bound.table).where(key.column == sa.bindparam(_KEY_PARAM))
        if stamp:
            statement = statement.values(_with_stamp(group[0].values, stamp))
        conn.execute(statement, [{**i.values, _KEY_PARAM: i.native} for i in group])
    for item in updates:
        item.native = item.values.get(key.name, item.native)
    _replace_lines(conn, bound, updates, delete_first=True)

    creates = [i for i in alive if i.op.kind is WriteKind.CREATE]
    for group in _groups(creates):
        if key.generation is KeyGeneration.NONE and key.name not in group[0].values:
            for item in group:
                results[item.index] = failed_result(
                    bound, item.op, f"the key column {key.name} has no default value; give "
                    f"it one (autoincrement) or map a field to it")
            continue
        _insert(conn, bound, group, stamp, shortcut)
    _replace_lines(conn, bound, [i for i in creates if i.index not in results],
                   delete_first=False)

    text = str if key.kind is ColumnKind.INTEGER else key.text
    for item in alive:
        if item.index not in results:
            new_key = None if item.native is None else text(item.native)
            results[item.index] = WriteResult(item.op.token, new_key)
    return results


# -- transactions ----------------------------------------------------------------------------
@contextmanager
def write_transaction(context: WriteContext) -> Iterator[Connection]:
    """A write transaction with echo suppression on (see
    :func:`~syncline.connectors.sql.capture.set_suppression`); committed when the block ends
    normally, rolled back when it raises."""
    with context.engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        mariadb = conn.dialect.name not in ("sqlite", "postgresql")
        try:
            with conn.begin():
                set_suppression(conn, True, control_table=context.control_table)
                yield conn
                set_suppression(conn, False, control_table=context.control_table)
        finally:
            if mariadb:
                try:
                    set_suppression(conn, False)
                    conn.commit()
                except sa.exc.DBAPIError:
                    conn.invalidate()


def _item_error(context: WriteContext, item: PreparedItem, error: sa.exc.DBAPIError) -> WriteResult:
    complaint = mask_secrets(" ".join(str(error.orig).split()), context.url)
    kind: type[ItemError] = ValidationFailed
    if not isinstance(error, sa.exc.IntegrityError | sa.exc.DataError):
        kind = ItemError
    field, problem = database_cause(error.orig, complaint)
    return failed_result(context.bound, item.op, complaint, kind, field=field, value=problem)


def write(context: WriteContext, batch: WriteBatch) -> list[WriteResult]:
    """Apply ``batch`` and return one result per operation, in order (see the module
    docstring). A batch id already in the batch log is not applied again: its stored results
    are returned.

    Raises:
        sqlalchemy.exc.DBAPIError: the database cannot be used (lost connection, lock
            timeout); nothing of the batch was applied.
    """
    bound = context.bound
    items, early = prepare(bound, batch.operations)

    def settle(applied: dict[int, WriteResult]) -> list[WriteResult]:
        merged = {**early, **applied}
        return [merged[i] for i in range(len(batch.operations))]

    for shortcut in (True, False):
        try:
            with write_transaction(context) as conn:
                stored = stored_results(conn, batch.batch_id)
                if stored is not None:
                    return load_results(stored, batch)
                results = settle(_apply(conn, bound, items, _stamp(conn, bound), shortcut))
                log_batch(conn, batch.batch_id, dump_results(results))
                return results
        except _KeysNotConsecutive:
            continue
        except KeyNotUnique:
            break
        except sa.exc.DBAPIError as error:
            if is_connection_problem(error):
                raise
            break
    applied: dict[int, WriteResult] = {}
    with write_transaction(context) as conn:
        stored = stored_results(conn, batch.batch_id)
        if stored is not None:
            return load_results(stored, batch)
        stamp = _stamp(conn, bound)
        for item in items:
            try:
                with conn.begin_nested():
                    applied.update(_apply(conn, bound, [item], stamp, shortcut=False))
            except KeyNotUnique as refused:
                applied[item.index] = not_unique(bound, item.op, refused.count)
            except sa.exc.DBAPIError as error:
                if is_connection_problem(error):
                    raise
                applied[item.index] = _item_error(context, item, error)
        results = settle(applied)
        log_batch(conn, batch.batch_id, dump_results(results))
        return results


def recover(context: WriteContext, batch: WriteBatch) -> list[WriteResult] | None:
    """The stored results of ``batch`` if it was applied, ``None`` if it was not (or was
    abandoned)."""
    with context.engine.connect() as conn:
        try:
            stored = stored_results(conn, batch.batch_id)
        except BatchAbandoned:
            return None
    return None if stored is None else load_results(stored, batch)


def abandon(context: WriteContext, batch: WriteBatch) -> list[WriteResult] | None:
    """The stored results of ``batch`` if it was applied; if not, log it as abandoned (see
    :mod:`~syncline.connectors.sql.batch_log`) and return ``None``."""
    with context.engine.begin() as conn:
        stored = abandon_batch(conn, batch.batch_id)
    return None if stored is None else load_results(stored, batch)
