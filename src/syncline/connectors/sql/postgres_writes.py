"""PostgreSQL writes in bulk: creates by ``COPY … FROM STDIN``, updates through a temporary
table and one ``UPDATE … FROM``, deletes by ``= ANY(array)``.

Terms:

bulk path
    The statements of this module, used by :mod:`~syncline.connectors.sql.writing` and
    :mod:`~syncline.connectors.sql.bulk_create` for a group of at least :data:`BULK_MIN`
    rows of one kind on PostgreSQL (see :func:`takes`), the lines of documents included
    (:func:`copy_rows`). Below that size one ``COPY`` costs
    more round trips than the ``executemany`` it replaces. Everything around the
    statements stays where it is: the batch's one transaction, the batch log, echo
    suppression (``COPY`` fires the same row triggers as ``INSERT``, and they read the same
    transaction-local setting), and the per-item fallback: when the database refuses a
    ``COPY`` (a unique key taken, a value too long), the whole batch is rolled back and
    written again one item at a time, each in a savepoint, through the row path, which
    names the item and why.
key allocation
    How a create learns the key the database makes, before the rows are sent, so that the
    ``n``-th key belongs to the ``n``-th row whatever order the server inserts them in:
    a serial or identity column's sequence gives ``n`` numbers (``SELECT array(SELECT
    nextval(seq) FROM generate_series(1, n))``), as the row path does already; a key with
    another default (``gen_random_uuid()``) has that default evaluated ``n`` times the same
    way. ``COPY`` cannot override an identity ``GENERATED ALWAYS`` column, so its rows are
    copied into a temporary table and moved with one ``INSERT … OVERRIDING SYSTEM VALUE
    SELECT``, keys taken from the column's own sequence (where the user may create
    temporary tables). Where a ``BEFORE INSERT`` trigger could change a key the database
    makes, nothing is allocated (:class:`NotApplicable`) and the row path (``RETURNING``)
    writes the group.

Values go in ``COPY``'s text format; each column's type is set once
(:meth:`psycopg.Copy.set_types`) when all its values are of one Python type psycopg dumps,
so no value has its dumper looked up on its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncline.connectors.sql.binding import BoundStream, KeyGeneration

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "BULK_MIN",
    "NotApplicable",
    "copy_rows",
    "delete_rows",
    "insert_columns",
    "insert_rows",
    "raw_stamp",
    "takes",
    "update_rows",
]

BULK_MIN = 50
"""The smallest group written through the bulk path (see the module docstring). Measured
on the local server (a batch of 3 text columns, whole batch with its transaction, load 7.8
on 2 cores): at 10 to 20 rows neither path wins beyond the noise; at 50 rows creates take
0.67 and updates 0.85 of the row path's time; at 1,000 rows creates 0.52, updates 0.57,
deletes 0.77."""

_KEY = "syncline_key_"
"""The column of a temporary update table holding the key of the row to update."""

_TEXT_TYPES: dict[type, str] = {
    str: "text", float: "float8", bool: "bool", Decimal: "numeric", date: "date",
    UUID: "uuid", bytes: "bytea",
}
"""PostgreSQL type names whose psycopg dumper takes values of exactly that Python type."""

_INT8 = range(-(2 ** 63), 2 ** 63)
_tables = itertools.count(1)


class NotApplicable(Exception):
    """The bulk path cannot make the keys of a group of creates (see the module docstring);
    nothing was written, and the caller writes the group the row path's way."""


def takes(conn: Connection, count: int) -> bool:
    """Whether a group of ``count`` rows goes through the bulk path: PostgreSQL, and at least
    :data:`BULK_MIN` rows."""
    return count >= BULK_MIN and conn.dialect.name == "postgresql"


def raw_stamp(stamp: dict[str, Any]) -> tuple[str, Any] | None:
    """The column and value of the row path's ``updated`` stamp (``{column: the bound value
    of :func:`~syncline.connectors.sql.writing.stamp_value`}``), so that the bulk path
    stamps a batch's rows with the very value its other statements use."""
    for name, bound in stamp.items():
        return name, getattr(bound, "clause", bound).value
    return None


# -- helpers ---------------------------------------------------------------------------------
def _quoted(conn: Connection, name: str) -> str:
    return str(conn.dialect.identifier_preparer.quote(name))


def _table(conn: Connection, table: sa.Table) -> str:
    return str(conn.dialect.identifier_preparer.format_table(table))


def _driver(conn: Connection) -> psycopg.Connection[Any]:
    import psycopg  # here: loaded by a PostgreSQL write, not by every run's start-up

    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def _wrapped(conn: Connection, statement: str, error: psycopg.Error) -> sa.exc.DBAPIError:
    """``error`` as SQLAlchemy raises a driver error (an :class:`~sqlalchemy.exc.
    IntegrityError` for a unique key taken...), so that the caller's handling of refused
    batches and lost connections is the same as for the row path."""
    import psycopg  # here: loaded by a PostgreSQL write, not by every run's start-up

    orig: Any = error
    lost = conn.dialect.is_disconnect(orig, conn.connection.dbapi_connection, None)
    wrapped = sa.exc.DBAPIError.instance(statement, None, error, psycopg.Error,
                                         connection_invalidated=lost)
    assert isinstance(wrapped, sa.exc.DBAPIError)
    return wrapped


def _processed(conn: Connection, column: sa.Column[Any], values: Sequence[Any]) \
        -> Sequence[Any]:
    """``values`` through the column type's bind processor (a JSON column's serialiser), as
    ``executemany`` would send them; unchanged when the type has none."""
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    if process is None:
        return values
    return [None if value is None else process(value) for value in values]


def _type_name(values: Sequence[Any]) -> str | None:
    """The PostgreSQL type whose dumper takes every value of ``values`` (``text`` for a
    column of NULLs), or ``None`` when no one type does."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if not kinds:
        return "text"
    if len(kinds) > 1:
        return None
    kind = kinds.pop()
    if kind is int:
        present = [value for value in values if value is not None]
        return "int8" if min(present) in _INT8 and max(present) in _INT8 else None
    if kind is datetime:
        zones = {value.tzinfo is None for value in values if value is not None}
        return None if len(zones) > 1 else "timestamp" if zones.pop() else "timestamptz"
    return _TEXT_TYPES.get(kind)


def _copy(conn: Connection, target: str, names: Sequence[str],
          columns: Sequence[Sequence[Any]]) -> None:
    """``COPY target (names) FROM STDIN`` the rows whose values ``columns`` holds column by
    column.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused a row (the whole ``COPY`` fails).
    """
    import psycopg  # here: loaded by a PostgreSQL write, not by every run's start-up

    statement = f"COPY {target} ({', '.join(_quoted(conn, n) for n in names)}) FROM STDIN"
    types = [_type_name(values) for values in columns]
    try:
        with _driver(conn).cursor() as cursor, cursor.copy(statement) as copy:
            if all(types):
                copy.set_types([name for name in types if name])
            for row in zip(*columns, strict=True):
                copy.write_row(row)
    except psycopg.Error as error:
        raise _wrapped(conn, statement, error) from error


def _temporary(conn: Connection, table: sa.Table, names: Sequence[str],
               key: str | None = None) -> str:
    """A new temporary table (dropped at commit) with the types of ``table``'s columns
    ``names``, and first, when ``key`` is given, the column ``syncline_key_`` of the type of
    column ``key``. Returns its quoted name."""
    name = _quoted(conn, f"syncline_bulk_{next(_tables)}")
    chosen = [_quoted(conn, n) for n in names]
    if key is not None:
        chosen.insert(0, f"{_quoted(conn, key)} AS {_KEY}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS SELECT "
                         f"{', '.join(chosen)} FROM {_table(conn, table)} "
                         f"WITH NO DATA")
    return name


def _temporary_allowed(conn: Connection) -> bool:
    """Whether the user may create temporary tables (a database administrator can revoke
    ``TEMPORARY``); where not, the groups that need one stay on the row path."""
    return bool(conn.exec_driver_sql(
        "SELECT has_database_privilege(current_database(), 'TEMPORARY')").scalar())


def _made(conn: Connection, expression: str, count: int, *params: Any) -> list[Any]:
    """``expression`` evaluated ``count`` times, in one array (one value to fetch instead of
    ``count`` rows)."""
    made = conn.exec_driver_sql(f"SELECT array(SELECT {expression} FROM generate_series(1, "
                                f"%s))", (*params, count)).scalar_one()
    return list(made)


def _changes_keys(conn: Connection, table: sa.Table) -> bool:
    """Whether ``table`` has a ``BEFORE INSERT`` row trigger of its own (one not made by
    syncline, nor internal), which could replace a key the database makes."""
    return bool(conn.exec_driver_sql(
        "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass "
        "AND NOT tgisinternal AND tgname NOT LIKE 'syncline%%' "
        "AND tgtype & 1 = 1 AND tgtype & 2 = 2 AND tgtype & 4 = 4)",
        (_table(conn, table),)).scalar())


def _made_keys(conn: Connection, bound: BoundStream, count: int) -> tuple[list[Any], bool]:
    """``count`` keys of new rows, made as the database makes them (see *key allocation*),
    and whether the column is an identity ``GENERATED ALWAYS`` one.

    Raises:
        NotApplicable: the keys cannot be made ahead.
    """
    key = bound.key
    if key.sequence is not None:
        return _made(conn, "nextval(%s)", count, key.sequence), False
    if _changes_keys(conn, bound.table):
        raise NotApplicable
    table = _table(conn, bound.table)
    always = key.column.identity is not None and key.column.identity.always
    if always and not _temporary_allowed(conn):
        raise NotApplicable
    if always:
        sequence = conn.exec_driver_sql("SELECT pg_get_serial_sequence(%s, %s)",
                                        (table, key.name)).scalar()
        if sequence is None:
            raise NotApplicable
        return _made(conn, "nextval(%s)", count, sequence), True
    default = conn.exec_driver_sql(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a ON "
        "a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = %s::regclass AND "
        "a.attname = %s", (table, key.name)).scalar()
    if default is None:
        raise NotApplicable
    return _made(conn, default.replace("%", "%%"), count), False


# -- the three kinds of writes ---------------------------------------------------------------
def insert_columns(conn: Connection, bound: BoundStream, count: int, names: Sequence[str],
                   columns: Sequence[Sequence[Any]],
                   stamp: tuple[str, Any] | None) -> list[Any]:
    """Insert ``count`` rows into ``bound``'s table, whose values of columns ``names`` are
    given column by column in ``columns`` (converted for the columns), stamped with
    ``stamp`` (``(column, value)`` or ``None``) where not given; return each row's key in
    the key column's own type, in row order.

    Raises:
        NotApplicable: the keys of the rows cannot be made (a key generated neither by
            syncline nor by the database, a trigger that may change keys); nothing written.
        sqlalchemy.exc.DBAPIError: the database refused a row; the caller rolls back.
    """
    key = bound.key
    names, columns = list(names), list(columns)
    always = False
    if key.name in names:
        natives = list(columns[names.index(key.name)])
    elif key.generation is KeyGeneration.UUID:
        natives = [key.new_key() for _ in range(count)]
    elif key.generation is KeyGeneration.DATABASE:
        natives, always = _made_keys(conn, bound, count)
    else:
        raise NotApplicable
    if key.name not in names:
        names.append(key.name)
        columns.append(natives)
    table = bound.table
    columns = [_processed(conn, table.c[n], values) for n, values in zip(names, columns,
                                                                         strict=True)]
    if stamp is not None and stamp[0] not in names:  # its value is processed already
        names.append(stamp[0])
        columns.append([stamp[1]] * count)
    if not always:
        _copy(conn, _table(conn, table), names, columns)
        return natives
    staged = _temporary(conn, table, names)
    _copy(conn, staged, names, columns)
    listed = ", ".join(_quoted(conn, n) for n in names)
    conn.exec_driver_sql(f"INSERT INTO {_table(conn, table)} ({listed}) OVERRIDING SYSTEM "
                         f"VALUE SELECT {listed} FROM {staged}")
    return natives


def _by_column(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """The column names of ``rows`` (all with the same columns, in the same order) and
    their values column by column."""
    names = list(rows[0]) if rows else []
    return names, [[row[name] for row in rows] for name in names]


def insert_rows(conn: Connection, bound: BoundStream, rows: Sequence[dict[str, Any]],
                stamp: dict[str, Any]) -> list[Any] | None:
    """:func:`insert_columns` for ``rows`` given as ``{column: value}`` (all with the same
    columns, in the same order) and the row path's ``stamp`` (see :func:`raw_stamp`);
    ``None`` with nothing written where it raises :class:`NotApplicable`.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused a row; the caller rolls back.
    """
    names, columns = _by_column(rows)
    try:
        return insert_columns(conn, bound, len(rows), names, columns, raw_stamp(stamp))
    except NotApplicable:
        return None


def copy_rows(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """``COPY`` ``rows`` (``{column: value}``, converted for the columns, all with the same
    columns) into ``table``: the lines of documents, whose new keys nobody asks for.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused a row; the caller rolls back.
    """
    names, columns = _by_column(rows)
    _copy(conn, _table(conn, table), names,
          [_processed(conn, table.c[n], values) for n, values in zip(names, columns,
                                                                     strict=True)])


def update_rows(conn: Connection, bound: BoundStream, natives: Sequence[Any],
                rows: Sequence[dict[str, Any]], stamp: dict[str, Any]) -> bool:
    """Set the rows keyed ``natives`` to ``rows``, the new values as ``{column: value}``
    (all with the same columns, in the same order; converted for the columns), and to the
    row path's ``stamp`` (see :func:`raw_stamp`) where not given, with one ``COPY`` into a
    temporary
    table and one ``UPDATE … FROM``. Returns ``False`` with nothing written when the set
    statement would not do what one ``UPDATE`` per row does (a key given twice: the rows
    would be updated once, by either; a key being changed) or the user may not create
    temporary tables.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused a row; the caller rolls back.
    """
    key = bound.key
    names, columns = _by_column(rows)
    if key.name in names or len({key.identity(n) for n in natives}) != len(natives) \
            or not _temporary_allowed(conn):
        return False
    table = bound.table
    processed = [_processed(conn, table.c[n], values) for n, values in zip(names, columns,
                                                                           strict=True)]
    staged = _temporary(conn, table, names, key.name)
    _copy(conn, staged, [_KEY, *names], [_processed(conn, key.column, natives), *processed])
    setting = [f"{_quoted(conn, n)} = s.{_quoted(conn, n)}" for n in names]
    params: tuple[Any, ...] = ()
    stamped = raw_stamp(stamp)
    if stamped is not None and stamped[0] not in names:
        setting.append(f"{_quoted(conn, stamped[0])} = %s")
        params = (stamped[1],)
    conn.exec_driver_sql(f"UPDATE {_table(conn, table)} AS t SET {', '.join(setting)} FROM "
                         f"{staged} AS s WHERE t.{_quoted(conn, key.name)} = s.{_KEY}",
                         params)
    return True


def _array_type(conn: Connection, table: sa.Table, column: str) -> str:
    """The SQL type of ``table``'s column ``column`` (``citext``, ``character varying(40)``),
    so that an array of keys is compared as the column compares."""
    return str(conn.exec_driver_sql(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
        "%s::regclass AND attname = %s", (_table(conn, table), column)).scalar_one())


def delete_rows(conn: Connection, bound: BoundStream, natives: Sequence[Any]) -> None:
    """Delete the rows keyed ``natives`` (and their lines) by ``= ANY(array)``, one
    statement per table.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused the delete (a foreign key).
    """
    keys = list(natives)
    lines = bound.lines
    if lines is not None:
        cast = _array_type(conn, lines.table, lines.parent.name)
        conn.exec_driver_sql(f"DELETE FROM {_table(conn, lines.table)} WHERE "
                             f"{_quoted(conn, lines.parent.name)} = ANY(%s::{cast}[])",
                             (keys,))
    cast = _array_type(conn, bound.table, bound.key.name)
    conn.exec_driver_sql(f"DELETE FROM {_table(conn, bound.table)} WHERE "
                         f"{_quoted(conn, bound.key.name)} = ANY(%s::{cast}[])", (keys,))
