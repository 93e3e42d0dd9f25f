"""The tests of the ``sql`` connector shared by SQLite, PostgreSQL and MariaDB: the contract
suites for an integer-keyed and a text-keyed stream, and the SQL-specific tests
(:class:`SqlBehaviour`, :class:`ConcurrentWriters`).

A database test module provides a ``database_url`` fixture (an empty database) and
subclasses the classes here with names starting with ``Test``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.sql_support import (
    ALL_STREAMS,
    SqlOutside,
    batch,
    build_schema,
    contact_fields,
    create_op,
    delete_op,
    invoice_fields,
    item_fields,
    open_connector,
    read_changes,
    sql_settings,
    update_op,
)
from syncline.connectors.base import Capability, Change, ReadScope
from syncline.connectors.sql import SqlConnector
from syncline.errors import ConfigError, ItemError, ProtocolError, ValidationFailed
from syncline.testing import ConnectorContract, FieldMaker, same


class SqlContactContract(ConnectorContract):
    """The contract on ``people``: an integer key numbered by the database."""

    stream = "contact"
    page_size = 7

    @pytest.fixture
    def connector(self, database_url: str, tmp_path: Path) -> Iterator[SqlConnector]:
        build_schema(database_url)
        connector = open_connector(database_url, tmp_path)
        yield connector
        connector.close()

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        return contact_fields

    @pytest.fixture
    def outside(self, database_url: str, connector: SqlConnector) -> Iterator[SqlOutside]:
        editor = SqlOutside(database_url, "people", "person_id",
                            {"name": "full_name", "email": "email_address", "phone": "phone"},
                            "internal_note", text_keys=False)
        yield editor
        editor.close()

    def rejected_fields(self, connector: Any, make_fields: FieldMaker) -> dict[str, Any]:
        self.create(connector, make_fields(50))
        return {**make_fields(51), "email": make_fields(50)["email"]}  # email is unique

    def key_order(self, key: str) -> Any:
        return int(key)


class SqlItemContract(ConnectorContract):
    """The contract on ``items``: a text key syncline generates."""

    stream = "item"
    page_size = 7

    @pytest.fixture
    def connector(self, database_url: str, tmp_path: Path) -> Iterator[SqlConnector]:
        build_schema(database_url)
        connector = open_connector(database_url, tmp_path)
        yield connector
        connector.close()

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        return item_fields

    @pytest.fixture
    def outside(self, database_url: str, connector: SqlConnector) -> Iterator[SqlOutside]:
        editor = SqlOutside(database_url, "items", "item_code",
                            {"name": "item_name", "unit_price": "price", "active": "active"},
                            "notes", text_keys=True)
        yield editor
        editor.close()

    def rejected_fields(self, connector: Any, make_fields: FieldMaker) -> dict[str, Any]:
        return {**make_fields(60), "name": None}  # item_name is NOT NULL


class SqlBehaviour:
    """Tests of the ``sql`` connector beyond the contract, run against each database."""

    @pytest.fixture
    def connector(self, database_url: str, tmp_path: Path) -> Iterator[SqlConnector]:
        build_schema(database_url)
        connector = open_connector(database_url, tmp_path)
        yield connector
        connector.close()

    @pytest.fixture
    def app(self, database_url: str) -> Iterator[sa.Engine]:
        """A plain engine, as the user's application has."""
        engine = sa.create_engine(database_url)
        yield engine
        engine.dispose()

    # -- opening ----------------------------------------------------------------------------
    def test_missing_table_is_named(self, database_url: str, tmp_path: Path) -> None:
        build_schema(database_url)
        settings = sql_settings(database_url)
        settings["streams"]["contact"]["table"] = "peeple"
        connector = SqlConnector("crm", settings, tmp_path)
        with pytest.raises(ConfigError) as caught:
            connector.open()
        assert caught.value.key == "endpoints.crm.streams.contact.table"
        assert "'peeple' not found" in str(caught.value)
        assert "did you mean 'people'" in str(caught.value)

    def test_missing_column_is_named(self, database_url: str, tmp_path: Path) -> None:
        build_schema(database_url)
        settings = sql_settings(database_url)
        settings["streams"]["contact"]["fields"]["email"] = "email_adress"
        connector = SqlConnector("crm", settings, tmp_path)
        with pytest.raises(ConfigError) as caught:
            connector.open()
        assert caught.value.key == "endpoints.crm.streams.contact.fields.email"
        message = str(caught.value)
        assert "'email_adress' not found in table people" in message
        assert "did you mean 'email_address'" in message
        assert "full_name" in message and "person_id" in message

    def test_missing_line_column_is_named(self, database_url: str, tmp_path: Path) -> None:
        build_schema(database_url)
        settings = sql_settings(database_url)
        settings["streams"]["invoice"]["lines"]["order"] = "position"
        with pytest.raises(ConfigError) as caught:
            SqlConnector("crm", settings, tmp_path).open()
        assert caught.value.key == "endpoints.crm.streams.invoice.lines.order"

    # -- change capture ---------------------------------------------------------------------
    def test_incremental_needs_setup(self, database_url: str, tmp_path: Path) -> None:
        build_schema(database_url)
        connector = open_connector(database_url, tmp_path, setup=False)
        try:
            assert not connector.streams()["contact"] & Capability.INCREMENTAL
            assert connector.streams()["contact"] & Capability.DETECT_DELETES
            assert connector.current_cursor("contact") is None
            with pytest.raises(ProtocolError, match="syncline setup"):
                connector.read_changes("contact", "0", ReadScope())
            done = connector.setup(["contact"])
            assert any("people" in line for line in done)
            assert connector.streams()["contact"] & Capability.INCREMENTAL
            assert not connector.streams()["invoice"] & Capability.INCREMENTAL
            assert connector.current_cursor("contact") == "0"
        finally:
            connector.close()

    def test_setup_twice_logs_each_change_once(self, connector: SqlConnector,
                                               app: sa.Engine) -> None:
        again = connector.setup(ALL_STREAMS)
        assert any("already present" in line for line in again)
        cursor = connector.current_cursor("contact")
        assert cursor is not None
        with app.begin() as conn:
            conn.execute(sa.text("INSERT INTO people (full_name) VALUES ('Ada')"))
        with app.connect() as conn:
            logged = conn.execute(sa.text(
                "SELECT count(*) FROM syncline_changes WHERE table_name = 'people'")).scalar()
        assert logged == 1

    def test_triggers_capture_a_plain_connection(self, connector: SqlConnector,
                                                 app: sa.Engine) -> None:
        cursor = connector.current_cursor("contact")
        assert cursor is not None
        with app.begin() as conn:
            conn.execute(sa.text("INSERT INTO people (full_name, email_address) "
                                 "VALUES ('Ada Lovelace', 'ada@example.com')"))
            conn.execute(sa.text("INSERT INTO people (full_name) VALUES ('Charles Babbage')"))
        found, cursor = read_changes(connector, "contact", cursor)
        assert sorted(c.record.fields["name"] for c in found if c.record) \
            == ["Ada Lovelace", "Charles Babbage"]
        ada = next(c.key for c in found if c.record and c.record.fields["name"] == "Ada Lovelace")
        with app.begin() as conn:
            conn.execute(sa.text("UPDATE people SET phone = '+44 1' WHERE person_id = :k"),
                         {"k": int(ada)})
        found, cursor = read_changes(connector, "contact", cursor)
        assert [(c.key, c.record.fields["phone"] if c.record else None) for c in found] \
            == [(ada, "+44 1")]
        with app.begin() as conn:
            conn.execute(sa.text("DELETE FROM people WHERE person_id = :k"), {"k": int(ada)})
        found, cursor = read_changes(connector, "contact", cursor)
        assert found == [Change(ada, None)]

    def test_updated_at_comes_from_the_change_log_without_updated_column(
            self, connector: SqlConnector, app: sa.Engine) -> None:
        cursor = connector.current_cursor("task")
        assert cursor is not None
        before = datetime.now(UTC).replace(microsecond=0)
        with app.begin() as conn:
            conn.execute(sa.text("INSERT INTO tasks (title) VALUES ('call back')"))
        (change,), _ = read_changes(connector, "task", cursor)
        assert change.record is not None and change.record.updated_at is not None
        assert change.record.updated_at.tzinfo is not None
        assert abs((change.record.updated_at - before).total_seconds()) < 60

    def test_changes_respect_the_scope(self, connector: SqlConnector, app: sa.Engine) -> None:
        cursor = connector.current_cursor("contact")
        assert cursor is not None
        with app.begin() as conn:
            for n in range(1, 13):
                conn.execute(sa.text("INSERT INTO people (person_id, full_name, modified_at) "
                                     "VALUES (:k, :name, :at)"),
                             {"k": n, "name": f"P{n}", "at": datetime(2024, 1, n, 12)})
        scope = ReadScope(from_key="2", to_key="10")
        found, after = read_changes(connector, "contact", cursor, scope)
        assert sorted(int(c.key) for c in found) == list(range(2, 11))
        dated = ReadScope(since=datetime(2024, 1, 3, tzinfo=UTC),
                          until=datetime(2024, 1, 5, 23, tzinfo=UTC))
        found, _ = read_changes(connector, "contact", cursor, dated)
        assert sorted(int(c.key) for c in found) == [3, 4, 5]
        assert read_changes(connector, "contact", after)[0] == []

    def test_read_all_by_updated_column(self, connector: SqlConnector, app: sa.Engine) -> None:
        with app.begin() as conn:
            for n in range(1, 10):
                conn.execute(sa.text("INSERT INTO people (full_name, modified_at) "
                                     "VALUES (:name, :at)"),
                             {"name": f"P{n}", "at": datetime(2024, 3, n, 8, 30)})
        scope = ReadScope(since=datetime(2024, 3, 2, 8, 30, tzinfo=UTC),
                          until=datetime(2024, 3, 4, 9, tzinfo=UTC))
        records = [r for page in connector.read_all("contact", scope) for r in page]
        assert [r.fields["name"] for r in records] == ["P2", "P3", "P4"]
        assert records[0].updated_at == datetime(2024, 3, 2, 8, 30, tzinfo=UTC)

    def test_a_bad_cursor_asks_for_a_full_read(self, connector: SqlConnector) -> None:
        with pytest.raises(ProtocolError, match="read in full"):
            connector.read_changes("contact", "not-a-cursor", ReadScope())
        with pytest.raises(ProtocolError, match="reset"):
            connector.read_changes("contact", "999999", ReadScope())

    # -- lines ------------------------------------------------------------------------------
    def test_invoice_with_lines_round_trip(self, connector: SqlConnector) -> None:
        (contact,) = connector.write(batch("contact", create_op(contact_fields(1))))
        invoice = invoice_fields(str(contact.key), 3)
        (created,) = connector.write(batch("invoice", create_op(invoice)))
        assert created.ok, created.error
        key = str(created.key)
        record = connector.read_keys("invoice", [key])[key]
        assert record.fields == invoice
        assert [line["description"] for line in record.fields["lines"]] \
            == ["line 1", "line 2", "line 3"]
        changed = {**invoice, "lines": list(reversed(invoice["lines"]))[:2]}
        (updated,) = connector.write(batch("invoice", update_op(key, changed)))
        assert updated.ok, updated.error
        assert connector.read_keys("invoice", [key])[key].fields == changed
        (no_lines,) = connector.write(batch("invoice", update_op(key, {"number": "INV-2"})))
        assert no_lines.ok
        assert connector.read_keys("invoice", [key])[key].fields["lines"] == changed["lines"]
        (deleted,) = connector.write(batch("invoice", delete_op(key)))
        assert deleted.ok, deleted.error
        assert connector.read_keys("invoice", [key]) == {}
        with connector._ready("invoice")[0].connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM invoice_lines")).scalar() == 0

    def test_a_changed_line_is_a_change_of_itsinvoice_fields(self, connector: SqlConnector,
                                                       app: sa.Engine) -> None:
        (created,) = connector.write(batch("invoice", create_op(invoice_fields("7", 2))))
        cursor = connector.current_cursor("invoice")
        assert cursor is not None
        with app.begin() as conn:
            conn.execute(sa.text("UPDATE invoice_lines SET qty = 5 WHERE invoice_id = :k "
                                 "AND line_no = 2"), {"k": int(str(created.key))})
        found, cursor = read_changes(connector, "invoice", cursor)
        assert [c.key for c in found] == [created.key]
        assert found[0].record is not None
        assert found[0].record.fields["lines"][1]["quantity"] == Decimal(5)
        with app.begin() as conn:
            conn.execute(sa.text("DELETE FROM invoice_lines WHERE invoice_id = :k"),
                         {"k": int(str(created.key))})
        found, _ = read_changes(connector, "invoice", cursor)
        assert found[0].record is not None and found[0].record.fields["lines"] == []

    # -- keys and types ---------------------------------------------------------------------
    def test_keys_are_text_both_ways(self, connector: SqlConnector) -> None:
        (person,) = connector.write(batch("contact", create_op(contact_fields(1))))
        assert isinstance(person.key, str) and person.key.isdigit()
        (item,) = connector.write(batch("item", create_op(item_fields(1))))
        assert isinstance(item.key, str) and len(item.key) == 32
        (rate,) = connector.write(batch("tax_rate", create_op(
            {"code": "VAT20", "name": "Standard", "rate": Decimal("20"), "active": True})))
        assert rate.key == "VAT20"
        assert set(connector.read_keys("contact", [person.key, "abc"])) == {person.key}

    def test_canonical_types_round_trip(self, connector: SqlConnector) -> None:
        due = datetime(2024, 5, 17, 9, 30, 15, tzinfo=UTC)
        task = {"summary": "ring", "due": due, "priority": 3,
                "completed": datetime(2024, 5, 18, 10, 0, 0, tzinfo=UTC)}
        (created,) = connector.write(batch("task", create_op(task)))
        record = connector.read_keys("task", [str(created.key)])[str(created.key)]
        assert record.fields == task
        assert isinstance(record.fields["priority"], int)
        item = {"name": "Widget", "unit_price": Decimal("19.90"), "active": False}
        (made,) = connector.write(batch("item", create_op(item)))
        read = connector.read_keys("item", [str(made.key)])[str(made.key)].fields
        assert read == {"name": "Widget", "unit_price": Decimal("19.9"), "active": False}
        assert type(read["unit_price"]) is Decimal and type(read["active"]) is bool
        (contact,) = connector.write(batch("contact", create_op(contact_fields(2))))
        invoice_batch = batch("invoice", create_op(invoice_fields(str(contact.key), 1)))
        (invoice,) = connector.write(invoice_batch)
        fields = connector.read_keys("invoice", [str(invoice.key)])[str(invoice.key)].fields
        assert fields["contact"] == contact.key and type(fields["date"]) is date
        assert fields["lines"][0]["item"] == "ITEM-1"
        other_zone = datetime.fromisoformat("2024-05-17T11:30:15+02:00")
        (moved,) = connector.write(batch("task", update_op(str(created.key), {"due": other_zone})))
        assert moved.ok
        read_due = connector.read_keys("task", [str(created.key)])[str(created.key)] \
            .fields["due"]
        assert read_due == due and read_due.tzinfo is not None

    def test_unconvertible_values_fail_the_item(self, connector: SqlConnector) -> None:
        results = connector.write(batch(
            "task", create_op({"summary": "a", "priority": "high"}),
            create_op({"summary": "b", "priority": 2})))
        assert isinstance(results[0].error, ValidationFailed)
        assert "priority" in str(results[0].error) and "tasks" in str(results[0].error)
        assert results[1].ok

    def test_database_complaint_names_table_and_key(self, connector: SqlConnector) -> None:
        (first, second) = connector.write(batch("contact", create_op(contact_fields(1)),
                                                 create_op(contact_fields(2))))
        results = connector.write(batch(
            "contact", update_op(str(second.key), {"email": contact_fields(1)["email"]}),
            update_op(str(first.key), {"phone": "+44 99"})))
        error = results[0].error
        assert isinstance(error, ValidationFailed)
        assert f"person_id={second.key} in people" in str(error)
        assert "email_address" in str(error) or "unique" in str(error).lower() \
            or "duplicate" in str(error).lower()
        assert results[1].ok
        assert connector.read_keys("contact", [str(first.key)])[str(first.key)] \
            .fields["phone"] == "+44 99"

    def test_updated_column_is_set_on_write(self, connector: SqlConnector) -> None:
        before = datetime.now(UTC).replace(microsecond=0)
        (made,) = connector.write(batch("contact", create_op(contact_fields(1))))
        record = connector.read_keys("contact", [str(made.key)])[str(made.key)]
        assert record.updated_at is not None and record.updated_at >= before

    # -- batches ----------------------------------------------------------------------------
    def test_writing_a_batch_again_does_not_apply_it_twice(self,
                                                           connector: SqlConnector) -> None:
        twice = batch("contact", create_op(contact_fields(1)), create_op(contact_fields(2)))
        first = connector.write(twice)
        again = connector.write(twice)
        assert [r.key for r in again] == [r.key for r in first]
        assert connector.count("contact") == 2

    def test_recover_returns_the_item_errors(self, connector: SqlConnector) -> None:
        failing = batch("contact", update_op("424242", {"name": "x"}),
                        create_op(contact_fields(1)))
        written = connector.write(failing)
        recovered = connector.recover(failing)
        assert recovered is not None
        assert isinstance(recovered[0].error, ItemError)
        assert str(recovered[0].error) == str(written[0].error)
        assert "no row with person_id=424242 in people" in str(recovered[0].error)
        assert recovered[1].key == written[1].key

    def test_many_creates_in_one_batch_keep_their_order(self, connector: SqlConnector) -> None:
        fields = [contact_fields(n) for n in range(2500)]
        results = connector.write(batch("contact", *(create_op(f) for f in fields)))
        assert all(r.ok for r in results)
        found = connector.read_keys("contact", [str(r.key) for r in results])
        assert all(same(found[str(r.key)].fields, f) for r, f in zip(results, fields,
                                                                        strict=True))


class ConcurrentWriters:
    """For servers with concurrent writers: a transaction that logs a change early and commits
    late must not be skipped by a reader that saw a later change first."""

    def test_a_late_commit_is_not_skipped(self, connector: SqlConnector,
                                          app: sa.Engine) -> None:
        cursor = connector.current_cursor("contact")
        assert cursor is not None
        slow = app.connect()
        try:
            slow.begin()
            slow.execute(sa.text("INSERT INTO people (full_name) VALUES ('slow')"))
            with app.begin() as conn:
                conn.execute(sa.text("INSERT INTO people (full_name) VALUES ('fast')"))
            found, cursor = read_changes(connector, "contact", cursor)
            assert [c.record.fields["name"] for c in found if c.record] == ["fast"]
            slow.commit()
        finally:
            slow.close()
        found, cursor = read_changes(connector, "contact", cursor)
        assert [c.record.fields["name"] for c in found if c.record] == ["slow"]
        assert read_changes(connector, "contact", cursor)[0] == []
