"""A first sync through columnar pages (:class:`~syncline.engine.bulk_plan.ColumnChanges`):
two real SQLite databases, the sql connector handing over plain pages column by column.

What must hold: the other side ends up with exactly the source's records, the mappings'
hashes are the ones the record path computes (a full re-sync finds nothing to do), a value
that is not text (a number in a text column) is converted a column at a time, a page with a
value that cannot be read and records that pair by natural key take the record path within
the same run, and nothing is created twice."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import syncline.engine.stream as stream_module
from syncline.config import load_config
from syncline.engine import SyncEngine
from syncline.engine.options import RunMode, RunRequest
from syncline.model import field_token
from syncline.state import StateStore

CONFIG = """\
[state]
url = "sqlite:///state.db"

[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"
page_size = 40
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = {{ name = "full_name", email = "email_address", phone = "phone" }}

[endpoints.books]
connector = "sql"
url = "sqlite:///books.db"
[endpoints.books.streams.contact]
table = "customers"
key = "cust_no"
fields = {{ name = "name", email = "email", phone = "tel" }}

[links.crm-books]
a = "crm"
b = "books"
streams = ["contact"]
direction = "{direction}"
conflict = "{conflict}"
match = {{ contact = ["email"] }}
batch_size = 60
"""

PEOPLE = 230


def _build(folder: Path, customers: list[tuple[str, str, str]], direction: str = "both",
           conflict: str = "newest") -> None:
    crm = sqlite3.connect(folder / "crm.db")
    crm.execute("CREATE TABLE people (person_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL,"
                " email_address TEXT, phone)")  # no type: a number stays a number
    rows: list[tuple[Any, ...]] = [
        (number, f"Person {number}", f"p{number}@example.com" if number % 7 else None,
         f"+44 20 7946 {number:04d}") for number in range(1, PEOPLE + 1)]
    rows[100] = (101, "Person 101", "p101@example.com", 447946000101)  # not plain: a number
    rows[150] = (151, "Person 151", "", "+44 20 7946 0151")  # empty text counts as None
    crm.executemany("INSERT INTO people VALUES (?, ?, ?, ?)", rows)
    crm.commit()
    crm.close()
    books = sqlite3.connect(folder / "books.db")
    books.execute("CREATE TABLE customers (cust_no INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                  " email TEXT, tel TEXT)")
    books.executemany("INSERT INTO customers (name, email, tel) VALUES (?, ?, ?)", customers)
    books.commit()
    books.close()
    (folder / "syncline.toml").write_text(CONFIG.format(direction=direction, conflict=conflict))


def _sync(folder: Path, mode: RunMode = RunMode.INCREMENTAL,
          dry_run: bool = False) -> dict[str, Any]:
    config = load_config(folder / "syncline.toml")
    store = StateStore.open(config.resolve_url(config.state.url))
    try:
        return SyncEngine(config, store).run(
            RunRequest("crm-books", mode=mode, dry_run=dry_run)).to_json()
    finally:
        store.close()


def _table(path: Path, query: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


@pytest.fixture
def column_pages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the columnar pages the engine planned as creates (proof the lane ran)."""
    planned: list[int] = []
    original = stream_module.plan_column_creates

    def counting(*args: Any) -> Any:
        batch = original(*args)
        if batch is not None:
            planned.append(len(batch))
        return batch

    monkeypatch.setattr(stream_module, "plan_column_creates", counting)
    return planned


def test_first_sync_into_an_empty_table_goes_column_by_column(
        tmp_path: Path, column_pages: list[int]) -> None:
    _build(tmp_path, [])
    summary = _sync(tmp_path)
    assert summary["streams"]["contact"]["A"] == PEOPLE
    assert summary["outcome"] == "ok"
    assert sum(column_pages) == PEOPLE  # the page holding a number too: converted as a column
    expected = {(f"Person {n}", f"p{n}@example.com" if n % 7 else None,
                 f"+44 20 7946 {n:04d}") for n in range(1, PEOPLE + 1) if n not in (101, 151)}
    expected |= {("Person 101", "p101@example.com", "447946000101"),
                 ("Person 151", "", "+44 20 7946 0151")}  # written as it is
    books = _table(tmp_path / "books.db", "SELECT name, email, tel FROM customers")
    assert len(books) == PEOPLE and set(books) == expected
    assert _table(tmp_path / "state.db", "SELECT count(*) FROM mappings") == [(PEOPLE,)]
    journal = _table(tmp_path / "state.db", "SELECT action, outcome, count(*) FROM journal "
                                            "GROUP BY action, outcome")
    assert journal == [("A", "ok", PEOPLE)]
    # the stored hashes and versions are what the record path computes: nothing to do
    for mode in (RunMode.FULL, RunMode.INCREMENTAL):
        again = _sync(tmp_path, mode)["streams"]["contact"]
        assert (again["A"], again["M"], again["D"], again["errors"]) == (0, 0, 0, 0), mode


def test_a_page_with_a_value_that_cannot_be_read_takes_the_record_path(
        tmp_path: Path, column_pages: list[int]) -> None:
    _build(tmp_path, [])
    crm = sqlite3.connect(tmp_path / "crm.db")  # not UTF-8: this one row cannot be read
    crm.execute("UPDATE people SET full_name = CAST(X'4164FF61' AS TEXT) "
                "WHERE person_id = 101")
    crm.commit()
    crm.close()
    summary = _sync(tmp_path)["streams"]["contact"]
    assert sum(column_pages) == PEOPLE - 40  # the page of row 101 (rows 81-120): records
    assert summary["A"] == PEOPLE - 1 and summary["errors"] == 1
    names = _table(tmp_path / "books.db", "SELECT name FROM customers")
    assert len(names) == PEOPLE - 1 and ("Person 100",) in names and ("Person 102",) in names


def test_pages_with_partners_pair_by_natural_key(tmp_path: Path,
                                                 column_pages: list[int]) -> None:
    customers = [("Person 3 (books)", "P3@example.com ", "0"), ("Other", "o@example.com", "1"),
                 ("Person 199", "p199@example.com", "+44 20 7946 0199")]
    _build(tmp_path, customers)
    summary = _sync(tmp_path)["streams"]["contact"]
    # the two records with a partner pair; the rest of their pages stays columnar
    assert sum(column_pages) == PEOPLE - 2
    assert summary["A"] == PEOPLE - 2 + 1 and summary["errors"] == 0
    books = _table(tmp_path / "books.db", "SELECT email FROM customers")
    assert len(books) == PEOPLE + 1  # two matched, not duplicated; "Other" went to crm
    people = _table(tmp_path / "crm.db", "SELECT count(*) FROM people")
    assert people == [(PEOPLE + 1,)]
    again = _sync(tmp_path, RunMode.FULL)["streams"]["contact"]
    assert (again["A"], again["D"], again["errors"]) == (0, 0, 0)


def test_a_one_way_link_the_other_way_builds_nothing_column_by_column(
        tmp_path: Path, column_pages: list[int]) -> None:
    _build(tmp_path, [], direction="b-to-a")
    summary = _sync(tmp_path)["streams"]["contact"]
    assert column_pages == [] and summary["A"] == 0
    assert _table(tmp_path / "books.db", "SELECT count(*) FROM customers") == [(0,)]


def test_a_dry_run_counts_the_columnar_creates_and_writes_nothing(
        tmp_path: Path, column_pages: list[int]) -> None:
    _build(tmp_path, [])
    summary = _sync(tmp_path, dry_run=True)["streams"]["contact"]
    assert summary["A"] == PEOPLE and sum(column_pages) == PEOPLE
    assert _table(tmp_path / "books.db", "SELECT count(*) FROM customers") == [(0,)]
    assert _table(tmp_path / "state.db", "SELECT count(*) FROM mappings") == [(0,)]


def test_the_merge_policy_keeps_the_snapshot_of_columnar_creates(
        tmp_path: Path, column_pages: list[int]) -> None:
    _build(tmp_path, [], conflict="merge")
    assert _sync(tmp_path)["streams"]["contact"]["A"] == PEOPLE and column_pages
    stored = dict(_table(tmp_path / "state.db", "SELECT a_key, snapshot FROM mappings"))
    assert json.loads(stored["7"]) == {"email": field_token(None), "name": field_token(
        "Person 7"), "phone": field_token("+44 20 7946 0007")}
    # the snapshot is the merge base: edits of different fields on both sides both survive
    crm = sqlite3.connect(tmp_path / "crm.db")
    crm.execute("UPDATE people SET full_name = 'Person Eight' WHERE person_id = 8")
    crm.commit()
    crm.close()
    books = sqlite3.connect(tmp_path / "books.db")
    books.execute("UPDATE customers SET tel = '+44 161 000 0008' WHERE email = 'p8@example.com'")
    books.commit()
    books.close()
    again = _sync(tmp_path)["streams"]["contact"]
    assert again["conflicts"] == 1 and again["errors"] == 0  # resolved by merging
    for database, query in (("crm.db", "SELECT full_name, phone FROM people "
                                        "WHERE person_id = 8"),
                            ("books.db", "SELECT name, tel FROM customers "
                                         "WHERE email = 'p8@example.com'")):
        assert _table(tmp_path / database, query) == [("Person Eight", "+44 161 000 0008")]


def test_pairing_is_one_to_one_and_in_page_order(tmp_path: Path,
                                                 column_pages: list[int]) -> None:
    _build(tmp_path, [("Dup", "DUP@example.com", "9"), ("Person 60", "p60@example.com", "")])
    crm = sqlite3.connect(tmp_path / "crm.db")
    crm.execute("UPDATE people SET email_address = 'dup@example.com' "
                "WHERE person_id IN (10, 50)")
    crm.commit()
    crm.close()
    summary = _sync(tmp_path)["streams"]["contact"]
    assert summary["errors"] == 0 and sum(column_pages) == PEOPLE - 2
    pairs = dict(_table(tmp_path / "state.db", "SELECT a_key, b_key FROM mappings"))
    assert len(pairs) == PEOPLE and pairs["10"] == "1" and pairs["60"] == "2"
    assert int(pairs["50"]) > 2  # the second 'dup' found its partner taken: created
    again = _sync(tmp_path, RunMode.FULL)["streams"]["contact"]
    assert (again["A"], again["D"], again["errors"]) == (0, 0, 0)


def test_many_pairs_are_planned_in_batches_between_the_bulk_creates(
        tmp_path: Path, column_pages: list[int]) -> None:
    # every second person already in the books (phone differs): 115 pairs, batch_size 60
    _build(tmp_path, [(f"Person {n}", f"p{n}@example.com", "0") for n in range(2, 231, 2)
                      if n % 7])
    summary = _sync(tmp_path)["streams"]["contact"]
    paired = {n for n in range(2, 231, 2) if n % 7}
    lone_in_columns = [n for n in range(1, PEOPLE + 1) if n not in paired]
    assert summary["errors"] == 0 and summary["conflicts"] == len(paired)
    assert summary["A"] == PEOPLE - len(paired)
    assert sum(column_pages) == len(lone_in_columns)
    assert _table(tmp_path / "books.db", "SELECT count(*) FROM customers") == [(PEOPLE,)]
    assert _table(tmp_path / "state.db", "SELECT count(*) FROM mappings") == [(PEOPLE,)]
    again = _sync(tmp_path, RunMode.FULL)["streams"]["contact"]
    assert (again["A"], again["M"], again["D"], again["errors"]) == (0, 0, 0, 0)
