"""The order system's database of the posting worlds, on SQLite or PostgreSQL.

:class:`OrderDatabase` opens a DB-API connection to either (``sqlite:///FILE`` or a
``postgresql+psycopg://`` URL, as the ``sql`` connector takes it) and offers what the
worlds' SQLite code uses: ``execute`` with ``?`` placeholders (a ``lastrowid`` after an
insert), ``executemany``, ``executescript`` (the SQLite DDL of the worlds: on PostgreSQL an
``INTEGER PRIMARY KEY`` becomes ``SERIAL PRIMARY KEY``), ``commit`` and ``fetchall``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any

import sqlalchemy as sa

__all__ = ["OrderDatabase", "execute_statement", "order_database"]

_KEYS = {"orders": "order_id", "purchases": "purchase_id", "order_lines": "line_id",
         "purchase_lines": "line_id", "receipts": "receipt_id", "customers": "id"}
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.I)


class _Cursor:
    def __init__(self, rows: list[tuple[Any, ...]], lastrowid: Any) -> None:
        self.rows = rows
        self.lastrowid = lastrowid

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


class OrderDatabase:
    """One open connection to the order system's database (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")
        if self.postgres:
            import psycopg

            self.connection: Any = psycopg.connect(url.replace("+psycopg", ""))
        else:
            self.connection = sqlite3.connect(url.removeprefix("sqlite:///"))

    def execute(self, sql: str, args: Sequence[Any] = ()) -> _Cursor:
        if not self.postgres:
            cursor = self.connection.execute(sql, args)
            return _Cursor(cursor.fetchall(), cursor.lastrowid)
        text = sql.replace("?", "%s")
        insert = _INSERT.match(text)
        key = _KEYS.get(insert.group(1).lower()) if insert else None
        returning = key is not None and "SELECT" not in text.upper()
        if returning:
            text += f" RETURNING {key}"
        cursor = self.connection.execute(text, tuple(args))
        rows = cursor.fetchall() if cursor.description is not None else []
        return _Cursor(rows, rows[0][0] if returning and rows else None)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.execute(sql, row)

    def executescript(self, script: str) -> None:
        if not self.postgres:
            self.connection.executescript(script)
            return
        script = script.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY")
        for statement in script.split(";"):
            if statement.strip():
                self.connection.execute(statement)

    def commit(self) -> None:
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()


@contextmanager
def order_database(url: str) -> Iterator[OrderDatabase]:
    """:class:`OrderDatabase` of ``url``, committed and closed when the block ends."""
    with closing(OrderDatabase(url)) as db:
        yield db
        db.commit()


def execute_statement(url: str, statement: str, **values: Any) -> None:
    """Run one SQL ``statement`` with ``:name`` placeholders (``values``) on the database at
    the SQLAlchemy ``url`` and commit it: a user's edit of the order system in a test."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as db:
            db.execute(sa.text(statement), values)
    finally:
        engine.dispose()
