"""First pairings on real databases (issue 13, defects 2 and 3), on SQLite, PostgreSQL and
MariaDB: two tables with different schemas, customers on both sides matched by e-mail.

- Defect 2: a's phone and notes are empty where b's are filled; with ``conflict = "newest"``
  and no ``updated`` column, the first sync must not blank b's values (it fills in a's).
- Defect 3: the first write of a pair fails (a name too long for b's ``VARCHAR(10)``): the
  pairing is recorded all the same; once the name is fixed the next sync writes the pair and
  creates no second customer, and neither does a forced resync.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncline.config import Config, parse_config
from syncline.engine import RunMode, RunOutcome, RunRequest, RunSummary, SyncEngine
from syncline.engine.first_pair import is_unsettled
from syncline.engine.sync import open_endpoint
from syncline.model import Side
from syncline.service import ForceCriteria
from syncline.service.force import mark_for_force
from syncline.state.store import StateStore

LINK = "crm-books"


def _schema(url: str) -> None:
    """people (the CRM, side a) and customers (the books, side b): other names, other
    types, and a name column of ten characters on b."""
    metadata = sa.MetaData()
    sa.Table("people", metadata,
             sa.Column("person_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("full_name", sa.String(200)),
             sa.Column("email_address", sa.String(200)),
             sa.Column("phone", sa.String(50)),
             sa.Column("memo", sa.Text))
    sa.Table("customers", metadata,
             sa.Column("cust_no", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("name", sa.String(10)),
             sa.Column("email", sa.String(100)),
             sa.Column("tel", sa.String(30)),
             sa.Column("remarks", sa.String(500)),
             # SQLite does not enforce VARCHAR lengths; the others refuse a longer value
             sa.CheckConstraint("length(name) <= 10", name="name_fits"))
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO people (full_name, email_address, phone, memo) VALUES "
                "('Ann Ex', 'ann@example.com', NULL, NULL), "
                "('Carol Longname', 'carol@example.com', NULL, NULL), "
                "('Dan', 'dan@example.com', '+44 1', 'a memo')"))
            connection.execute(sa.text(
                "INSERT INTO customers (name, email, tel, remarks) VALUES "
                "('Ann', 'ANN@example.com', '+44 555', 'pays late'), "
                "(NULL, 'carol@example.com', '+44 777', 'VIP'), "
                "('Erin', 'erin@example.com', NULL, NULL)"))
    finally:
        engine.dispose()


def _config(url: str, folder: Path) -> Config:
    return parse_config({
        "state": {"url": f"sqlite:///{folder / 'state.db'}"},
        "endpoints": {
            "crm": {"connector": "sql", "url": url, "streams": {"contact": {
                "table": "people", "key": "person_id",
                "fields": {"name": "full_name", "email": "email_address", "phone": "phone",
                           "notes": "memo"}}}},
            "books": {"connector": "sql", "url": url, "streams": {"contact": {
                "table": "customers", "key": "cust_no",
                "fields": {"name": "name", "email": "email", "phone": "tel",
                           "notes": "remarks"}}}}},
        "links": {LINK: {"a": "crm", "b": "books", "streams": ["contact"],
                         "conflict": "newest", "match": {"contact": ["email"]}}},
    }, base_dir=folder)


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def shop(database_url: str, tmp_path: Path) -> Iterator[tuple[Config, StateStore, sa.Engine]]:
    _schema(database_url)
    config = _config(database_url, tmp_path)
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    engine = sa.create_engine(database_url)
    yield config, store, engine
    engine.dispose()
    store.close()


def _sync(config: Config, store: StateStore, mode: RunMode = RunMode.INCREMENTAL
          ) -> RunSummary:
    return SyncEngine(config, store).run(RunRequest(LINK, mode=mode))


def _rows(engine: sa.Engine, query: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(query))]


def _person(engine: sa.Engine, email: str) -> list[tuple[Any, ...]]:
    return _rows(engine, "SELECT full_name, phone, memo FROM people "
                         f"WHERE lower(email_address) = '{email}'")


def _customer(engine: sa.Engine, email: str) -> list[tuple[Any, ...]]:
    return _rows(engine, f"SELECT name, tel, remarks FROM customers WHERE lower(email) = "
                         f"'{email}'")


def test_first_sync_blanks_nothing(shop: tuple[Config, StateStore, sa.Engine]) -> None:
    """Defect 2: nothing filled becomes NULL; a's blanks are filled in from b; the
    differing name goes to a (no ``updated`` column: newest cannot be known, a wins)."""
    config, store, engine = shop
    first = _sync(config, store)
    assert first.outcome is RunOutcome.ERROR  # Carol's name does not fit b
    assert _customer(engine, "ann@example.com") == [("Ann Ex", "+44 555", "pays late")]
    assert _person(engine, "ann@example.com") == [("Ann Ex", "+44 555", "pays late")]
    assert _person(engine, "carol@example.com") == [("Carol Longname", "+44 777", "VIP")]
    assert _customer(engine, "carol@example.com") == [(None, "+44 777", "VIP")]
    assert _customer(engine, "dan@example.com") == [("Dan", "+44 1", "a memo")]
    assert _person(engine, "erin@example.com") == [("Erin", None, None)]
    messages = {row["message"] for row in store.journal(LINK, run_id=first.run_id,
                                                         outcome="ok", limit=None)}
    assert "matched by email; filled in on a: notes, phone; differing: email, name " \
           "(newest a wins)" in messages


def test_a_failed_first_write_keeps_the_pairing(
        shop: tuple[Config, StateStore, sa.Engine]) -> None:
    """Defect 3: the pairing whose write failed is recorded; once the value is fixed it is
    written, and neither that sync nor a forced resync creates a second customer."""
    config, store, engine = shop
    first = _sync(config, store)
    assert first.outcome is RunOutcome.ERROR
    scope = store.scope_id(LINK, "contact")
    (carol_a,) = _rows(engine, "SELECT person_id FROM people WHERE email_address = "
                               "'carol@example.com'")
    (carol_b,) = _rows(engine, "SELECT cust_no FROM customers WHERE email = "
                               "'carol@example.com'")
    mapping = store.mappings_for(scope, "a", [str(carol_a[0])])[str(carol_a[0])]
    assert mapping.b_key == str(carol_b[0]) and is_unsettled(mapping)
    errors = store.journal(LINK, run_id=first.run_id, outcome="error", limit=None)
    assert [(row["a_key"], row["b_key"]) for row in errors] == [(mapping.a_key,
                                                                  mapping.b_key)]

    again = _sync(config, store)  # not fixed yet: fails again, creates nothing
    assert again.outcome is RunOutcome.ERROR and again.streams["contact"].A == 0
    assert len(_customer(engine, "carol@example.com")) == 1

    with engine.begin() as connection:  # the user fixes the name
        connection.execute(sa.text("UPDATE people SET full_name = 'Carol L' "
                                   "WHERE email_address = 'carol@example.com'"))
    fixed = _sync(config, store)
    assert fixed.outcome is RunOutcome.OK, store.journal(LINK, run_id=fixed.run_id)
    assert fixed.streams["contact"].A == 0
    assert _customer(engine, "carol@example.com") == [("Carol L", "+44 777", "VIP")]
    assert _person(engine, "carol@example.com") == [("Carol L", "+44 777", "VIP")]
    assert not is_unsettled(store.mappings_for(scope, "a", [mapping.a_key])[mapping.a_key])
    assert store.pending_items(LINK) == []

    for side in (Side.A, Side.B):  # a forced resync from either side creates nothing either
        endpoint = config.link(LINK).a if side is Side.A else config.link(LINK).b
        connector = open_endpoint(config, endpoint)
        connector.open()
        try:
            mark_for_force(store, config, LINK, ForceCriteria(source=side),
                           connector=connector, side=side, requested_by="test",
                           log_path=None)
        finally:
            connector.close()
        forced = _sync(config, store, RunMode.FORCED)
        assert forced.outcome is RunOutcome.OK
        assert forced.streams["contact"].A == 0 and forced.streams["contact"].R > 0
    assert _rows(engine, "SELECT count(*) FROM people") == [(4,)]
    assert _rows(engine, "SELECT count(*) FROM customers") == [(4,)]
    assert _customer(engine, "carol@example.com") == [("Carol L", "+44 777", "VIP")]
    assert _customer(engine, "ann@example.com") == [("Ann Ex", "+44 555", "pays late")]
    quiet = _sync(config, store, RunMode.FULL)
    assert sum(quiet.streams["contact"].to_json().values()) == 0
