"""Locked documents in Xero: an order system (SQLite or PostgreSQL) posts invoices and their
payments to the Xero SANDBOX over real HTTP; then the orders change. A paid or part-paid
invoice is not changed in Xero: the change is journalled ``skipped`` with a warning naming
the invoice by its number, never retried as an error, and a forced resend (``syncline force
--now``) is the same. An unpaid invoice takes the change; a paid one still takes a new
reference. Errors name invoices by their number, not Xero's ID."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.rules_support import Line, Order
from sandbox.xero_posting_support import LINK, Payment, XeroWorld, add_payments, build_xero_world
from sandbox.xero_support import running_sandbox
from syncline.cli.main import app
from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation
from syncline.connectors.xero import XeroConnector
from syncline.state.rules_store import RulesStore

D = Decimal
ORDERS = [Order("INV-2001", 1, [Line("WIDGET-01", D(2))]),
          Order("INV-2002", 2, [Line("GADGET-02", D(1))]),
          Order("INV-2003", 3, [Line("SUPPORT-HR", D(1))])]
PAID = ("invoice INV-2001: INV-2001 is paid in Xero; the change was not sent (date can no "
        "longer change; due date, reference still can)")
PART_PAID = ("invoice INV-2002: INV-2002 is part-paid in Xero; the change was not sent "
             "(date can no longer change; due date, reference still can)")


@pytest.fixture
def world(tmp_path: Path, crm_url: str | None) -> Iterator[XeroWorld]:
    with running_sandbox() as (xero, server):
        built = build_xero_world(tmp_path, xero, server.url, orders=ORDERS, crm_url=crm_url)
        try:
            yield built
        finally:
            built.close()


def _double_quantities(world: XeroWorld, *numbers: str) -> None:
    """The order system doubles every line of these orders (amounts, tax, totals agree)."""
    for number in numbers:
        world.execute("UPDATE order_lines SET qty = qty * 2, amount = amount * 2, tax = tax * 2"
                      " WHERE order_id = (SELECT order_id FROM orders WHERE order_no = ?)",
                      number)
        world.execute("UPDATE orders SET net = net * 2, vat = vat * 2, gross = gross * 2 "
                      "WHERE order_no = ?", number)


def _cli(world: XeroWorld, *arguments: str) -> Any:
    result = CliRunner().invoke(app, [*arguments, "--config", str(world.folder /
                                                                     "syncline.toml")])
    return result


def test_paid_and_part_paid_invoices_are_skipped_with_a_warning_not_errors(
        world: XeroWorld) -> None:
    add_payments(world, [Payment("RCPT-1", "INV-2001", D("30.00")),
                         Payment("RCPT-2", "INV-2002", D("10.00"))])
    first = world.sync()
    assert first.outcome.value == "ok", first.messages
    invoices = world.invoices()
    assert invoices["INV-2001"]["Status"] == "PAID"
    assert invoices["INV-2002"]["Status"] == "AUTHORISED"
    assert D(str(invoices["INV-2002"]["AmountPaid"])) == D("10.00")

    _double_quantities(world, "INV-2003")
    world.execute("UPDATE orders SET order_date = '2026-11-05' WHERE order_no IN "
                  "('INV-2001', 'INV-2002')")
    changed = world.sync()
    counts = changed.streams["invoice"]
    to_books = sorted((row["outcome"], row["message"]) for row in world.journal()
                      if row["run_id"] == changed.run_id and row["direction"] == "a>b")
    assert to_books == [("ok", "changed on a"), ("skipped", PAID), ("skipped", PART_PAID)]
    assert (counts.errors, counts.skipped, counts.warnings) == (0, 2, 2), counts
    assert changed.outcome.value == "warning", changed.messages
    locked = [row["message"] for row in world.journal("skipped") if row["stream"] == "invoice"]
    assert sorted(locked) == [PAID, PART_PAID]
    assert world.journal("error") == []
    assert world.store.pending_items(LINK) == []
    invoices = world.invoices()
    assert D(str(invoices["INV-2003"]["Total"])) == D("204.00")  # 2 x 85.00 + VAT
    assert D(str(invoices["INV-2001"]["Total"])) == D("30.00")   # as it was paid
    assert D(str(invoices["INV-2002"]["Total"])) == D("48.00")

    # nothing is retried: the next runs, incremental or full, send the books nothing and
    # warn no more (a full run still brings the books' own values back: not this test's)
    for full in (False, True):
        quiet = world.sync(full=full)
        assert quiet.streams["invoice"].errors == quiet.streams["invoice"].skipped == 0
        assert [row for row in world.journal() if row["run_id"] == quiet.run_id
                and row["direction"] == "a>b"] == []
    assert len([row for row in world.journal("skipped") if row["stream"] == "invoice"]) == 2

    # a forced resend of every invoice: the paid ones are skipped the same way
    forced = _cli(world, "force", LINK, "--stream", "invoice", "--now", "--json")
    assert forced.exit_code == 0, forced.output
    run = world.journal()[0]["run_id"]
    rows = [row for row in world.journal() if row["run_id"] == run]
    by_outcome = sorted((row["outcome"], row["message"]) for row in rows)
    assert [outcome for outcome, _ in by_outcome] == ["ok", "skipped", "skipped"], by_outcome
    assert by_outcome[1][1].startswith(PAID.partition(" (")[0])
    assert by_outcome[2][1].startswith(PART_PAID.partition(" (")[0])
    assert not [row for row in rows if row["outcome"] == "error"], by_outcome
    errors = _cli(world, "errors", LINK, "--json")
    assert errors.exit_code == 0 and json.loads(errors.output) == [], errors.output


def test_a_paid_invoice_still_takes_a_new_reference_and_errors_name_the_number(
        world: XeroWorld) -> None:
    add_payments(world, [Payment("RCPT-1", "INV-2001", D("30.00"))])
    world.sync()
    invoice = world.invoices()["INV-2001"]
    key = invoice["InvoiceID"].lower()
    connector = XeroConnector("books", world.config.endpoints["books"].settings, world.folder)
    connector.open()
    try:
        results = connector.write(WriteBatch("b-1", "invoice", [
            WriteOperation("t-1", WriteKind.UPDATE, key, {"number": "INV-2001",
                                                          "reference": "PO-7781"}),
            WriteOperation("t-2", WriteKind.UPDATE, key, {"number": "INV-2001",
                                                          "status": "AUTHORISED"}),
            # what a two-way link sends back once the books' status reached the order:
            # Xero would answer "Document of status PAID cannot be changed to PAID"
            WriteOperation("t-3", WriteKind.UPDATE, key, {"number": "INV-2001",
                                                          "status": "PAID"})]))
    finally:
        connector.close()
    assert results[0].ok, results[0].error
    assert world.invoices()["INV-2001"]["Reference"] == "PO-7781"
    assert world.invoices()["INV-2001"]["Status"] == "PAID"
    error = results[1].error
    assert error is not None and type(error).__name__ == "RecordLocked"
    assert str(error) == ("invoice INV-2001: INV-2001 is paid in Xero; the change was not "
                          "sent (status can no longer change; due date, reference still can)")
    assert error.cause.document == "INV-2001"
    assert str(results[2].error) == ("invoice INV-2001: INV-2001 is paid in Xero; the change "
                                     "was not sent (Xero holds it as it is)")


def test_an_update_xero_refuses_is_listed_under_the_invoice_number(world: XeroWorld) -> None:
    world.sync()
    key = world.invoices()["INV-2003"]["InvoiceID"].lower()
    RulesStore(world.store).set_xref(LINK, "ledger_account", "SUPPORT-HR", "999")
    _double_quantities(world, "INV-2003")
    refused = world.sync()
    assert refused.streams["invoice"].errors == 1
    assert [row["message"] for row in world.journal("error")] == [
        "invoice INV-2003: Account code '999' is not a valid code for this document."]
    errors = _cli(world, "errors", LINK, "--json")
    assert errors.exit_code == 0, errors.output
    (group,) = json.loads(errors.output)
    assert [document["document"] for document in group["documents"]] == ["INV-2003"]
    assert key not in errors.output
