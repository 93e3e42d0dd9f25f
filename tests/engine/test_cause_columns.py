"""A blocked record's cause is stored as data: the journal row's cause columns and the
pending item's cause rows are filled by the engine, and the records group by them with no
message taken apart (see :mod:`syncline.service.error_groups`)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.rules_support import Line, Order, World, build_world
from syncline.errors import ErrorCause
from syncline.service.error_groups import group_errors, groups_json
from syncline.state import schema as t

ORDERS = [
    Order("INV-1001", 1, [Line("WIDGET-01", Decimal(4)), Line("CONSULT-HR", Decimal("2.5"))]),
    Order("INV-1002", 2, [Line("CONSULT-HR", Decimal(1))]),
]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = build_world(tmp_path, orders=ORDERS)
    try:
        yield world
    finally:
        world.store.close()


def test_a_blocked_records_cause_lands_in_the_columns_and_groups_without_parsing(
        world: World) -> None:
    world.sync()
    with world.store.engine.connect() as connection:
        journal = connection.execute(
            sa.select(t.journal.c.a_key, t.journal.c.outcome, t.journal.c.cause_kind,
                      t.journal.c.cause_field, t.journal.c.cause_value)
            .where(t.journal.c.outcome == "error").order_by(t.journal.c.a_key)).all()
        causes = connection.execute(
            sa.select(t.pending_causes.c.key, t.pending_causes.c.cause_kind,
                      t.pending_causes.c.cause_field, t.pending_causes.c.cause_value,
                      t.pending_causes.c.cause_document, t.pending_causes.c.cause_text)
            .order_by(t.pending_causes.c.key)).all()
        ok = connection.execute(sa.select(sa.func.count()).select_from(t.journal).where(
            t.journal.c.outcome == "ok", t.journal.c.cause_kind.is_not(None))).scalar_one()
    assert [tuple(row) for row in journal] == [
        ("1", "error", "RuleRejected", "ledger_account", "CONSULT-HR"),
        ("2", "error", "RuleRejected", "ledger_account", "CONSULT-HR")]
    words = "no ledger account mapped for product 'CONSULT-HR'"
    assert [tuple(row) for row in causes] == [
        ("1", "RuleRejected", "ledger_account", "CONSULT-HR", "INV-1001 line 2", words),
        ("2", "RuleRejected", "ledger_account", "CONSULT-HR", "INV-1002 line 1", words)]
    assert ok == 0  # rows without an error have no cause
    # the messages say nothing any more: the groups come from the stored causes alone
    with world.store.engine.begin() as connection:
        connection.execute(sa.update(t.pending).values(message="(not words to parse)"))
    (group,) = group_errors(world.store.pending_items("crm-books"))
    assert group.cause == ErrorCause("RuleRejected", "ledger_account", "CONSULT-HR")
    assert (group.text, group.keys) == (words, ["1", "2"])
    assert [document["document"] for document in group.documents] == [
        "INV-1001 line 2", "INV-1002 line 1"]
    (shown,) = groups_json([group])
    assert {name: shown[name] for name in ("cause", "kind", "field", "value", "count")} == {
        "cause": words, "kind": "RuleRejected", "field": "ledger_account",
        "value": "CONSULT-HR", "count": 2}
