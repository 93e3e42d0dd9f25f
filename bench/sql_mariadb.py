"""MariaDB (or MySQL) for the SQL benchmark: the server's private databases and the
plain-client work with PyMySQL (see ``bench.sql_servers`` for the terms).

The first sync's floor is the faster of two plain client copies, both measured in every
run: a streaming ``SELECT`` (unbuffered cursor) feeding multi-row ``INSERT … VALUES
(…),(…)`` statements sized to the server's ``max_allowed_packet``, and the same stream
written to a tab-separated file loaded by ``LOAD DATA LOCAL INFILE`` (when the server
allows it: ``local_infile``).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors
from sqlalchemy.engine import make_url

from bench.sql_data import COLUMNS, rows
from bench.sql_servers import BenchDatabase, Floor, drain, sorted_rows

__all__ = ["DEFAULT_SERVER", "MariadbDatabase"]

DEFAULT_SERVER = "mysql+pymysql://root@127.0.0.1:3306"
_FETCH = 10_000
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


class MariadbDatabase(BenchDatabase):
    """Sides ``a`` and ``b`` as two databases ``syncline_bench_<random>_a`` / ``_b`` of one
    MariaDB server (``server``: a SQLAlchemy URL without a database)."""

    kind = "mariadb"
    driver = "pymysql"

    def __init__(self, folder: Path, key: str, server: str) -> None:
        super().__init__(folder, key)
        self.server = make_url(server)
        self.prefix = f"syncline_bench_{uuid.uuid4().hex[:10]}"
        self.created: set[str] = set()

    def _name(self, side: str) -> str:
        return f"{self.prefix}_{side}"

    def _connect(self, side: str | None, *, streaming: bool = False) -> pymysql.Connection[Any]:
        return pymysql.connect(
            host=self.server.host or "127.0.0.1", port=self.server.port or 3306,
            user=self.server.username or "root", password=self.server.password or "",
            database=self._name(side) if side else None, charset="utf8mb4",
            local_infile=True, connect_timeout=10,
            cursorclass=pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor)

    def url(self, side: str) -> str:
        return self.server.set(database=self._name(side)).render_as_string(hide_password=False)

    def _table(self, db: pymysql.Connection[Any], table: str) -> None:
        key = ("id bigint AUTO_INCREMENT PRIMARY KEY" if self.key == "int"
               else "id uuid PRIMARY KEY DEFAULT uuid()")
        columns = ", ".join(f"{column} text" if column == "notes"
                            else f"{column} varchar(255)" for column in COLUMNS)
        with db.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {table} ({key}, {columns}) ENGINE=InnoDB "
                           f"DEFAULT CHARSET=utf8mb4")

    def _create_database(self, side: str) -> None:
        self._drop_database(side)
        with self._connect(None) as admin, admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {self._name(side)} CHARACTER SET utf8mb4")
        self.created.add(side)

    def _drop_database(self, side: str) -> None:
        if side not in self.created:
            return
        with self._connect(None) as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {self._name(side)}")
        self.created.discard(side)

    def _insert(self, db: pymysql.Connection[Any], table: str,
                values: Any) -> None:
        """Multi-row INSERTs of ``values`` into ``table``, each statement up to
        ``max_allowed_packet`` (PyMySQL's ``executemany`` packs the rows)."""
        with db.cursor() as cursor:
            cursor.execute("SELECT @@max_allowed_packet")
            (packet,) = cursor.fetchone() or (1 << 20,)
            cursor.max_stmt_length = int(packet) - 4096
            marks = ", ".join("%s" for _ in COLUMNS)
            statement = f"INSERT INTO {table} ({self.columns_sql()}) VALUES ({marks})"
            chunk: list[Any] = []
            for row in values:
                chunk.append(row)
                if len(chunk) == _FETCH:
                    cursor.executemany(statement, chunk)
                    chunk = []
            if chunk:
                cursor.executemany(statement, chunk)

    def create(self, records: int) -> None:
        self._create_database("a")
        with self._connect("a") as db:
            self._table(db, "a")
            self._insert(db, "a", rows(records))
            db.commit()
        self.reset_b()

    def reset_b(self) -> None:
        self._create_database("b")
        with self._connect("b") as db:
            self._table(db, "b")
            self._table(db, "b_floor")

    def drop(self) -> None:
        for side in ("a", "b"):
            self._drop_database(side)

    def _stream_a(self, source: pymysql.Connection[Any]) -> Any:
        with source.cursor() as cursor:
            cursor.execute(f"SELECT {self.columns_sql()} FROM a")
            while chunk := cursor.fetchmany(_FETCH):
                yield from chunk

    def _empty_floor_table(self) -> None:
        with self._connect("b") as db, db.cursor() as cursor:
            cursor.execute("TRUNCATE TABLE b_floor")

    def _insert_floor(self) -> float:
        self._empty_floor_table()
        started = time.perf_counter()
        with self._connect("a", streaming=True) as source, self._connect("b") as target:
            self._insert(target, "b_floor", self._stream_a(source))
            target.commit()
        return time.perf_counter() - started

    def _load_data_floor(self) -> float | None:
        with self._connect(None) as db, db.cursor() as cursor:
            cursor.execute("SELECT @@local_infile")
            allowed = cursor.fetchone()
        if not allowed or not int(allowed[0]):
            return None
        self._empty_floor_table()
        started = time.perf_counter()
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".tsv",
                                         dir=self.folder) as data:
            with self._connect("a", streaming=True) as source:
                for row in self._stream_a(source):
                    data.write("\t".join("\\N" if value is None else value.translate(_ESCAPES)
                                         for value in row))
                    data.write("\n")
            data.flush()
            with self._connect("b") as target, target.cursor() as cursor:
                cursor.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE b_floor "
                               f"CHARACTER SET utf8mb4 ({self.columns_sql()})", (data.name,))
                target.commit()
        return time.perf_counter() - started

    def copy_floor(self) -> Floor:
        inserts = self._insert_floor()
        loaded = self._load_data_floor()
        if loaded is not None and loaded < inserts:
            return loaded, "streaming SELECT | LOAD DATA LOCAL INFILE"
        return inserts, "streaming SELECT | multi-row INSERT"

    def read_floor(self) -> float:
        started = time.perf_counter()
        for side in ("a", "b"):
            with self._connect(side, streaming=True) as db, db.cursor() as cursor:
                cursor.execute(f"SELECT id, {self.columns_sql()} FROM {side}")
                drain(iter(lambda: cursor.fetchmany(_FETCH) or None, None))
        return time.perf_counter() - started

    def keys_by_email(self, side: str) -> dict[str, Any]:
        with self._connect(side) as db, db.cursor() as cursor:
            cursor.execute(f"SELECT email, id FROM {side}")
            return dict(cursor.fetchall())

    def set_phones(self, side: str, changes: list[tuple[Any, str]]) -> float:
        """One ``UPDATE … SET phone = CASE id WHEN … END WHERE id IN (…)`` per 1,000
        changes: plain updates (only the table's update triggers fire), few round-trips."""
        started = time.perf_counter()
        with self._connect(side) as db:
            with db.cursor() as cursor:
                for start in range(0, len(changes), 1000):
                    part = changes[start:start + 1000]
                    cases = " ".join("WHEN %s THEN %s" for _ in part)
                    keys = ", ".join("%s" for _ in part)
                    cursor.execute(f"UPDATE {side} SET phone = CASE id {cases} END "
                                   f"WHERE id IN ({keys})",
                                   [value for pair in part for value in pair]
                                   + [key for key, _ in part])
            db.commit()
        return time.perf_counter() - started

    def contents(self, side: str) -> list[tuple[Any, ...]]:
        with self._connect(side) as db, db.cursor() as cursor:
            cursor.execute(f"SELECT {self.columns_sql()} FROM {side}")
            return sorted_rows(cursor.fetchall())
