"""The ``sql`` connector on SQLite: the contract, the shared SQL tests, the settings checks
(which need no database) and what is particular to SQLite."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from connectors.sql_cases import SqlBehaviour, SqlContactContract, SqlItemContract
from connectors.sql_key_cases import SqlKeys
from connectors.sql_support import (
    ALL_STREAMS,
    build_schema,
    contact_fields,
    open_connector,
    sql_settings,
)
from syncline.connectors import connector_class
from syncline.connectors.base import Capability, ReadScope, WriteBatch, WriteKind, WriteOperation
from syncline.connectors.sql import SqlConnector
from syncline.connectors.sql.position import GAP_TIMEOUT_SECONDS, Gap, Position, advance
from syncline.errors import ConfigError, EndpointUnavailable, MalformedRecord


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'crm.db'}"


class TestSqliteContact(SqlContactContract):
    pass


class TestSqliteItem(SqlItemContract):
    pass


class TestSqliteBehaviour(SqlBehaviour):
    pass


# -- settings --------------------------------------------------------------------------------
def _check(settings: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        SqlConnector.validate_settings("crm", settings)
    return caught.value


def test_the_documented_settings_are_valid() -> None:
    import tomllib

    document = tomllib.loads("""
[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = { name = "full_name", email = "email_address", phone = "phone" }
updated = "modified_at"
[endpoints.crm.streams.invoice]
table = "invoices"
key = "invoice_id"
fields = { number = "invoice_no", contact = "customer_id", date = "invoice_date", total = "total" }
lines = { table = "invoice_lines", key = "line_id", parent = "invoice_id", order = "line_no", fields = { description = "description", item = "product_id", quantity = "qty", unit_price = "price", line_amount = "amount" } }
""")  # noqa: E501 - the TOML is quoted as users write it
    settings = dict(document["endpoints"]["crm"])
    assert connector_class(settings.pop("connector")) is SqlConnector
    SqlConnector.validate_settings("crm", settings)
    connector = SqlConnector("crm", settings, Path("."))
    assert connector.field_names("invoice") == {"number", "contact", "date", "total", "lines"}
    assert connector.streams() == {"contact": Capability.READ | Capability.CREATE
                                   | Capability.UPDATE | Capability.DELETE
                                   | Capability.DETECT_DELETES,
                                   "invoice": connector.streams()["contact"]}


def test_a_misspelt_field_is_named_with_a_suggestion() -> None:
    settings = sql_settings("sqlite:///crm.db")
    settings["streams"]["contact"]["fields"]["emial"] = "email2"
    error = _check(settings)
    assert error.key == "endpoints.crm.streams.contact.fields.emial"
    assert "did you mean 'email'" in str(error)


def test_settings_errors_name_their_key() -> None:
    cases: list[tuple[str, Any, str, str]] = [
        ("url", None, "endpoints.crm.url", "required"),
        ("url", "nosuchdb://x", "endpoints.crm.url", "not supported"),
        ("url", "not a url", "endpoints.crm.url", "not a database URL"),
        ("page_size", 0, "endpoints.crm.page_size", "whole number"),
        ("streams", {}, "endpoints.crm.streams", "at least one"),
        ("stream_s", {}, "endpoints.crm.stream_s", "did you mean 'streams'"),
    ]
    for name, value, key, text in cases:
        settings = sql_settings("sqlite:///crm.db")
        if value is None:
            del settings[name]
        else:
            settings[name] = value
        error = _check(settings)
        assert (error.key, text in str(error)) == (key, True), str(error)


def test_stream_settings_errors_name_their_key() -> None:
    def broken(stream: str, change: dict[str, Any], drop: str = "") -> ConfigError:
        settings = sql_settings("sqlite:///crm.db")
        settings["streams"][stream].update(change)
        if drop:
            del settings["streams"][stream][drop]
        return _check(settings)

    error = broken("contact", {}, drop="table")
    assert error.key == "endpoints.crm.streams.contact.table"
    error = broken("contact", {}, drop="key")
    assert error.key == "endpoints.crm.streams.contact.key"
    error = broken("contact", {"fields": {}})
    assert error.key == "endpoints.crm.streams.contact.fields"
    error = broken("contact", {"lines": {"table": "x"}})
    assert error.key == "endpoints.crm.streams.contact.lines"
    assert "no lines" in str(error)
    error = broken("contact", {"feilds": {}})
    assert error.key == "endpoints.crm.streams.contact.feilds"
    assert "did you mean 'fields'" in str(error)
    error = broken("contact", {"fields": {"name": "a", "first_name": "a"}})
    assert error.key == "endpoints.crm.streams.contact.fields.first_name"
    error = broken("invoice", {"fields": {"lines": "x"}})
    assert "'lines' table" in str(error)
    settings = sql_settings("sqlite:///crm.db")
    settings["streams"]["invoice"]["lines"]["fields"]["quantiy"] = "qty2"
    error = _check(settings)
    assert error.key == "endpoints.crm.streams.invoice.lines.fields.quantiy"
    assert "did you mean 'quantity'" in str(error)
    settings = sql_settings("sqlite:///crm.db")
    settings["streams"]["contacts"] = settings["streams"].pop("contact")
    error = _check(settings)
    assert error.key == "endpoints.crm.streams.contacts"
    assert "did you mean 'contact'" in str(error)


# -- opening ---------------------------------------------------------------------------------
def test_a_relative_path_resolves_against_the_base_dir(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    build_schema(f"sqlite:///{tmp_path / 'crm.db'}")
    monkeypatch.chdir("/")
    for url in ("sqlite:///crm.db", "env:SYNCLINE_TEST_CRM_URL"):
        monkeypatch.setenv("SYNCLINE_TEST_CRM_URL", "sqlite:///crm.db")
        with SqlConnector("crm", sql_settings(url), tmp_path) as connector:
            assert connector.count("contact") == 0


def test_a_missing_database_file_is_unavailable(tmp_path: Path) -> None:
    connector = SqlConnector("crm", sql_settings("sqlite:///missing.db"), tmp_path)
    with pytest.raises(EndpointUnavailable, match=r"missing\.db"):
        connector.open()
    assert not (tmp_path / "missing.db").exists()


def test_an_unset_environment_variable_is_a_config_error(tmp_path: Path) -> None:
    connector = SqlConnector("crm", sql_settings("env:SYNCLINE_NO_SUCH_VARIABLE"), tmp_path)
    with pytest.raises(ConfigError) as caught:
        connector.open()
    assert caught.value.key == "endpoints.crm.url"


# -- what SQLite stores ----------------------------------------------------------------------
@pytest.fixture
def opened(database_url: str, tmp_path: Path) -> Any:
    build_schema(database_url)
    connector = open_connector(database_url, tmp_path)
    yield connector
    connector.close()


def test_application_values_in_sqlite_text_forms_are_read_canonically(
        opened: SqlConnector, database_url: str) -> None:
    app = sa.create_engine(database_url)
    with app.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO tasks (task_id, title, due_at, priority, done_at) VALUES "
            "(1, 'a', '2024-05-17T09:30:00Z', '3', '2024-05-17 11:30:00+02:00')"))
        conn.execute(sa.text("INSERT INTO items (item_code, item_name, price, active) VALUES "
                             "('A', 'a', '12.50', 'true'), ('B', 'b', 7, 0)"))
        conn.execute(sa.text("INSERT INTO invoices (invoice_id, invoice_date, customer_id) "
                             "VALUES (1, '2024-02-29', '17')"))
    app.dispose()
    task = opened.read_keys("task", ["1"])["1"].fields
    assert task == {"summary": "a", "due": datetime(2024, 5, 17, 9, 30, tzinfo=UTC),
                    "priority": 3, "completed": datetime(2024, 5, 17, 9, 30, tzinfo=UTC)}
    items = opened.read_keys("item", ["A", "B"])
    assert items["A"].fields == {"name": "a", "unit_price": Decimal("12.5"), "active": True}
    assert items["B"].fields == {"name": "b", "unit_price": Decimal(7), "active": False}
    invoice = opened.read_keys("invoice", ["1"])["1"].fields
    assert invoice["date"] == date(2024, 2, 29) and invoice["contact"] == "17"


def test_a_value_that_cannot_be_read_names_the_record(opened: SqlConnector,
                                                      database_url: str) -> None:
    app = sa.create_engine(database_url)
    with app.begin() as conn:
        conn.execute(sa.text("INSERT INTO invoices (invoice_id, invoice_date) "
                             "VALUES (5, '31/12/2024'), (6, '2024-12-31')"))
    app.dispose()
    records = [r for page in opened.read_all("invoice", ReadScope()) for r in page]
    assert [record.key for record in records] == ["6"]  # the rest of the page is read
    [error] = opened.take_item_errors("invoice")
    assert isinstance(error, MalformedRecord) and error.key == "5"
    assert "invoice_id=5 in invoices" in str(error)
    assert "invoice_date" in str(error) and "31/12/2024" in str(error)
    assert opened.take_item_errors("invoice") == []  # handed over once


def test_suppression_is_off_outside_syncline_writes(opened: SqlConnector,
                                                    database_url: str) -> None:
    results = opened.write(WriteBatch("b1", "contact", [
        WriteOperation("t1", WriteKind.CREATE, None, contact_fields(1)),
        WriteOperation("t2", WriteKind.CREATE, None, contact_fields(1))]))  # second: duplicate
    assert results[0].ok and not results[1].ok
    app = sa.create_engine(database_url)
    with app.connect() as conn:
        assert conn.execute(sa.text("SELECT suppress FROM syncline_control")).scalar() == 0
        mode = conn.execute(sa.text("PRAGMA journal_mode")).scalar()
    app.dispose()
    assert mode == "delete"  # the user's database keeps its own journal mode


def test_a_non_integer_key_range_is_refused(opened: SqlConnector) -> None:
    from syncline.errors import UsageError

    with pytest.raises(UsageError, match="person_id"):
        list(opened.read_all("contact", ReadScope(from_key="abc")))


# -- volume ----------------------------------------------------------------------------------
def test_read_all_memory_stays_flat(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    build_schema(url)
    engine = sa.create_engine(url)
    rows = 100_000
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO people (full_name, email_address, phone) "
            "SELECT 'Person ' || i, 'p' || i || '@example.com', '+44 ' || i FROM n", (rows,))
    engine.dispose()
    with SqlConnector("crm", sql_settings(url, page_size=2000), tmp_path) as connector:
        seen = 0
        tracemalloc.start()
        try:
            for page in connector.read_all("contact", ReadScope()):
                seen += len(page)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert seen == rows
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for {rows} rows"


def test_all_streams_are_known() -> None:
    assert set(ALL_STREAMS) <= set(SqlConnector.capability_matrix())
    assert all(c == Capability.all() for c in SqlConnector.capability_matrix().values())


def test_keys_stay_right_when_sqlite_numbers_rows_at_random(opened: SqlConnector,
                                                            database_url: str) -> None:
    # With the highest possible rowid taken SQLite picks new rowids at random, so the
    # consecutive-keys shortcut must notice and the batch be written the slow way.
    app = sa.create_engine(database_url)
    with app.begin() as conn:
        conn.execute(sa.text("INSERT INTO people (person_id, full_name) "
                             "VALUES (9223372036854775807, 'last')"))
    app.dispose()
    fields = [contact_fields(n) for n in range(20)]
    results = opened.write(WriteBatch("random", "contact", [
        WriteOperation(str(n), WriteKind.CREATE, None, f) for n, f in enumerate(fields)]))
    assert all(r.ok for r in results)
    found = opened.read_keys("contact", [str(r.key) for r in results])
    assert [found[str(r.key)].fields["email"] for r in results] == [f["email"] for f in fields]


# -- cursor arithmetic -----------------------------------------------------------------------
def test_cursor_text_round_trips() -> None:
    position = Position(120, (Gap(97, 97, 1_718_000_000), Gap(101, 104, 1_718_000_050)))
    assert str(position) == "120;97-97@1718000000,101-104@1718000050"
    assert Position.parse(str(position)) == position
    assert str(Position.parse("7")) == "7"
    for bad in ("", "x", "5;1-9@0", "5;3@0", "-1"):
        with pytest.raises(ValueError):
            Position.parse(bad)


def test_gaps_are_remembered_filled_split_and_forgotten() -> None:
    start = Position(10)
    after = advance(start, 15, [11, 13, 15], now=1000)
    assert after == Position(15, (Gap(12, 12, 1000), Gap(14, 14, 1000)))
    assert after.candidates(17) == [(12, 12), (14, 14), (16, 17)]
    later = advance(after, 17, [12, 16, 17], now=1500)
    assert later == Position(17, (Gap(14, 14, 1000),))
    assert advance(later, 17, [], now=1000 + GAP_TIMEOUT_SECONDS + 1) == Position(17)
    wide = advance(Position(0), 10, [1, 10], now=5)
    assert wide.gaps == (Gap(2, 9, 5),)
    assert advance(wide, 10, [4, 5], now=6).gaps == (Gap(2, 3, 5), Gap(6, 9, 5))


def test_only_the_newest_gaps_are_kept() -> None:
    position = Position(0)
    for step in range(5):
        top = position.seq + 2
        position = advance(position, top, [top], now=step, limit=3)
    assert [g.seen for g in position.gaps] == [2, 3, 4]


@given(st.integers(0, 30), st.integers(0, 30), st.sets(st.integers(1, 60)))
def test_gaps_are_exactly_what_is_missing(low: int, width: int, present: set[int]) -> None:
    high = low + width
    found = sorted(n for n in present if low < n <= high)
    position = advance(Position(low), high, found, now=0)
    missing = {n for g in position.gaps for n in range(g.low, g.high + 1)}
    assert missing == set(range(low + 1, high + 1)) - set(found)
    assert position.seq == high


def test_many_changes_come_in_pages_each_key_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    build_schema(url)
    with SqlConnector("crm", sql_settings(url, page_size=1000), tmp_path) as connector:
        connector.setup(["contact"])
        cursor = connector.current_cursor("contact")
        assert cursor is not None
        app = sa.create_engine(url)
        with app.begin() as conn:
            conn.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
                "INSERT INTO people (full_name) SELECT 'Person ' || i FROM n")
            conn.exec_driver_sql("UPDATE people SET phone = 'x' WHERE person_id % 2 = 0")
            conn.exec_driver_sql("DELETE FROM people WHERE person_id % 5 = 0")
        app.dispose()
        feed = connector.read_changes("contact", cursor, ReadScope())
        pages = list(feed.pages)
        keys = [c.key for page in pages for c in page]
        assert len(keys) == len(set(keys)) == 5000
        assert all(0 < len(page) <= 1000 for page in pages)
        gone = {c.key for page in pages for c in page if c.record is None}
        assert gone == {str(n) for n in range(5, 5001, 5)}
        phones = {c.key: c.record.fields["phone"] for page in pages for c in page if c.record}
        assert phones["2"] == "x" and phones["3"] is None
        assert feed.cursor == "8500"  # 5000 inserts, 2500 updates, 1000 deletes


class TestSqliteKeys(SqlKeys):
    """The key cases on SQLite (no uuid type)."""
