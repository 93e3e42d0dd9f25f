"""Bulk writes to a PostgreSQL state store: COPY and arrays, one statement per table and batch.

A settle (see :meth:`syncline.state.store.StateStore.settle`) writes up to thousands of rows
to a few tables. Sent as ``executemany``, each row is a round trip of its own (about 40 µs
on this machine: seven times the cost of the same rows by COPY). On PostgreSQL the store
sends them in bulk instead, in the settle's own transaction (the fencing check before them
included), through the psycopg 3 connection under the SQLAlchemy connection:

inserted rows
    :func:`copy_rows`: one ``COPY table (columns) FROM STDIN`` (text format; ``None`` is
    NULL, ``bytes`` are ``bytea``). Arrays (``INSERT … SELECT … FROM unnest(…)``) were
    measured too: four times slower than COPY for the same journal rows, because the
    server parses each array as text.
updated rows
    :func:`update_by_id`: COPY into a temporary table (dropped at commit, and at once after
    use) and one ``UPDATE … FROM`` it, matched on ``id``.
deleted rows
    :func:`delete_ids` (``id = ANY(array)``) and :func:`delete_keys` (rows matched on a few
    columns, the keys given as arrays): deletes are few per settle (pending items cleared,
    mappings of deleted records), so one statement with arrays is enough.

A statement the database rejects raises the same SQLAlchemy exception as ``executemany``
would (:class:`sqlalchemy.exc.IntegrityError` for a refused key), so the store's fallback
(:mod:`syncline.state.settle_guard`) works alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

if TYPE_CHECKING:
    import psycopg

__all__ = ["copy_rows", "delete_ids", "delete_keys", "update_by_id"]

_CHANGES = "syncline_changed_rows"
"""The temporary table of :func:`update_by_id` (one transaction's life at most)."""


def _driver(connection: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under ``connection`` (same session, same transaction)."""
    import psycopg  # here: loaded by a PostgreSQL write, not by every run's start-up

    driver = connection.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError(f"the PostgreSQL state store needs the psycopg 3 driver, not "
                        f"{type(driver).__module__}")
    return driver


def copy_rows(connection: Connection, table: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> None:
    """Insert ``rows`` (values in the order of ``columns``) into ``table`` by one COPY.

    The engine's ``before_cursor_execute`` listeners see the COPY as one statement with
    ``rows`` as its parameters (executemany) and may replace them, as for any statement:
    that is how the store scrubs secrets from what it writes
    (:func:`syncline.redaction.redact_store`). An error is handled as SQLAlchemy handles
    one of its own statements (``handle_error`` listeners, a dropped connection
    invalidated).

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused the rows (its subclass for the
            driver's error: :class:`~sqlalchemy.exc.IntegrityError` for a duplicate key);
            the transaction must then be rolled back (or the savepoint it ran in).
        StateUnavailable: the database stopped answering (see
            :mod:`syncline.state.outage`).
        TypeError: the connection's driver is not psycopg 3.
    """
    import psycopg  # here: loaded by a PostgreSQL write, not by every run's start-up

    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    driver = _driver(connection)
    parameters: Any = rows
    with driver.cursor() as cursor:
        for listener in connection.dispatch.before_cursor_execute:
            statement, parameters = listener(connection, cursor, statement, list(parameters),
                                             None, True)
        try:
            with cursor.copy(statement) as copy:
                write = copy.write_row
                for row in parameters:
                    write(row)
        except psycopg.Error as error:
            # SQLAlchemy's own handling of a driver error (private, stable in 2.x): the
            # error wrapped as for any statement, handle_error listeners, invalidation
            connection._handle_dbapi_exception(error, statement, None, None, None)


def update_by_id(connection: Connection, table: str, columns: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> None:
    """Set ``columns`` of the rows of ``table`` whose ``id`` is the last value of each of
    ``rows`` (the others in the order of ``columns``): COPY into a temporary table shaped
    like ``table``'s columns, then one ``UPDATE … FROM``.

    Raises:
        sqlalchemy.exc.DBAPIError: as :func:`copy_rows` (an update that pairs a key paired
            already raises :class:`~sqlalchemy.exc.IntegrityError`).
        TypeError: the connection's driver is not psycopg 3.
    """
    names = [*columns, "id"]
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {_CHANGES} ON COMMIT DROP AS "
        f"SELECT {', '.join(names)} FROM {table} WITH NO DATA")
    copy_rows(connection, _CHANGES, names, rows)
    assignments = ", ".join(f"{column} = c.{column}" for column in columns)
    connection.exec_driver_sql(
        f"UPDATE {table} AS t SET {assignments} FROM {_CHANGES} AS c WHERE t.id = c.id")
    connection.exec_driver_sql(f"DROP TABLE {_CHANGES}")


def delete_ids(connection: Connection, table: str, ids: Sequence[int]) -> None:
    """Delete the rows of ``table`` whose ``id`` is one of ``ids`` (one statement).

    Raises:
        sqlalchemy.exc.DBAPIError: the database failed.
    """
    connection.exec_driver_sql(f"DELETE FROM {table} WHERE id = ANY(%s)", (list(ids),))


def delete_keys(connection: Connection, table: str, columns: Sequence[str],
                types: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Delete the rows of ``table`` whose ``columns`` hold the values of one of ``rows``
    (one statement; the values sent as one array per column, of the SQL ``types``).

    Raises:
        sqlalchemy.exc.DBAPIError: the database failed.
    """
    arrays = ", ".join(f"%s::{kind}[]" for kind in types)
    connection.exec_driver_sql(
        f"DELETE FROM {table} WHERE ({', '.join(columns)}) IN "
        f"(SELECT * FROM unnest({arrays}))",
        tuple(list(values) for values in zip(*rows, strict=True)))
