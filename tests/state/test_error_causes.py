"""An error's cause as data (kind, field, value): made in one place, stored with the pending
item, read back for grouping; a pending item stored before causes existed (migrated from
revision 0004) still groups with the others of its cause. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from syncline.errors import ErrorCause, ItemError, ReferenceMissing, ValidationFailed, cause_of
from syncline.journal import JOURNAL_COLUMNS, journal_row, pending_item
from syncline.model import ActionCode, Direction, Outcome
from syncline.service.error_groups import group_errors, stored_causes
from syncline.state.opening import MIGRATIONS
from syncline.state.store import StateStore

from .test_store import migrate_with_alembic


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_a_cause_leaves_out_the_record_it_happened_to() -> None:
    given = ValidationFailed("person_id=7 in people: too long", key="7", field="phone",
                             value="too long")
    assert given.cause == ErrorCause("ValidationFailed", "phone", "too long")
    words = [ItemError(f"{name}: value too long for type character varying(20)", key=key)
             for name, key in (("cust_no=41 in customers", "12"), ("a new row in customers",
                                                                   "13"))]
    assert {error.cause for error in words} == {
        ErrorCause("ItemError", None, "value too long for type character varying(20)")}
    assert ReferenceMissing("invoice INV-9: contact refers to 34 on b", stream="invoice",
                            key="9").cause.value == "contact refers to 34 on b"
    # a prefix that holds the key as part of a longer word does not name the record
    assert cause_of("ItemError", "item 171: boom", key="17").value == "item 171: boom"
    assert cause_of("ItemError", "no such row", key="17").value == "no such row"
    # existing constructors keep working, causes given for several problems are kept
    both = (ErrorCause("RuleRejected", "ledger_account", "X"),
            ErrorCause("RuleRejected", "tax_rate", "Q"))
    assert ItemError("two problems", causes=both).causes == both
    assert ErrorCause.from_json(both[0].to_json()) == both[0]
    assert ErrorCause.from_json({"field": "x"}) is None
    assert stored_causes({}) == [] and stored_causes({"causes": None}) == []


def test_causes_are_stored_with_pending_items_and_old_rows_still_group(url: str) -> None:
    migrate_with_alembic(url, "0004")  # a state store from before causes were kept
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO scopes (link, stream) VALUES ('lr', 'contact')"))
            scope_id = conn.execute(sa.text("SELECT id FROM scopes")).scalar_one()
            conn.execute(sa.text(
                "INSERT INTO pending (scope_id, side, key, message, attempts, first_run, "
                "last_run) VALUES (:scope, 'a', :key, :message, 1, 1, 1)"),
                [{"scope": scope_id, "key": key,
                  "message": f"cust_no={key}0 in customers: CHECK constraint failed: tel_ok"}
                 for key in ("k1", "k2")])
    finally:
        engine.dispose()
    store = StateStore.open(url)  # migrates to the newest revision
    try:
        errors = [ValidationFailed(f"cust_no={key}0 in customers: CHECK constraint failed: "
                                   f"tel_ok", key=key, field="tel_ok",
                                   value="CHECK constraint failed") for key in ("k3", "k4")]
        store.settle(scope_id=scope_id, run_id=2, pending_add=[
            pending_item("a", error.key or "", error) for error in errors]
            + [pending_item("a", "k5", "contact k5: rejected by the books")])
        rows = store.pending_items("lr")
    finally:
        store.close()
    assert [row["key"] for row in rows] == ["k1", "k2", "k3", "k4", "k5"]
    assert [stored_causes(row) for row in rows[2:4]] == [
        [ErrorCause("ValidationFailed", "tel_ok", "CHECK constraint failed")]] * 2
    # an item stored before causes were has the one its message gave, of no kind
    assert rows[0]["causes"] == [ErrorCause("", None, "CHECK constraint failed: tel_ok")]
    assert rows[4]["causes"] == []
    # old rows join the group of the stored cause their message words the same way
    groups = group_errors(rows)
    assert [(group.text, sorted(group.keys)) for group in groups] == [
        ("CHECK constraint failed: tel_ok", ["k1", "k2", "k3", "k4"]),
        ("rejected by the books", ["k5"])]
    assert groups[0].cause == ErrorCause("ValidationFailed", "tel_ok",
                                         "CHECK constraint failed")
    # on their own, old rows group by the cause derived from their message
    (alone,) = group_errors(rows[:2])
    assert alone.cause == ErrorCause("", None, "CHECK constraint failed: tel_ok")
    assert sorted(alone.keys) == ["k1", "k2"]


def _downgrade(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def test_a_migrated_old_database_keeps_its_causes(url: str) -> None:
    """Revision 0008 moves the causes kept as JSON into rows of their own, with the words
    their messages gave them, and gives the journal's error rows their cause; the
    downgrade puts the JSON back."""
    migrate_with_alembic(url, "0007")
    both = ("invoice INV-1 line 2: no ledger account mapped for product 'X'; "
            "invoice INV-1 line 3: no tax rate mapped for tax code 'Q'")
    kept = [{"kind": "RuleRejected", "field": "ledger_account", "value": "X"},
            {"kind": "RuleRejected", "field": "tax_rate", "value": "Q"}]
    items = [("1", both, json.dumps(kept)),
             ("2", "invoice INV-2 line 1: no tax rate mapped for tax code 'Q'",
              json.dumps(kept[1:])),
             ("3", "invoice INV-3: rejected by the books", None)]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO scopes (link, stream) VALUES ('lr', 'invoice')"))
            scope_id = conn.execute(sa.text("SELECT id FROM scopes")).scalar_one()
            conn.execute(sa.text(
                'INSERT INTO pending (scope_id, side, "key", message, attempts, first_run, '
                "last_run, cause) VALUES (:scope, 'a', :key, :message, 1, 1, 1, :cause)"),
                [{"scope": scope_id, "key": key, "message": message, "cause": cause}
                 for key, message, cause in items])
            conn.execute(sa.text(
                "INSERT INTO journal (run_id, scope_id, a_key, b_key, action, direction, "
                "outcome, message) VALUES (1, :scope, :key, NULL, 'A', 'a>b', :outcome, "
                ":message)"),
                [{"scope": scope_id, "key": key, "outcome": outcome, "message": message}
                 for key, outcome, message in (("1", "error", both),
                                               ("3", "error", items[2][1]),
                                               ("4", "ok", "new on a"))])
    finally:
        engine.dispose()
    store = StateStore.open(url)  # migrates to the newest revision
    try:
        rows = store.pending_items("lr")
        journal = {row["a_key"]: row for row in store.journal("lr")}
        with store.engine.connect() as conn:
            columns = conn.execute(sa.text(
                "SELECT a_key, cause_kind, cause_field, cause_value FROM journal "
                "ORDER BY a_key")).all()
    finally:
        store.close()
    ledger, tax = (ErrorCause("RuleRejected", "ledger_account", "X"),
                   ErrorCause("RuleRejected", "tax_rate", "Q"))
    assert [row["causes"] for row in rows] == [
        [ledger, tax], [tax], [ErrorCause("", None, "rejected by the books")]]
    assert [(cause.document, cause.text) for row in rows for cause in row["causes"]] == [
        ("INV-1 line 2", "no ledger account mapped for product 'X'"),
        ("INV-1 line 3", "no tax rate mapped for tax code 'Q'"),
        ("INV-2 line 1", "no tax rate mapped for tax code 'Q'"),
        ("INV-3", "rejected by the books")]
    assert [tuple(row) for row in columns] == [
        ("1", "RuleRejected", "ledger_account", "X"), ("3", "", None, "rejected by the books"),
        ("4", None, None, None)]
    assert set(journal["1"]) == {"id", "run_id", "scope_id", "a_key", "b_key", "action",
                                 "direction", "outcome", "message", "stream"}
    assert [(group.text, group.keys, [d["document"] for d in group.documents])
            for group in group_errors(rows)] == [
        ("no tax rate mapped for tax code 'Q'", ["1", "2"], ["INV-1 line 3", "INV-2 line 1"]),
        ("no ledger account mapped for product 'X'", ["1"], ["INV-1 line 2"]),
        ("rejected by the books", ["3"], ["INV-3"])]

    _downgrade(url, "0007")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            back = conn.execute(sa.text('SELECT "key", cause FROM pending ORDER BY "key"')).all()
            names = {column["name"] for column in sa.inspect(conn).get_columns("journal")}
            tables = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert [(key, json.loads(cause) if cause else None) for key, cause in back] == [
        ("1", kept), ("2", kept[1:]), ("3", None)]
    assert not any(name.startswith("cause_") for name in names)
    assert "pending_causes" not in tables


def test_rows_and_pending_items_are_built_from_the_enums_and_the_cause() -> None:
    error = ValidationFailed("contact k5: too long", field="phone", value="too long")
    row = journal_row(3, 4, "k5", None, ActionCode.MODIFY, Direction.B_TO_A, Outcome.ERROR,
                      str(error), error.cause)
    assert isinstance(row, tuple) and tuple(row) == (
        3, 4, "k5", None, "M", "b>a", "error", "contact k5: too long", "ValidationFailed",
        "phone", "too long")
    assert row._fields == JOURNAL_COLUMNS
    assert journal_row(3, 4, "k6", "b6", ActionCode.CREATE, Direction.A_TO_B, Outcome.OK,
                       None)[-3:] == (None, None, None)
    warned = row.with_outcome(Outcome.WARNING, "shortened")
    assert (warned.outcome, warned.message, warned.cause_kind) == (
        "warning", "shortened", "ValidationFailed")
    # a connector's cause, made without the stream or the key, gets its words for the record
    (cause,) = pending_item("a", "k5", error, "contact").causes
    assert cause == ErrorCause("ValidationFailed", "phone", "too long")
    assert (cause.document, cause.text) == ("k5", "too long")
    assert pending_item("b", "k7", "put back next run") == ("b", "k7", "put back next run", ())
    given = ItemError("several", causes=(ErrorCause("ItemError"),))
    assert pending_item("a", "k8", given, "contact").causes == (ErrorCause("ItemError"),)
