"""Issue 17, defects 7 and 8, as a user meets them: an order system (SQLite file or
PostgreSQL) posting to the Xero SANDBOX through ``syncline sync`` under posting rules.

- ``--dry-run``'s summary counts what its plan lists: the documents the rules block are
  errors in both, the rounding-line document a warning in both;
- a ``--full`` or date-scoped re-run sends nothing that is unchanged: no write reaches the
  books and no fresh warning is journalled for the document posted with a rounding line;
- (deliverable 6) an order line can be posted under a proxy item.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.rules_support import Line, Order
from sandbox.posting_cli_support import CliWorld, build_cli_world, cli_worlds
from sandbox.xero_posting_support import LINK, RULES
from sandbox.xero_support import running_sandbox
from syncline.sandbox.xero.values import ms_date

D = Decimal
ROUNDED = "invoice INV-2001: books total differs by 0.01; rounding line added"
BEYOND = ("invoice INV-2002: books total 204.00 differs from the document total 209.00 by "
          "5.00, more than the tolerance 0.01")
UNMAPPED = "invoice INV-2004 line 1: no ledger account mapped for product 'CONSULT-HR'"
ORDERS = [
    Order("INV-2001", 1, [Line("WIDGET-01", D(3)), Line("GADGET-02", D(1))],
          total_offset=D("0.01")),
    Order("INV-2002", 2, [Line("SUPPORT-HR", D(2))], total_offset=D("5.00")),
    Order("INV-2003", 3, [Line("GADGET-02", D(2))]),
    Order("INV-2004", 1, [Line("CONSULT-HR", D(1))]),
]


@pytest.fixture(params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CliWorld]:
    yield from cli_worlds(request, tmp_path, ORDERS)


def _planned(summary: dict[str, Any], action: str) -> list[str]:
    return [change["detail"] for change in summary["planned"]
            if change["stream"] == "invoice" and change["action"] == action]


def _journal(world: CliWorld, outcome: str) -> list[str]:
    rows = world.cli("journal", LINK, "--outcome", outcome, "--stream", "invoice", "--json",
                     "--limit", "1000")
    return sorted(row["message"] for row in json.loads(rows.stdout))


def test_dry_run_counts_what_its_plan_lists(world: CliWorld) -> None:
    dry = world.sync_json("--dry-run", expect=1)  # as the run would: item errors
    counts = dry["streams"]["invoice"]
    assert sorted(_planned(dry, "error")) == [BEYOND, UNMAPPED]
    assert counts["errors"] == 2
    created = _planned(dry, "A")
    assert len(created) == counts["A"] == 2
    assert [detail for detail in created if ROUNDED in detail] == [f"new on a; {ROUNDED}"]
    assert counts["warnings"] == 1
    assert world.invoices() == {}  # a dry run sends nothing

    done = world.sync_json(expect=1)  # item errors: the two blocked documents
    assert {name: done["streams"]["invoice"][name] for name in ("A", "errors", "warnings")} \
        == {"A": 2, "errors": 2, "warnings": 1}
    assert sorted(world.invoices()) == ["INV-2001", "INV-2003"]
    again = world.sync_json("--dry-run", expect=1)
    assert sorted(_planned(again, "error")) == [BEYOND, UNMAPPED]
    assert again["streams"]["invoice"]["errors"] == 2
    assert _planned(again, "A") == _planned(again, "M") == []


@pytest.mark.parametrize("scope", [["--full"], ["--since", "2026-01-01"],
                                   ["--full", "--since", "2026-01-01"], []])
def test_a_full_or_scoped_rerun_sends_nothing_unchanged(world: CliWorld,
                                                        scope: list[str]) -> None:
    world.sync_json(expect=1)
    posted = world.invoices()
    assert len(posted["INV-2001"]["LineItems"]) == 3  # with its rounding line
    assert _journal(world, "warning") == [ROUNDED]
    writes = len(world.writes())
    for _ in range(2):
        rerun = world.sync_json(*scope, expect=1)  # the blocked two are still blocked
        counts = rerun["streams"]["invoice"]
        assert (counts["A"], counts["M"], counts["warnings"], counts["errors"]) == (0, 0, 0, 2)
        assert all(stream["A"] == stream["M"] == stream["D"] == 0
                   for stream in rerun["streams"].values()), rerun["streams"]
    assert len(world.writes()) == writes, world.writes()[writes:]
    assert _journal(world, "warning") == [ROUNDED]  # no fresh warning
    assert world.invoices() == posted

    # a real change to the rounded order goes, with its warning, once
    world.execute("UPDATE orders SET order_date = '2026-11-03' WHERE order_no = 'INV-2001'")
    changed = world.sync_json(*scope, expect=1)
    assert (changed["streams"]["invoice"]["M"], changed["streams"]["invoice"]["warnings"]) \
        == (1, 1)
    assert world.invoices()["INV-2001"]["Date"] == ms_date(date(2026, 11, 3))
    assert world.sync_json(*scope, expect=1)["streams"]["invoice"]["M"] == 0


ITEM_PROXY_RULES = RULES.replace('proxy = { contact = "proxy_contact" }',
                                 'proxy = { contact = "proxy_contact", '
                                 '"lines.item" = "lines.proxy_item" }')


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_an_item_proxy_posts_a_line_under_another_item(request: pytest.FixtureRequest,
                                                      tmp_path: Path, database: str) -> None:
    """Seed 004: an order line of a product the books do not know ('CONSULT-HR', no ledger
    account mapped) posts under the item its ``post_as`` column names; a line without one
    still blocks its document. The order system keeps its own product codes."""
    assert ITEM_PROXY_RULES != RULES
    crm_url = f"sqlite:///{tmp_path / 'crm.db'}" if database == "sqlite" \
        else request.getfixturevalue("postgres_url")
    orders = [Order("INV-3001", 1, [Line("WIDGET-01", D(2)), Line("CONSULT-HR", D(1))]),
              Order("INV-3002", 2, [Line("CONSULT-HR", D(2))])]
    with running_sandbox() as (sandbox, server):
        world = build_cli_world(tmp_path, sandbox, server.url, crm_url, orders=orders,
                                rules=ITEM_PROXY_RULES)
        try:
            world.execute("UPDATE order_lines SET post_as = 'SUPPORT-HR' WHERE order_id = 1 "
                          "AND product_code = 'CONSULT-HR'")
            done = world.sync_json(expect=1)
            assert (done["streams"]["invoice"]["A"], done["streams"]["invoice"]["errors"]) \
                == (1, 1)
            lines = world.invoices()["INV-3001"]["LineItems"]
            assert [line["AccountCode"] for line in lines] == ["200", "260"]
            errors = json.loads(world.cli("errors", LINK, "--json").stdout)
            assert [group["keys"] for group in errors] == [["2"]]
            assert (errors[0]["field"], errors[0]["value"]) == ("ledger_account", "CONSULT-HR")
            engine = sa.create_engine(crm_url)
            try:
                with engine.connect() as db:
                    codes = [row[0] for row in db.execute(sa.text(
                        "SELECT product_code FROM order_lines ORDER BY line_id"))]
            finally:
                engine.dispose()
            assert codes == ["WIDGET-01", "CONSULT-HR", "CONSULT-HR"]
            writes = len(world.writes())
            rerun = world.sync_json("--full", expect=1)
            assert (rerun["streams"]["invoice"]["A"], rerun["streams"]["invoice"]["M"]) == (0, 0)
            assert len(world.writes()) == writes
        finally:
            world.close()


def test_a_one_way_link_rereads_the_rounded_document_as_sent(world: CliWorld) -> None:
    """On a link from the order system to the books only, a full re-run sends the rounded
    document (and the others) nothing again and journals no fresh warning."""
    text = world.config.read_text(encoding="utf-8")
    world.config.write_text(text.replace('max_delete = "25%"\n',
                                         'max_delete = "25%"\ndirection = "a-to-b"\n'),
                            encoding="utf-8")
    assert 'direction = "a-to-b"' in world.config.read_text(encoding="utf-8")
    first = world.sync_json(expect=1)
    assert (first["streams"]["invoice"]["A"], first["streams"]["invoice"]["warnings"]) == (2, 1)
    writes = len(world.writes())
    for _ in range(2):
        again = world.sync_json("--full", expect=1)
        assert (again["streams"]["invoice"]["A"], again["streams"]["invoice"]["M"],
                again["streams"]["invoice"]["warnings"]) == (0, 0, 0)
    assert len(world.writes()) == writes
    assert _journal(world, "warning") == [ROUNDED]


def test_the_books_number_and_link_come_back_into_the_columns_mapped_for_them(
        world: CliWorld) -> None:
    """Deliverable 3 on Xero: ``books_number`` (the InvoiceNumber) and ``books_url`` (Xero's
    link to the invoice, built from its InvoiceID) land in the order system's columns
    mapped for them, from Xero's answer to the create (no extra request); the order keeps
    its own status, and re-runs change nothing."""
    world.execute("ALTER TABLE orders ADD COLUMN books_no TEXT")
    world.execute("ALTER TABLE orders ADD COLUMN books_link TEXT")
    text = world.config.read_text(encoding="utf-8").replace(
        'nc_only = "nc_only"\n',
        'nc_only = "nc_only"\nbooks_number = "books_no"\nbooks_url = "books_link"\n', 1)
    assert text.count("books_link") == 1
    world.config.write_text(text, encoding="utf-8")
    world.cli("setup", LINK)
    world.sync_json(expect=1)  # the two blocked documents
    posted = world.invoices()
    engine = sa.create_engine(world.crm_url)
    try:
        with engine.connect() as db:
            rows = {row[0]: tuple(row[1:]) for row in db.execute(sa.text(
                "SELECT order_no, books_no, books_link, status FROM orders"))}
    finally:
        engine.dispose()
    link = "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID="
    assert rows == {
        "INV-2001": ("INV-2001", link + posted["INV-2001"]["InvoiceID"], "shipped"),
        "INV-2002": (None, None, "shipped"),
        "INV-2003": ("INV-2003", link + posted["INV-2003"]["InvoiceID"], "shipped"),
        "INV-2004": (None, None, "shipped")}
    writes = len(world.writes())
    for scope in ([], ["--full"]):
        again = world.sync_json(*scope, expect=1)
        assert all(stream["A"] == stream["M"] == stream["D"] == 0
                   for stream in again["streams"].values()), again["streams"]
    assert len(world.writes()) == writes


def test_a_one_way_stream_leaves_a_paid_invoice_edited_in_xero_after_one_warning(
        world: CliWorld) -> None:
    """Deliverable 4 on Xero: with invoices going one way (``directions``), a bookkeeper's
    edit of an invoice that is paid before the next run cannot be put back: it is journalled
    ``skipped`` with a warning naming the invoice, once; later runs send and warn nothing."""
    with world.config.open("a", encoding="utf-8") as config:
        config.write('\n[links.crm-books.directions]\ninvoice = "a-to-b"\n')
    world.sync_json(expect=1)  # the two blocked documents
    invoice = world.invoices()["INV-2003"]
    world.user.call("POST", f"/Invoices/{invoice['InvoiceID']}", json={"Invoices": [{
        "InvoiceID": invoice["InvoiceID"], "Date": "2026-11-20"}]}).raise_for_status()
    world.user.call("PUT", "/Payments", json={"Payments": [{
        "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"},
        "Date": "2026-11-21", "Amount": invoice["AmountDue"]}]}).raise_for_status()
    assert world.invoices()["INV-2003"]["Status"] == "PAID"
    writes = len(world.writes())
    first = world.sync_json("--full", expect=1)
    assert (first["streams"]["invoice"]["M"], first["streams"]["invoice"]["warnings"]) \
        == (0, 1), first["streams"]
    skipped = [row["message"] for row in json.loads(world.cli(
        "journal", LINK, "--outcome", "skipped", "--stream", "invoice", "--json").stdout)]
    assert len(skipped) == 1 and "INV-2003 is paid in Xero" in skipped[0], skipped
    for scope in ([], ["--full"], []):
        again = world.sync_json(*scope, expect=1)
        assert (again["streams"]["invoice"]["M"], again["streams"]["invoice"]["warnings"]) \
            == (0, 0), again["streams"]
    assert len(world.writes()) == writes
    assert world.invoices()["INV-2003"]["Date"] == ms_date(date(2026, 11, 20))
    assert len(json.loads(world.cli("journal", LINK, "--outcome", "skipped", "--stream",
                                    "invoice", "--json").stdout)) == 1
