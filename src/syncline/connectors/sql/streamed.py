"""Streamed full reads: one query, its rows taken page by page as the caller asks for them.

Terms:

streamed read
    A full read of a table as one ``SELECT ... ORDER BY key`` on one connection held for the
    whole read, its rows fetched in batches of one page: on PostgreSQL through a server-side
    (named) cursor, ``FETCH FORWARD page_size`` per page; on MariaDB/MySQL through an
    unbuffered cursor (PyMySQL's ``SSCursor``) that reads the rows off the socket as they are
    asked for. Memory follows the page size, not the table; the table is read once, in one
    snapshot, instead of one keyset query per page.
keyset read
    What :mod:`~syncline.connectors.sql.reading` does where a read is not streamed (SQLite,
    whose long read transaction would hold writers off, and MariaDB tables that are not
    InnoDB, whose reads lock the table): one short ``WHERE key > last LIMIT page_size`` query
    per page.

The connection of a streamed read is used for nothing else while the read lasts (an
unbuffered MariaDB connection cannot run another statement before its rows are all read):
lines of documents are read through other connections of the pool. A read given up early
(the caller stops iterating, or the run stops) releases its connection at once: the
PostgreSQL cursor is closed and its transaction rolled back; the MariaDB connection, which
would otherwise have to read the rest of the rows off the socket first, is dropped from the
pool and closed.

A streamed read only takes ``ACCESS SHARE`` (PostgreSQL) or a consistent InnoDB read (no row
locks), so the caller may write to the same tables through other connections between pages.
MariaDB would abort a query whose rows the client does not read for ``net_write_timeout``
seconds (60 by default); a streamed read's session raises it to :data:`IDLE_SECONDS` so that
a caller may work on a page as long as it needs, and sets it back when the read ends.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from syncline.connectors.sql.binding import BoundStream

__all__ = ["IDLE_SECONDS", "row_pages", "streams"]

IDLE_SECONDS = 86_400
"""How long a streamed MariaDB read may wait for its caller between two pages."""

_MYSQL = frozenset({"mysql", "mariadb"})


def streams(engine: Engine, bound: BoundStream) -> bool:
    """Whether full reads of ``bound`` are streamed (see the module docstring): always on
    PostgreSQL; on MariaDB/MySQL for InnoDB tables (not views, whose underlying tables may
    lock); never on SQLite.

    Raises:
        sqlalchemy.exc.DBAPIError: the database cannot be asked.
    """
    if bound.dialect == "postgresql":
        return True
    if bound.dialect not in _MYSQL or bound.is_view:
        return False
    with engine.connect() as conn:
        storage = conn.execute(sa.text(
            "SELECT ENGINE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :name"),
            {"name": bound.table.name}).scalar()
    return str(storage or "").lower() == "innodb"


def _split_run(rows: list[Any]) -> tuple[list[Any], list[Any]]:
    """``rows`` (in key order) cut before the run of rows sharing the last row's key: the
    rows before it and the run."""
    last = rows[-1][0]
    cut = len(rows) - 1
    while cut > 0 and rows[cut - 1][0] == last:
        cut -= 1
    return rows[:cut], rows[cut:]


def row_pages(engine: Engine, query: sa.Select[Any], page_size: int, *,
              whole_runs: bool) -> Generator[list[Any], None, None]:
    """The rows of ``query`` (ordered by the key, selected first) streamed in pages of at
    most ``page_size`` (see the module docstring). With ``whole_runs``, a page never ends
    inside a run of rows sharing one key (the run moves to the next page, which may then be
    longer), so that a key held by two rows is seen on one page.

    Raises:
        sqlalchemy.exc.DBAPIError: the database failed the query or the connection.
    """
    mysql = engine.dialect.name in _MYSQL
    with engine.connect() as conn:
        result: sa.CursorResult[Any] | None = None
        finished = False
        try:
            if mysql:
                conn.exec_driver_sql(f"SET SESSION net_write_timeout = {IDLE_SECONDS}")
            result = conn.execution_options(stream_results=True,
                                            max_row_buffer=page_size).execute(query)
            # SQLAlchemy reads the first row ahead (to learn the columns): the first batch is
            # taken through it, which hands that row over and leaves nothing buffered; the
            # others straight from the driver's cursor, as the driver's own tuples
            batch: list[Any] = [tuple(row) for row in result.fetchmany(page_size)]
            carry: list[Any] = []
            while True:
                rows = carry + batch if carry else batch
                if whole_runs and len(batch) == page_size:
                    rows, carry = _split_run(rows)
                else:
                    carry = []
                if rows:
                    yield rows
                if len(batch) < page_size:
                    break
                batch = list(result.cursor.fetchmany(page_size))
            finished = True
            result.close()
            if mysql:
                conn.exec_driver_sql("SET SESSION net_write_timeout = DEFAULT")
        finally:
            if not finished and mysql:
                # rows may be left unread on the socket: drop the connection rather than
                # read them all first (or hand it back to the pool in that state); PyMySQL's
                # result would try to read them when collected: it is told they are gone
                unread = getattr(result.cursor, "_result", None) if result is not None \
                    else None
                if unread is not None:
                    unread.unbuffered_active = False
                conn.invalidate()
            elif not finished and result is not None:
                result.close()  # the server-side cursor; the transaction is rolled back
