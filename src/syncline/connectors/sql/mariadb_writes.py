"""Bulk writes on MariaDB/MySQL: multi-row ``INSERT … VALUES (…),(…)`` sized to the server's
``max_allowed_packet``, and updates through a temporary table and one ``UPDATE … JOIN``.

:mod:`~syncline.connectors.sql.writing` calls :func:`insert_group` and :func:`update_group`
for each group of creates or updates with the same columns, inside the batch's transaction;
everything else (the batch log, the per-item fallback with savepoints when the database
refuses the batch, echo suppression, deletes by ``IN`` lists) stays where it is. When a
function returns ``False`` it has written nothing and the caller writes the group its own
way.

Terms:

statement text
    The values are turned into SQL literals here (each column's SQLAlchemy bind processor,
    then the driver's own escaping), so that one statement carries many rows; each
    statement stays below the server's ``max_allowed_packet`` (read once per connection).
consecutive keys
    ``AUTO_INCREMENT`` numbers given to the rows of one multi-row ``INSERT``: the first is
    the statement's insert id, the others follow at ``auto_increment_increment`` steps.
    InnoDB guarantees this under ``innodb_autoinc_lock_mode`` 0 or 1 (a multi-row ``INSERT
    … VALUES`` is a "simple insert": its row count is known ahead); MyISAM and Aria lock the
    table for the statement. Otherwise the keys are read back with ``RETURNING`` (MariaDB
    10.5 and later), in the order the rows were inserted; where neither holds the group is
    left to the caller.
bulk threshold
    :data:`BULK_MIN_ROWS`: a group smaller than this is written the caller's way (the
    temporary table costs a few round trips, which pay from about this many rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncline.connectors.sql.binding import BoundStream, KeyGeneration
from syncline.connectors.sql.coerce import ColumnKind

__all__ = [
    "BULK_MIN_ROWS",
    "GroupItem",
    "insert_group",
    "is_mariadb",
    "update_group",
]

BULK_MIN_ROWS = 8
"""The bulk threshold (see the module docstring). Measured on MariaDB 10.11 (whole batches
through the connector, median of 40, machine loaded): an update of 1 row took 13.4 ms bulk
against 11.2 ms row by row, of 8 rows 12.9 against 13.7 ms, of 32 rows 10.9 against 18.2 ms;
creates cost about the same either way below 8 rows."""

_PACKET_MARGIN = 4096
"""Bytes kept free below ``max_allowed_packet`` for the packet header and the statement's
head."""

_TEMPORARY = "syncline_update_"
_OLD_KEY = "syncline_key_"
_SETTINGS = "syncline_mariadb_settings"
_TABLE_LOCKED_ENGINES = frozenset({"myisam", "aria", "memory"})


class GroupItem(Protocol):
    """One item of a group (``writing._Item``): its converted column values and its key in
    the key column's own type (``native``)."""

    values: dict[str, Any]
    native: Any


@dataclass(frozen=True, slots=True)
class _Server:
    """What the bulk path needs to know of one connection's server, read once per
    connection: the packet limit, the auto-increment lock mode and step, and whether
    ``INSERT … RETURNING`` exists."""

    packet: int
    lock_mode: int | None
    increment: int
    returning: bool
    engines: dict[str, str]


def is_mariadb(conn: Connection) -> bool:
    """Whether ``conn`` is a MariaDB or MySQL connection."""
    return conn.dialect.name in ("mysql", "mariadb")


def _server(conn: Connection) -> _Server:
    """The :class:`_Server` of ``conn``, kept in the pooled connection's ``info`` so that it
    is read once per connection.

    Raises:
        sqlalchemy.exc.DBAPIError: the server refused the query.
    """
    info = conn.connection.info
    found = info.get(_SETTINGS)
    if isinstance(found, _Server):
        return found
    row = conn.exec_driver_sql(
        "SELECT @@max_allowed_packet, @@auto_increment_increment").one()
    try:
        mode = conn.exec_driver_sql("SELECT @@innodb_autoinc_lock_mode").scalar()
    except sa.exc.DBAPIError:  # a server without InnoDB
        mode = None
    server = _Server(int(row[0]), None if mode is None else int(mode), int(row[1]),
                     bool(conn.dialect.insert_returning), {})
    info[_SETTINGS] = server
    return server


def _engine(conn: Connection, server: _Server, table: str) -> str:
    """The storage engine of ``table`` (lower case), cached with the connection."""
    if table not in server.engines:
        engine = conn.execute(sa.text(
            "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = :table"), {"table": table}).scalar()
        server.engines[table] = str(engine or "").lower()
    return server.engines[table]


def _consecutive(conn: Connection, server: _Server, table: str) -> bool:
    """Whether one multi-row ``INSERT`` into ``table`` gets consecutive keys (see the module
    docstring)."""
    engine = _engine(conn, server, table)
    if engine == "innodb":
        return server.lock_mode in (0, 1)
    return engine in _TABLE_LOCKED_ENGINES


def _literal_maker(conn: Connection, column: sa.Column[Any]) -> Callable[[Any], str]:
    """A function turning a value of ``column`` (as the writers of
    :mod:`~syncline.connectors.sql.coerce` make it) into an SQL literal: the column type's
    bind processor, as a bound parameter would get, then the driver's escaping."""
    escape: Callable[[Any], str] = conn.connection.driver_connection.escape  # type: ignore[union-attr]
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)

    def literal(value: Any) -> str:
        if value is None:
            return "NULL"
        if process is not None:
            value = process(value)
        if isinstance(value, UUID):
            value = str(value)
        return escape(value)

    return literal


def _statements(head: str, rows: Sequence[str], packet: int) -> list[str]:
    """``head`` followed by as many row literals ``(…)`` as fit in one packet, per statement.
    A row too big for a packet goes alone (the server then refuses it, and the batch falls
    back per item, which names it)."""
    limit = packet - _PACKET_MARGIN
    statements: list[str] = []
    part: list[str] = []
    size = len(head.encode())
    for row in rows:
        length = (len(row) if row.isascii() else len(row.encode())) + 1
        if part and size + length > limit:
            statements.append(head + ",".join(part))
            part, size = [], len(head.encode())
        part.append(row)
        size += length
    if part:
        statements.append(head + ",".join(part))
    return statements


def _execute(conn: Connection, statement: str) -> sa.CursorResult[Any]:
    """Run statement text without parameters (so that a ``%`` in a value stays as is)."""
    return conn.exec_driver_sql(statement, execution_options={"no_parameters": True})


def _stamp_literal(conn: Connection, bound: BoundStream, stamp: dict[str, Any],
                   columns: Sequence[str]) -> tuple[str, str] | None:
    """The ``updated`` column and its literal for the group, from the caller's ``stamp`` (one
    bound value, the same for the whole batch); ``None`` without one or when the group sets
    that column itself."""
    for name, expression in stamp.items():
        if name in columns:
            continue
        for element in sa.sql.visitors.iterate(expression):
            if isinstance(element, sa.BindParameter):
                escape = conn.connection.driver_connection.escape  # type: ignore[union-attr]
                return name, "NULL" if element.value is None else str(escape(element.value))
    return None


def _rows(conn: Connection, bound: BoundStream, columns: Sequence[str],
          values: Sequence[Sequence[Any]], extra: str = "") -> list[str]:
    """One ``(…)`` literal per row of ``values`` (each in the order of ``columns``), with
    ``extra`` (``,literal``) appended to each."""
    makers = [_literal_maker(conn, bound.table.c[name]) for name in columns]
    return ["(" + ",".join([make(value) for make, value in zip(makers, row, strict=True)])
            + extra + ")" for row in values]


def insert_group(conn: Connection, bound: BoundStream, group: Sequence[GroupItem],
                 stamp: dict[str, Any]) -> bool:
    """Insert ``group`` (creates with the same columns) by multi-row ``INSERT`` statements
    and set each item's ``native`` to its new key, in the group's order. Returns ``False``,
    having written nothing, when the group is for the caller: not MariaDB, smaller than
    :data:`BULK_MIN_ROWS`, document lines, or keys that cannot be known in bulk (a server
    default that is not ``AUTO_INCREMENT``; keys neither consecutive nor returned).

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused a statement (the caller's
            transaction is then rolled back and the batch written per item).
    """
    if not is_mariadb(conn) or len(group) < BULK_MIN_ROWS or bound.lines is not None:
        return False
    key = bound.key
    columns = list(group[0].values)
    given = key.name in columns
    generated = key.generation is KeyGeneration.DATABASE and not given
    if generated and key.kind is not ColumnKind.INTEGER:
        return False
    server = _server(conn)
    consecutive = generated and _consecutive(conn, server, bound.table.name)
    if generated and not consecutive and not server.returning:
        return False
    if key.generation is KeyGeneration.UUID and not given:
        for item in group:
            item.values[key.name] = key.new_key()
        columns.append(key.name)
    quote = conn.dialect.identifier_preparer.quote
    stamped = _stamp_literal(conn, bound, stamp, columns)
    names = [*columns, stamped[0]] if stamped else columns
    head = (f"INSERT INTO {quote(bound.table.name)} "
            f"({', '.join(quote(name) for name in names)}) VALUES ")
    extra = f",{stamped[1]}" if stamped else ""
    rows = _rows(conn, bound, columns, [[item.values[name] for name in columns]
                                        for item in group], extra)
    returning = f" RETURNING {quote(key.name)}" if generated and not consecutive else ""
    natives: list[Any] = []
    for statement in _statements(head, rows, server.packet - len(returning)):
        result = _execute(conn, statement + returning)
        if returning:
            natives.extend(row[0] for row in result)
        elif generated:
            first, count = int(result.lastrowid), int(result.rowcount)
            natives.extend(range(first, first + count * server.increment, server.increment))
    if generated:
        if len(natives) != len(group):
            raise AssertionError(f"{len(natives)} keys for {len(group)} new rows")
        for item, native in zip(group, natives, strict=True):
            item.native = native
    else:
        for item in group:
            item.native = item.values[key.name]
    return True


def update_group(conn: Connection, bound: BoundStream, group: Sequence[GroupItem],
                 stamp: dict[str, Any]) -> bool:
    """Apply ``group`` (updates of existing rows with the same columns, ``native`` their
    current keys) through a temporary table filled by multi-row ``INSERT`` and one
    ``UPDATE … JOIN``. Two updates of one key keep the later one's values, as applying them
    in turn would. Returns ``False``, having written nothing, when the group is for the
    caller (not MariaDB, smaller than :data:`BULK_MIN_ROWS`, no columns to set).

    ``INSERT … ON DUPLICATE KEY UPDATE`` is not used: it would create again a row that was
    deleted meanwhile.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused a statement.
    """
    if not is_mariadb(conn) or len(group) < BULK_MIN_ROWS:
        return False
    key = bound.key
    columns = list(group[0].values)
    stamped = _stamp_literal(conn, bound, stamp, columns)
    if not columns:
        return False
    latest: dict[Any, GroupItem] = {}
    for item in group:
        identity = key.identity(item.native) if key.folds else item.native
        latest.pop(identity, None)
        latest[identity] = item
    quote = conn.dialect.identifier_preparer.quote
    table, temporary, old_key = (quote(bound.table.name), quote(_TEMPORARY), quote(_OLD_KEY))
    server = _server(conn)
    _execute(conn, f"DROP TEMPORARY TABLE IF EXISTS {temporary}")
    selected = ", ".join([f"{quote(key.name)} AS {old_key}",
                          *(quote(name) for name in columns)])
    _execute(conn, f"CREATE TEMPORARY TABLE {temporary} SELECT {selected} FROM {table} "
                   f"WHERE 1 = 0")
    makers = [_literal_maker(conn, key.column),
              *(_literal_maker(conn, bound.table.c[name]) for name in columns)]
    rows = ["(" + ",".join([make(value) for make, value in zip(
        makers, [item.native, *(item.values[name] for name in columns)], strict=True)])
        + ")" for item in latest.values()]
    head = (f"INSERT INTO {temporary} ({old_key}, "
            f"{', '.join(quote(name) for name in columns)}) VALUES ")
    for statement in _statements(head, rows, server.packet):
        _execute(conn, statement)
    sets = [f"{table}.{quote(name)} = {temporary}.{quote(name)}" for name in columns]
    if stamped:
        sets.append(f"{table}.{quote(stamped[0])} = {stamped[1]}")
    _execute(conn, f"UPDATE {table} JOIN {temporary} ON {table}.{quote(key.name)} = "
                   f"{temporary}.{old_key} SET {', '.join(sets)}")
    # left behind when a statement fails: the next group drops it before making its own
    _execute(conn, f"DROP TEMPORARY TABLE {temporary}")
    return True
