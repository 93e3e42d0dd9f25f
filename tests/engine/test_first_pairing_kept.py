"""First pairings that leave the two sides different on purpose, on SQLite, PostgreSQL and
MariaDB (issue 13 follow-up): nothing a side holds is lost, then or later.

- Defect A: an owned field whose owner has no value does not blank the other side's value at
  the first pairing (nor at a later change), and the journal names only what was written.
- Defect B: on a one-way link the target keeps the values the source lacks; a later change
  on the source writes only what changed there, not the whole record over kept values.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncline.config import parse_config
from syncline.engine import RunOutcome, RunRequest, RunSummary, SyncEngine
from syncline.state.store import StateStore

LINK = "l"


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'both.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


def _tables(url: str, a_row: tuple[Any, ...], b_row: tuple[Any, ...]) -> None:
    """Tables ``ca`` (side a) and ``cb`` (side b), one contact each: name, email, phone,
    memo."""
    metadata = sa.MetaData()
    for table in ("ca", "cb"):
        sa.Table(table, metadata,
                 sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                 sa.Column("name", sa.String(100)), sa.Column("email", sa.String(100)),
                 sa.Column("phone", sa.String(30)), sa.Column("memo", sa.String(200)))
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            for table, row in (("ca", a_row), ("cb", b_row)):
                connection.execute(sa.text(
                    f"INSERT INTO {table} (name, email, phone, memo) "
                    "VALUES (:name, :email, :phone, :memo)"),
                    dict(zip(("name", "email", "phone", "memo"), row, strict=True)))
    finally:
        engine.dispose()


def _engine(url: str, folder: Path, store: StateStore, **link: Any) -> SyncEngine:
    fields = {"name": "name", "email": "email", "phone": "phone", "notes": "memo"}
    config = parse_config({
        "state": {"url": f"sqlite:///{folder / 'state.db'}"},
        "endpoints": {
            side: {"connector": "sql", "url": url, "streams": {"contact": {
                "table": table, "key": "id", "fields": fields}}}
            for side, table in (("a", "ca"), ("b", "cb"))},
        "links": {LINK: {"a": "a", "b": "b", "streams": ["contact"], "conflict": "newest",
                         "match": {"contact": ["email"]}, **link}},
    }, base_dir=folder)
    return SyncEngine(config, store)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    found = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield found
    found.close()


def _sync(engine: SyncEngine) -> RunSummary:
    summary = engine.run(RunRequest(LINK))
    assert summary.outcome is RunOutcome.OK, summary.messages
    return summary


def _row(url: str, table: str) -> tuple[Any, ...]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = [tuple(row) for row in connection.execute(sa.text(
                f"SELECT name, email, phone, memo FROM {table}"))]
    finally:
        engine.dispose()
    assert len(rows) == 1
    return rows[0]


def _execute(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(statement))
    finally:
        engine.dispose()


def _messages(store: StateStore, summary: RunSummary) -> list[str]:
    return [str(row["message"]) for row in store.journal(LINK, run_id=summary.run_id,
                                                          limit=None)]


def test_an_empty_owned_value_blanks_nothing_at_the_first_pairing(
        database_url: str, tmp_path: Path, store: StateStore) -> None:
    """Defect A: b owns notes and has none, a owns phone and has none: a keeps its memo, b
    keeps its phone; the journal claims no fill-in that did not happen; later changes keep
    both, and the owner's value flows once it has one."""
    _tables(database_url, ("Ann", "ann@x", None, "memo a"), ("Ann", "ann@x", "9", None))
    engine = _engine(database_url, tmp_path, store,
                     owners={"contact": {"a": ["phone"], "b": ["notes"]}})
    first = _sync(engine)
    assert _row(database_url, "ca") == ("Ann", "ann@x", None, "memo a")
    assert _row(database_url, "cb") == ("Ann", "ann@x", "9", None)
    messages = _messages(store, first)
    assert not any("filled in" in message for message in messages), messages
    assert sum(_sync(engine).streams["contact"].to_json().values()) == 0  # quiet

    _execute(database_url, "UPDATE ca SET name = 'Ann Smith'")
    assert "changed on a: name" in _messages(store, _sync(engine))
    assert _row(database_url, "ca") == ("Ann Smith", "ann@x", None, "memo a")
    assert _row(database_url, "cb") == ("Ann Smith", "ann@x", "9", None)
    assert sum(_sync(engine).streams["contact"].to_json().values()) == 0

    _execute(database_url, "UPDATE cb SET memo = 'memo b'")
    _sync(engine)
    assert _row(database_url, "ca") == ("Ann Smith", "ann@x", None, "memo b")
    assert _row(database_url, "cb") == ("Ann Smith", "ann@x", "9", "memo b")
    assert sum(_sync(engine).streams["contact"].to_json().values()) == 0

    _execute(database_url, "UPDATE ca SET memo = 'not a', email = 'ann@y'")  # b owns memo
    _sync(engine)
    assert _row(database_url, "ca") == ("Ann Smith", "ann@y", None, "memo b")
    assert _row(database_url, "cb") == ("Ann Smith", "ann@y", "9", "memo b")
    assert sum(_sync(engine).streams["contact"].to_json().values()) == 0


def test_only_the_owned_field_of_one_side(database_url: str, tmp_path: Path,
                                          store: StateStore) -> None:
    """Defect A as reported: only b's notes owned; a's phone is filled in from b."""
    _tables(database_url, ("Ann", "ann@x", None, "memo a"), ("Ann", "ann@x", "9", None))
    engine = _engine(database_url, tmp_path, store,
                     owners={"contact": {"b": ["notes"]}})
    first = _sync(engine)
    assert _row(database_url, "ca") == ("Ann", "ann@x", "9", "memo a")
    assert _row(database_url, "cb") == ("Ann", "ann@x", "9", None)
    assert "matched by email; filled in on a: phone; left as they are: notes (owned by b, " \
           "empty there)" in _messages(store, first)
    assert sum(_sync(engine).streams["contact"].to_json().values()) == 0


def test_a_one_way_target_keeps_its_values_after_a_later_change(
        database_url: str, tmp_path: Path, store: StateStore) -> None:
    """Defect B: the memo b kept at the first sync survives a later change of the name on a;
    a memo a then gives, or a phone a clears, is written all the same."""
    _tables(database_url, ("Bob", "bob@x", "1", None), ("Bob", "bob@x", "2", "memo b"))
    engine = _engine(database_url, tmp_path, store, direction="a-to-b")
    _sync(engine)
    assert _row(database_url, "ca") == ("Bob", "bob@x", "1", None)
    assert _row(database_url, "cb") == ("Bob", "bob@x", "1", "memo b")
    assert sum(_sync(engine).streams["contact"].to_json().values()) == 0

    _execute(database_url, "UPDATE ca SET name = 'Bob Smith'")
    summary = _sync(engine)
    assert _row(database_url, "cb") == ("Bob Smith", "bob@x", "1", "memo b")
    assert "changed on a: name" in _messages(store, summary)
    assert sum(_sync(engine).streams["contact"].to_json().values()) == 0

    _execute(database_url, "UPDATE ca SET phone = NULL")
    _sync(engine)
    assert _row(database_url, "cb") == ("Bob Smith", "bob@x", None, "memo b")
    _execute(database_url, "UPDATE ca SET memo = 'memo a'")
    _sync(engine)
    assert _row(database_url, "cb") == ("Bob Smith", "bob@x", None, "memo a")
    assert _row(database_url, "ca") == ("Bob Smith", "bob@x", None, "memo a")
    assert sum(_sync(engine).streams["contact"].to_json().values()) == 0


def test_a_one_way_target_edit_is_reverted_where_the_source_has_values(
        database_url: str, tmp_path: Path, store: StateStore) -> None:
    """A change on the target of a diverged pair is reverted field by field: the fields the
    source has values for get them back, the memo only the target has stays as edited."""
    _tables(database_url, ("Bob", "bob@x", "1", None), ("Bob", "bob@x", "2", "memo b"))
    engine = _engine(database_url, tmp_path, store, direction="a-to-b")
    _sync(engine)
    _execute(database_url, "UPDATE cb SET name = 'Robert', memo = 'memo c'")
    _sync(engine)
    assert _row(database_url, "cb") == ("Bob", "bob@x", "1", "memo c")
    assert _row(database_url, "ca") == ("Bob", "bob@x", "1", None)
    assert sum(_sync(engine).streams["contact"].to_json().values()) == 0
    _execute(database_url, "UPDATE ca SET phone = '3'")
    _sync(engine)
    assert _row(database_url, "cb") == ("Bob", "bob@x", "3", "memo c")


def test_a_one_way_pair_changed_on_both_sides_keeps_the_targets_own_values(
        database_url: str, tmp_path: Path, store: StateStore) -> None:
    """Both sides of a diverged one-way pair changed: the source's values win, the memo
    only the target has stays."""
    _tables(database_url, ("Bob", "bob@x", "1", None), ("Bob", "bob@x", "2", "memo b"))
    engine = _engine(database_url, tmp_path, store, direction="a-to-b")
    _sync(engine)
    _execute(database_url, "UPDATE cb SET phone = '7'")
    _execute(database_url, "UPDATE ca SET name = 'Bob Smith'")
    _sync(engine)
    assert _row(database_url, "cb") == ("Bob Smith", "bob@x", "1", "memo b")
    assert _row(database_url, "ca") == ("Bob Smith", "bob@x", "1", None)
    assert sum(_sync(engine).streams["contact"].to_json().values()) == 0
