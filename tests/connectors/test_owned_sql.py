"""Owned fields between two SQL endpoints (SQLite, PostgreSQL, MariaDB): the CRM (side a)
owns a contact's ``email``, the books (side b) own their ``notes``. Each endpoint is a table
of its own in one database.

A field is never written to its owner from the other side; the owner's value is put back
where the other side changed it; a create leaves the target's owned fields out (its column
default applies) and that value then flows to the other side.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncline.config import Config, load_config
from syncline.engine import RunOutcome, RunRequest, SyncEngine
from syncline.engine.sync import open_endpoint
from syncline.state.store import StateStore

CONFIG = """\
[state]
url = "sqlite:///state.db"

[endpoints.crm]
connector = "sql"
url = "{url}"
[endpoints.crm.streams.contact]
table = "crm_people"
key = "person_id"
fields = {{ name = "full_name", email = "email", phone = "phone", notes = "remarks" }}

[endpoints.books]
connector = "sql"
url = "{url}"
[endpoints.books.streams.contact]
table = "book_customers"
key = "customer_id"
fields = {{ name = "customer_name", email = "email", phone = "phone", notes = "notes" }}

[links.crm-books]
a = "crm"
b = "books"
streams = ["contact"]
match = {{ contact = ["name"] }}
conflict = "{conflict}"

[links.crm-books.owners.contact]
a = ["email"]
b = ["notes"]
"""


def _schema(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    sa.Table("crm_people", meta,
             sa.Column("person_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("full_name", sa.String(100), nullable=False),
             sa.Column("email", sa.String(100)), sa.Column("phone", sa.String(40)),
             sa.Column("remarks", sa.String(200)))
    sa.Table("book_customers", meta,
             sa.Column("customer_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("customer_name", sa.String(100), nullable=False),
             sa.Column("email", sa.String(100)), sa.Column("phone", sa.String(40)),
             sa.Column("notes", sa.String(200), server_default="new customer"))
    meta.create_all(engine)
    return engine


@dataclass
class Books:
    config: Config
    store: StateStore
    db: sa.Engine

    def sql(self, statement: str, **values: Any) -> None:
        with self.db.begin() as conn:
            conn.execute(sa.text(statement), values)

    def rows(self, table: str) -> dict[str, tuple[Any, ...]]:
        name_column = "full_name" if table == "crm_people" else "customer_name"
        notes = "remarks" if table == "crm_people" else "notes"
        with self.db.connect() as conn:
            found = conn.execute(sa.text(f"SELECT {name_column}, email, phone, {notes} "
                                         f"FROM {table}")).all()
        return {str(row[0]): tuple(row[1:]) for row in found}

    def sync(self) -> Any:
        summary = SyncEngine(self.config, self.store).run(RunRequest("crm-books"))
        assert summary.outcome is RunOutcome.OK, summary.messages
        return summary


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def books(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Books]:
    url = f"sqlite:///{tmp_path / 'company.db'}" if request.param == "sqlite" \
        else str(request.getfixturevalue(f"{request.param}_url"))
    db = _schema(url)
    (tmp_path / "syncline.toml").write_text(CONFIG.format(url=url, conflict="newest"))
    config = load_config(tmp_path / "syncline.toml")
    for name in ("crm", "books"):
        endpoint = open_endpoint(config, name)
        endpoint.open()
        endpoint.setup(["contact"])
        endpoint.close()
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield Books(config, store, db)
    store.close()
    db.dispose()


def test_owned_fields_between_two_databases(books: Books) -> None:
    books.sql("INSERT INTO crm_people (full_name, email, phone, remarks) VALUES "
              "('Ann', 'ann@example.com', '1', 'crm remark')")
    books.sql("INSERT INTO book_customers (customer_name, email, phone, notes) VALUES "
              "('Cy', 'cy@example.com', '3', 'pays late')")
    books.sync()
    # Ann reached the books without the CRM's remark (the books own notes: their default
    # applies and flows back); Cy reached the CRM without an email (the CRM owns it: its
    # empty value flows back)
    expected = {"Ann": ("ann@example.com", "1", "new customer"),
                "Cy": (None, "3", "pays late")}
    assert books.rows("crm_people") == expected
    assert books.rows("book_customers") == expected
    # the books change Ann's email (not theirs) and notes (theirs) and phone (shared)
    books.sql("UPDATE book_customers SET email = 'wrong@example.com', notes = 'vip', "
              "phone = '2' WHERE customer_name = 'Ann'")
    books.sync()
    expected["Ann"] = ("ann@example.com", "2", "vip")
    assert books.rows("crm_people") == expected
    assert books.rows("book_customers") == expected
    # the CRM changes Cy's notes (not its own) and email (its own)
    books.sql("UPDATE crm_people SET remarks = 'crm says hi', email = 'cy@new.example' "
              "WHERE full_name = 'Cy'")
    books.sync()
    expected["Cy"] = ("cy@new.example", "3", "pays late")
    assert books.rows("crm_people") == expected
    assert books.rows("book_customers") == expected
    quiet = books.sync()
    assert sum(c.A + c.M + c.D + c.R for c in quiet.streams.values()) == 0
