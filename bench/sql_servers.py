"""The databases of the SQL benchmark (``python -m bench.sql``): one interface, and the
SQLite implementation; PostgreSQL and MariaDB are in ``bench.sql_postgres`` and
``bench.sql_mariadb``.

Terms:

side
    ``a`` (the source table, filled by the benchmark), ``b`` (the target, empty before the
    first sync) or ``state`` (the state store's database, PostgreSQL only). On a server each
    side is a database of its own, named ``syncline_bench_<random>_<side>``, created by the
    benchmark and dropped at its end; no other database of the server is touched.
key kind
    ``int``: the realistic integer key of the database (PostgreSQL ``bigint`` identity,
    MariaDB ``bigint`` auto-increment, SQLite ``INTEGER PRIMARY KEY``); ``uuid``: the
    database's ``uuid`` type with its default (PostgreSQL and MariaDB only).
floor table
    ``b_floor``, beside ``b`` in the same database and of the same shape, into which the
    plain-client copy (the floor of the first sync) writes.
"""

from __future__ import annotations

import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.sql_data import COLUMNS, rows

__all__ = ["BenchDatabase", "Floor", "SqliteDatabase", "drain", "sorted_rows"]

Floor = tuple[float, str]
"""A floor's seconds and what it did (``one executemany``, ``COPY TO | COPY FROM`` …)."""


class BenchDatabase(ABC):
    """Where tables ``a``, ``b`` and ``b_floor`` live, and the plain-client work measured
    against syncline (see the module docstring). Methods raise the driver's errors."""

    kind: str
    """``sqlite``, ``postgresql`` or ``mariadb``."""
    driver: str
    """The module a plain client of this database imports (the start-up floor's import)."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key

    @abstractmethod
    def url(self, side: str) -> str:
        """The SQLAlchemy URL syncline reaches side ``a`` or ``b`` by."""

    @abstractmethod
    def create(self, records: int) -> None:
        """Create both sides, ``a`` with ``records`` rows, ``b`` and ``b_floor`` empty."""

    @abstractmethod
    def reset_b(self) -> None:
        """Make side ``b`` new and empty again (change capture included: run setup after)."""

    @abstractmethod
    def drop(self) -> None:
        """Remove everything :meth:`create` made; safe to call when it failed halfway."""

    @abstractmethod
    def copy_floor(self) -> Floor:
        """Copy every row of ``a`` into an emptied ``b_floor`` with a plain client."""

    @abstractmethod
    def read_floor(self) -> float:
        """Seconds to read every row of ``a`` and of ``b`` (key and columns) with a plain
        client."""

    @abstractmethod
    def keys_by_email(self, side: str) -> dict[str, Any]:
        """Each row's key by its e-mail address, on side ``a`` or ``b``."""

    @abstractmethod
    def set_phones(self, side: str, changes: list[tuple[Any, str]]) -> float:
        """Set ``phone`` of each (key, phone) on a side as its application would, in one
        transaction; returns the seconds it took."""

    @abstractmethod
    def contents(self, side: str) -> list[tuple[Any, ...]]:
        """Every row's :data:`COLUMNS` of a side, sorted."""

    def columns_sql(self) -> str:
        """``name, first_name, …``: the column list of every statement."""
        return ", ".join(COLUMNS)


class SqliteDatabase(BenchDatabase):
    """Both sides as SQLite files ``a.db`` and ``b.db`` in the work folder."""

    kind = "sqlite"
    driver = "sqlite3"

    def __init__(self, folder: Path, key: str) -> None:
        if key != "int":
            raise SystemExit("SQLite has no uuid type: use --key int")
        super().__init__(folder, key)

    def _path(self, side: str) -> Path:
        return self.folder / f"{side}.db"

    def url(self, side: str) -> str:
        return f"sqlite:///{self._path(side)}"

    def _table(self, db: sqlite3.Connection, table: str) -> None:
        columns = ", ".join(f"{column} TEXT" for column in COLUMNS)
        db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {columns})")

    def create(self, records: int) -> None:
        self.drop()
        db = sqlite3.connect(self._path("a"))
        self._table(db, "a")
        marks = ", ".join("?" for _ in COLUMNS)
        db.executemany(f"INSERT INTO a ({self.columns_sql()}) VALUES ({marks})",
                       rows(records))
        db.commit()
        db.close()
        self.reset_b()

    def reset_b(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self._path('b')}{suffix}").unlink(missing_ok=True)
        db = sqlite3.connect(self._path("b"))
        self._table(db, "b")
        self._table(db, "b_floor")
        db.commit()
        db.close()

    def drop(self) -> None:
        for side in ("a", "b"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self._path(side)}{suffix}").unlink(missing_ok=True)

    def copy_floor(self) -> Floor:
        target = sqlite3.connect(self._path("b"))
        target.execute("DELETE FROM b_floor")
        target.commit()
        marks = ", ".join("?" for _ in COLUMNS)
        started = time.perf_counter()
        source = sqlite3.connect(self._path("a"))
        target.executemany(f"INSERT INTO b_floor ({self.columns_sql()}) VALUES ({marks})",
                           source.execute(f"SELECT {self.columns_sql()} FROM a"))
        target.commit()
        seconds = time.perf_counter() - started
        source.close()
        target.close()
        return seconds, "one executemany"

    def read_floor(self) -> float:
        started = time.perf_counter()
        for side in ("a", "b"):
            db = sqlite3.connect(self._path(side))
            drain(db.execute(f"SELECT id, {self.columns_sql()} FROM {side}"))
            db.close()
        return time.perf_counter() - started

    def keys_by_email(self, side: str) -> dict[str, Any]:
        db = sqlite3.connect(self._path(side))
        found = dict(db.execute(f"SELECT email, id FROM {side}").fetchall())
        db.close()
        return found

    def set_phones(self, side: str, changes: list[tuple[Any, str]]) -> float:
        started = time.perf_counter()
        db = sqlite3.connect(self._path(side))
        db.executemany(f"UPDATE {side} SET phone = ? WHERE id = ?",
                       [(phone, key) for key, phone in changes])
        db.commit()
        db.close()
        return time.perf_counter() - started

    def contents(self, side: str) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self._path(side))
        found = sorted_rows(db.execute(f"SELECT {self.columns_sql()} FROM {side}"))
        db.close()
        return found


def sorted_rows(found: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """``found`` as tuples, sorted (NULL before any text)."""
    return sorted((tuple(row) for row in found),
                  key=lambda row: tuple(("", "") if value is None else ("1", str(value))
                                        for value in row))


def drain(items: Iterable[Any]) -> int:
    """Read ``items`` to the end, keeping nothing (what a floor of reading costs); how many
    there were."""
    return sum(1 for _ in items)
