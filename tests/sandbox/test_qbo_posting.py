"""Posting to QuickBooks Online as a user does (config file, ``syncline sync`` / ``force`` /
``errors``), from an order system on SQLite or PostgreSQL to the QBO SANDBOX over real HTTP
(see :mod:`sandbox.qbo_posting_support`).

- Rounding and adjustment lines: the same tolerance story as Xero's
  (``test_xero_posting.test_rounding_within_tolerance_adds_a_line_and_a_warning_beyond_it_blocks``):
  a difference within tolerance posts with a rounding line carrying the configured
  ``rounding_item`` and a warning; beyond it the document is blocked. Without the setting
  the document is blocked with a message naming it (not QBO's fault 2020); a setting naming
  no item of the company stops the run at its start with a message naming the setting.
- Locked documents: a paid or part-paid invoice is not changed; the change is journalled
  ``skipped`` with a warning naming the invoice by its number, never retried as an error,
  and a forced resend is the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.rules_support import Line, Order
from sandbox.qbo_posting_support import LINK, QboWorld, build_qbo_world
from sandbox.qbo_server import active, running_sandbox
from syncline.sandbox.qbo import SandboxServer

D = Decimal
TOLERANCE_ORDERS = [
    Order("INV-2001", 1, [Line("WIDGET-01", D(3)), Line("GADGET-02", D(1))],
          total_offset=D("0.01")),
    Order("INV-2002", 2, [Line("SUPPORT-HR", D(2))], total_offset=D("5.00")),
    Order("INV-2003", 3, [Line("GADGET-02", D(2))]),
]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with running_sandbox() as running:
        yield running


def _messages(world: QboWorld, outcome: str) -> list[str]:
    return [row["message"] for row in world.journal(outcome) if row["stream"] == "invoice"]


def test_rounding_within_tolerance_posts_with_the_rounding_item_beyond_it_blocks(
        tmp_path: Path, server: SandboxServer, crm_url: str | None) -> None:
    world = build_qbo_world(tmp_path, server, orders=TOLERANCE_ORDERS, crm_url=crm_url)
    summary = world.sync()
    assert summary["streams"]["invoice"]["A"] == 2, summary
    assert summary["streams"]["invoice"]["warnings"] == 1
    assert summary["streams"]["invoice"]["errors"] == 1
    invoices = world.invoices()
    assert sorted(invoices) == ["INV-2001", "INV-2003"]
    rounding = next(item["Id"] for item in active(world.company, "Item")
                    if item["Name"] == "Rounding")
    last = invoices["INV-2001"]["Line"][-1]
    assert last["SalesItemLineDetail"]["ItemRef"]["value"] == rounding
    assert (last["Description"], D(str(last["Amount"]))) == ("Rounding", D("0.01"))
    # QBO's own total is the order system's to the penny: 3 x 12.50 + 40.00, VAT, + 0.01
    assert D(str(invoices["INV-2001"]["TotalAmt"])) == D("93.01")
    assert _messages(world, "warning") == [
        "invoice INV-2001: books total differs by 0.01; rounding line added"]
    assert _messages(world, "error") == [
        "invoice INV-2002: books total 204.00 differs from the document total 209.00 by "
        "5.00, more than the tolerance 0.01"]
    again = world.sync()
    assert again["streams"]["invoice"]["A"] == again["streams"]["invoice"]["M"] == 0
    assert len(world.invoices()["INV-2001"]["Line"]) == 3
    assert "INV-2002" not in world.invoices()


def test_without_a_rounding_item_the_document_waits_with_a_message_naming_it(
        tmp_path: Path, server: SandboxServer) -> None:
    world = build_qbo_world(tmp_path, server, orders=TOLERANCE_ORDERS[:1], rounding_item=None)
    summary = world.sync()
    assert summary["streams"]["invoice"]["errors"] == 1, summary
    assert world.invoices() == {}
    assert _messages(world, "error") == [
        "invoice INV-2001: line 3 names no item, and QuickBooks Online needs one on every "
        "sales line: set endpoints.books.rounding_item to the item rounding and adjustment "
        "lines are posted with"]
    errors = world.cli("errors", LINK, "--json")
    assert errors.exit_code == 0, errors.output
    (group,) = json.loads(errors.output)
    assert [document["document"] for document in group["documents"]] == ["INV-2001"]


def test_a_rounding_item_the_company_lacks_stops_the_run_naming_the_setting(
        tmp_path: Path, server: SandboxServer) -> None:
    world = build_qbo_world(tmp_path, server, orders=TOLERANCE_ORDERS[:1],
                            rounding_item="Rounding adjustments", make_rounding_item=False,
                            setup=False)
    for command in ("setup", "sync"):
        done = world.cli(command, LINK)
        assert done.exit_code == 2, done.output
        assert "endpoints.books.rounding_item: the QuickBooks Online company has no active " \
               "item 'Rounding adjustments' (by name, SKU or Id)" in done.output
    assert world.invoices() == {}


def test_paid_and_part_paid_invoices_are_skipped_with_a_warning_not_errors(
        tmp_path: Path, server: SandboxServer, crm_url: str | None) -> None:
    orders = [Order("INV-3001", 1, [Line("WIDGET-01", D(2))]),
              Order("INV-3002", 2, [Line("GADGET-02", D(1))]),
              Order("INV-3003", 3, [Line("SUPPORT-HR", D(1))])]
    world = build_qbo_world(tmp_path, server, orders=orders, crm_url=crm_url)
    first = world.sync()
    assert first["outcome"] == "ok", first
    world.pay("INV-3001", 30.00)
    world.pay("INV-3002", 10.00)
    world.execute("UPDATE orders SET order_date = '2026-11-05' WHERE order_no IN "
                  "('INV-3001', 'INV-3002')")
    world.execute("UPDATE order_lines SET qty = 2, amount = 170.00, tax = 34.00 WHERE "
                  "order_id = (SELECT order_id FROM orders WHERE order_no = 'INV-3003')")
    world.execute("UPDATE orders SET net = 170.00, vat = 34.00, gross = 204.00 WHERE "
                  "order_no = 'INV-3003'")
    changed = world.sync()
    counts = changed["streams"]["invoice"]
    assert (counts["errors"], counts["skipped"], counts["warnings"]) == (0, 2, 2), counts
    assert sorted(_messages(world, "skipped")) == [
        "invoice INV-3001: INV-3001 is paid in QuickBooks Online; the change was not sent "
        "(date can no longer change; due date, reference still can)",
        "invoice INV-3002: INV-3002 is part-paid in QuickBooks Online; the change was not "
        "sent (date can no longer change; due date, reference still can)"]
    invoices = world.invoices()
    assert invoices["INV-3001"]["TxnDate"] == invoices["INV-3002"]["TxnDate"] == "2026-11-02"
    assert D(str(invoices["INV-3003"]["TotalAmt"])) == D("204.00")
    for options in ((), ("--full",)):
        quiet = world.sync(*options)
        assert quiet["streams"]["invoice"]["errors"] == 0, quiet
        assert quiet["streams"]["invoice"]["skipped"] == 0, quiet
    assert len(_messages(world, "skipped")) == 2
    forced = world.cli("force", LINK, "--stream", "invoice", "--now", "--json")
    assert forced.exit_code == 0, forced.output
    run = json.loads(forced.stdout[forced.stdout.find("{"):])["run"]
    assert run["streams"]["invoice"]["errors"] == 0, run
    assert run["streams"]["invoice"]["skipped"] == 2, run
    errors = world.cli("errors", LINK, "--json")
    assert errors.exit_code == 0 and json.loads(errors.output) == [], errors.output
