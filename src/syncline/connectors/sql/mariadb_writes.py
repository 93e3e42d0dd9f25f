"""Bulk writes on MariaDB/MySQL: multi-row ``INSERT … VALUES (…),(…)`` sized to the server's
``max_allowed_packet``, updates through a temporary table and one ``UPDATE … JOIN``, and
deletes (and the check that the rows to change exist) by ``IN`` lists of the same size.

:mod:`~syncline.connectors.sql.writing` calls :func:`insert_group` and :func:`update_group`
for each group of creates or updates with the same columns, :func:`existing_keys` and
:func:`delete_keys` for the keys a batch changes, all inside the batch's transaction;
everything else (the batch log, the per-item fallback with savepoints when the database
refuses the batch, echo suppression) stays where it is. When a
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

from syncline.connectors.sql.binding import BoundStream, KeyColumn, KeyGeneration
from syncline.connectors.sql.coerce import ColumnKind, column_kind

__all__ = [
    "BULK_MIN_ROWS",
    "GroupItem",
    "delete_keys",
    "existing_keys",
    "insert_columns",
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
_ACCESS_DENIED = frozenset({1044, 1142, 1227})
"""The server's error codes for a statement the user has no privilege for (database,
table, other)."""


class GroupItem(Protocol):
    """One item of a group (``write_items.PreparedItem``): its converted column values and
    its key in the key column's own type (``native``)."""

    values: dict[str, Any]
    native: Any


@dataclass(slots=True)
class _Server:
    """What the bulk path needs to know of one connection's server, read once per
    connection: the packet limit, the auto-increment lock mode and step, whether ``INSERT …
    RETURNING`` exists, the storage engine of each table written, and whether the user may
    create temporary tables (``False`` once the server refused one)."""

    packet: int
    lock_mode: int | None
    increment: int
    returning: bool
    engines: dict[str, str]
    temporary_tables: bool = True


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


def _code(error: sa.exc.DBAPIError) -> int | None:
    """The server's error number of ``error`` (``None`` when it has none)."""
    args = getattr(error.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


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
    if process is None and column_kind(column.type) is not ColumnKind.UUID:
        return escape  # the driver's escaping writes None as NULL

    def literal(value: Any) -> str:
        if value is None:
            return "NULL"
        if process is not None:
            value = process(value)
        if isinstance(value, UUID):
            value = str(value)
        return escape(value)

    return literal


def _statements(head: str, rows: Sequence[str], packet: int, tail: str = "") -> list[str]:
    """``head``, as many literals of ``rows`` (``(…)`` rows, or keys) as fit in one packet
    separated by commas, and ``tail``, per statement. A row too big for a packet goes alone
    (the server then refuses it, and the batch falls back per item, which names it)."""
    limit = packet - _PACKET_MARGIN - len(tail.encode())
    statements: list[str] = []
    part: list[str] = []
    size = len(head.encode())
    for row in rows:
        length = (len(row) if row.isascii() else len(row.encode())) + 1
        if part and size + length > limit:
            statements.append(head + ",".join(part) + tail)
            part, size = [], len(head.encode())
        part.append(row)
        size += length
    if part:
        statements.append(head + ",".join(part) + tail)
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


def _new_keys(conn: Connection, bound: BoundStream, given: bool) -> _Server | None:
    """The server settings when the keys of new rows can be known in bulk (given, made by
    syncline, consecutive or returned), else ``None`` (see the module docstring)."""
    key = bound.key
    server = _server(conn)
    if given or key.generation is not KeyGeneration.DATABASE:
        return server
    if key.kind is not ColumnKind.INTEGER:
        return None
    if _consecutive(conn, server, bound.table.name) or server.returning:
        return server
    return None


def _insert(conn: Connection, bound: BoundStream, server: _Server, columns: Sequence[str],
            rows: Sequence[Sequence[Any]], stamp: tuple[str, str] | None) -> list[Any]:
    """Insert ``rows`` (values in the order of ``columns``) by multi-row statements and
    return the keys the database made for them, in order (empty when it made none)."""
    key = bound.key
    quote = conn.dialect.identifier_preparer.quote
    names = [*columns, stamp[0]] if stamp else list(columns)
    head = (f"INSERT INTO {quote(bound.table.name)} "
            f"({', '.join(quote(name) for name in names)}) VALUES ")
    literals = _rows(conn, bound, columns, rows, f",{stamp[1]}" if stamp else "")
    generated = key.generation is KeyGeneration.DATABASE and key.name not in columns
    consecutive = generated and _consecutive(conn, server, bound.table.name)
    returning = f" RETURNING {quote(key.name)}" if generated and not consecutive else ""
    natives: list[Any] = []
    for statement in _statements(head, literals, server.packet - len(returning)):
        result = _execute(conn, statement + returning)
        if returning:
            natives.extend(row[0] for row in result)
        elif generated:
            first, count = int(result.lastrowid), int(result.rowcount)
            natives.extend(range(first, first + count * server.increment, server.increment))
    if generated and len(natives) != len(rows):
        raise AssertionError(f"{len(natives)} keys for {len(rows)} new rows")
    return natives


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
    server = _new_keys(conn, bound, given)
    if server is None:
        return False
    if key.generation is KeyGeneration.UUID and not given:
        for item in group:
            item.values[key.name] = key.new_key()
        columns.append(key.name)
    natives = _insert(conn, bound, server, columns,
                      [[item.values[name] for name in columns] for item in group],
                      _stamp_literal(conn, bound, stamp, columns))
    if not natives:
        natives = [item.values[key.name] for item in group]
    for item, native in zip(group, natives, strict=True):
        item.native = native
    return True


def insert_columns(conn: Connection, bound: BoundStream, columns: Sequence[str],
                   values: Sequence[Sequence[Any]]) -> list[str] | None:
    """Insert new rows given column by column (``values[i]`` holds column ``columns[i]`` of
    every row, converted for the column, the ``updated`` stamp included) by multi-row
    ``INSERT`` statements, and return their keys as text, in order; ``None``, having
    written nothing, when this is for the caller (as :func:`insert_group`, or a key column
    among ``columns``). Used by :mod:`~syncline.connectors.sql.bulk_create`.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused a statement.
    """
    key = bound.key
    count = len(values[0]) if values else 0
    if not is_mariadb(conn) or count < BULK_MIN_ROWS or bound.lines is not None \
            or key.name in columns:
        return None
    server = _new_keys(conn, bound, False)
    if server is None:
        return None
    rows: list[Sequence[Any]] = list(zip(*values, strict=True))
    names = list(columns)
    made: list[Any] = []
    if key.generation is KeyGeneration.UUID:
        made = [key.new_key() for _ in range(count)]
        rows = [(*row, native) for row, native in zip(rows, made, strict=True)]
        names.append(key.name)
    natives = _insert(conn, bound, server, names, rows, None) or made
    text = str if key.kind is ColumnKind.INTEGER else key.text
    return [text(native) for native in natives]


def update_group(conn: Connection, bound: BoundStream, group: Sequence[GroupItem],
                 stamp: dict[str, Any]) -> bool:
    """Apply ``group`` (updates of existing rows with the same columns, ``native`` their
    current keys) through a temporary table filled by multi-row ``INSERT`` and one
    ``UPDATE … JOIN``. Two updates of one key keep the later one's values, as applying them
    in turn would. Returns ``False``, having written nothing, when the group is for the
    caller (not MariaDB, smaller than :data:`BULK_MIN_ROWS`, no columns to set, or the user
    may not create temporary tables: then the server's refusal is remembered for the
    connection).

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
    if not server.temporary_tables:
        return False
    _execute(conn, f"DROP TEMPORARY TABLE IF EXISTS {temporary}")
    selected = ", ".join([f"{quote(key.name)} AS {old_key}",
                          *(quote(name) for name in columns)])
    try:
        _execute(conn, f"CREATE TEMPORARY TABLE {temporary} SELECT {selected} FROM {table} "
                       f"WHERE 1 = 0")
    except sa.exc.DBAPIError as error:
        if _code(error) not in _ACCESS_DENIED:
            raise
        server.temporary_tables = False  # nothing was written: the caller's way, from now on
        return False
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


def _key_lists(conn: Connection, key: KeyColumn, natives: Sequence[Any], head: str) \
        -> list[str]:
    """``head`` followed by ``IN (…)`` lists of the literals of ``natives`` (keys in the key
    column's own type), one statement per packet."""
    make = _literal_maker(conn, key.column)
    return _statements(f"{head} IN (", [make(native) for native in natives],
                       _server(conn).packet, ")")


def existing_keys(conn: Connection, key: KeyColumn, natives: Sequence[Any]) -> set[Any] | None:
    """The keys among ``natives`` that rows of ``key``'s table hold, as the database gives
    them back in the key column's own type; ``None``, having read nothing, when this is for
    the caller (not MariaDB, fewer than :data:`BULK_MIN_ROWS` keys). Integer and uuid keys
    are counted first, and only read back when some are missing.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused the query.
    """
    if not is_mariadb(conn) or len(natives) < BULK_MIN_ROWS:
        return None
    quote = conn.dialect.identifier_preparer.quote
    column = quote(key.name)
    where = f"FROM {quote(key.column.table.name)} WHERE {column}"
    distinct = set(natives)
    if key.kind in (ColumnKind.INTEGER, ColumnKind.UUID):
        # compared exactly (unlike text under a collation): when every key is found, counting
        # them says so without sending the keys back
        counted = sum(int(_execute(conn, statement).scalar_one())
                      for statement in _key_lists(conn, key, list(distinct),
                                                  f"SELECT COUNT(*) {where}"))
        if counted == len(distinct):
            return distinct
    process = key.column.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
    found: set[Any] = set()
    for statement in _key_lists(conn, key, natives, f"SELECT {column} {where}"):
        values = _execute(conn, statement).scalars()
        found.update(values if process is None else map(process, values))
    return found


def delete_keys(conn: Connection, bound: BoundStream, natives: Sequence[Any]) -> bool:
    """Delete the rows whose keys are ``natives`` by ``IN`` lists sized to the packet.
    Returns ``False``, having deleted nothing, when this is for the caller (not MariaDB,
    fewer than :data:`BULK_MIN_ROWS` keys, document lines).

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused a statement.
    """
    if not is_mariadb(conn) or len(natives) < BULK_MIN_ROWS or bound.lines is not None:
        return False
    quote = conn.dialect.identifier_preparer.quote
    for statement in _key_lists(conn, bound.key, natives, f"DELETE FROM "
                                                          f"{quote(bound.table.name)} WHERE "
                                                          f"{quote(bound.key.name)}"):
        _execute(conn, statement)
    return True
