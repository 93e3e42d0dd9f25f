"""Helpers for CLI tests: a config over two memory endpoints (in-process, so used with
CliRunner), and a config over two SQLite databases (files in tmp_path, usable from
subprocesses too).

The SQLite pair is the issue's example configuration, as written: ``crm.db`` with a
``people`` table and ``books.db`` with a ``customers`` table whose ``CHECK`` constraint
rejects phone numbers starting with ``bad`` (how a test makes an item error).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from syncline.connectors.memory import MemoryStore, shared_store

ISSUE_EXAMPLE = """\
[state]
url = "sqlite:///syncline-state.db"        # or postgresql+psycopg://user@host/db

[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = { name = "full_name", email = "email_address", phone = "phone" }

[endpoints.books]
connector = "sql"
url = "sqlite:///books.db"
[endpoints.books.streams.contact]
table = "customers"
key = "cust_no"
fields = { name = "name", email = "email", phone = "tel" }

[links.crm-books]
a = "crm"
b = "books"
streams = ["contact"]
direction = "both"        # both | a-to-b | b-to-a
conflict = "newest"       # a-wins | b-wins | newest | merge | manual
match = { contact = ["email"] }
max_delete = "25%"
"""

@dataclass
class MemoryPair:
    """Two memory endpoints ``left`` (side a) and ``right`` (side b) linked as ``lr``."""

    config: Path
    a: MemoryStore
    b: MemoryStore

    def args(self, *more: str) -> list[str]:
        """``more`` with ``--config`` added, for ``runner.invoke``."""
        return [*more, "--config", str(self.config)]


def memory_config(tmp_path: Path, *, conflict: str = "newest", max_delete: str = "50%",
                  extra: str = "") -> MemoryPair:
    """Write a config linking two fresh memory stores (unique names per call)."""
    unique = uuid.uuid4().hex
    a_name, b_name = f"cli-a-{unique}", f"cli-b-{unique}"
    path = tmp_path / "syncline.toml"
    path.write_text(f"""\
[state]
url = "sqlite:///state.db"

[endpoints.left]
connector = "memory"
name = "{a_name}"
[endpoints.left.streams.contact]
fields = ["name", "email", "phone"]

[endpoints.right]
connector = "memory"
name = "{b_name}"
[endpoints.right.streams.contact]
fields = ["name", "email", "phone"]

[links.lr]
a = "left"
b = "right"
streams = ["contact"]
conflict = "{conflict}"
match = {{ contact = ["email"] }}
max_delete = "{max_delete}"
{extra}""", encoding="utf-8")
    return MemoryPair(path, shared_store(a_name), shared_store(b_name))


@dataclass
class SqlPair:
    """The issue's example configuration over two SQLite files in ``folder``."""

    folder: Path
    config: Path

    @property
    def crm(self) -> Path:
        return self.folder / "crm.db"

    @property
    def books(self) -> Path:
        return self.folder / "books.db"

    def rows(self, database: Path, query: str) -> list[tuple[object, ...]]:
        db = sqlite3.connect(database)
        try:
            return [tuple(row) for row in db.execute(query)]
        finally:
            db.close()

    def dump(self, database: Path) -> list[str]:
        """The database's whole content (schema, triggers, rows) as SQL text."""
        db = sqlite3.connect(database)
        try:
            return list(db.iterdump())
        finally:
            db.close()

    def execute(self, database: Path, statement: str, *args: object) -> None:
        db = sqlite3.connect(database)
        try:
            db.execute(statement, args)
            db.commit()
        finally:
            db.close()

    def people(self) -> list[tuple[object, ...]]:
        return self.rows(self.crm, "SELECT full_name, email_address, phone FROM people "
                                   "ORDER BY email_address")

    def customers(self) -> list[tuple[object, ...]]:
        return self.rows(self.books, "SELECT name, email, tel FROM customers ORDER BY email")


def make_memory(tmp_path: Path) -> MemoryPair:
    """A memory pair whose side a holds three contacts, side b none."""
    pair = memory_config(tmp_path)
    for number in (1, 2, 3):
        pair.a.put("contact", f"k{number}", {"name": f"Person {number}",
                                            "email": f"p{number}@example.com",
                                            "phone": f"+44 20 7946 000{number}"})
    return pair


def make_sql(tmp_path: Path) -> SqlPair:
    """The issue's example: crm.db holds three people, books.db one customer (the same
    person as one of them, matched by e-mail)."""
    folder = tmp_path / "sql"
    folder.mkdir()
    pair = SqlPair(folder, folder / "syncline.toml")
    pair.config.write_text(ISSUE_EXAMPLE, encoding="utf-8")
    db = sqlite3.connect(pair.crm)
    db.executescript("""
        CREATE TABLE people (person_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL,
                             email_address TEXT, phone TEXT);
        INSERT INTO people (full_name, email_address, phone) VALUES
            ('Ada Lovelace', 'ada@example.com', '+44 20 7946 0001'),
            ('Alan Turing', 'alan@example.com', '+44 20 7946 0002'),
            ('Grace Hopper', 'grace@example.com', '+1 202 555 0103');
    """)
    db.commit()
    db.close()
    db = sqlite3.connect(pair.books)
    db.executescript("""
        CREATE TABLE customers (cust_no INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT,
                                tel TEXT CHECK (tel IS NULL OR tel NOT LIKE 'bad%'));
        INSERT INTO customers (name, email, tel) VALUES
            ('Ada Lovelace', 'ada@example.com', '+44 20 7946 0001');
    """)
    db.commit()
    db.close()
    return pair


class PipeLines:
    """Collects a child process's pipe, line by line, in a thread, so that the child never
    blocks on a full pipe."""

    def __init__(self, stream: object, timeout: float = 60.0) -> None:
        self.lines: list[str] = []
        self.timeout = timeout
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def join(self) -> None:
        """Wait (at most ``timeout`` seconds) for the pipe to close."""
        self._thread.join(self.timeout)
