"""Issue 17, defect 8 on QuickBooks Online, as a user meets it: an order system (SQLite file
or PostgreSQL) linked both ways to the QBO SANDBOX through ``syncline sync`` under posting
rules (see :mod:`sandbox.qbo_posting_support`).

QuickBooks completes every invoice it stores with details of its own (line numbers, item
names, tax lines, totals). A ``--full`` or date-scoped re-run after posting must still send
nothing to the books and write nothing back to the order system: the mapping keeps the hash
of the invoice as QuickBooks answered the write with it, not of what was sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.rules_support import Line, Order
from sandbox.order_db import order_database
from sandbox.qbo_posting_support import QboWorld, build_qbo_world
from sandbox.qbo_server import active, running_sandbox
from syncline.sandbox.qbo import SandboxServer

D = Decimal
ORDERS = [
    Order("INV-2001", 1, [Line("WIDGET-01", D(3)), Line("GADGET-02", D(1))],
          total_offset=D("0.01")),
    Order("INV-2003", 3, [Line("GADGET-02", D(2))]),
    Order("INV-2005", 2, [Line("SUPPORT-HR", D(2)), Line("WIDGET-01", D(1))]),
]
ROUNDED = "invoice INV-2001: books total differs by 0.01; rounding line added"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with running_sandbox() as running:
        yield running


def _writes(world: QboWorld) -> list[str]:
    """The writes the sandbox answered for the world's company (method and path)."""
    return [f"{entry.method} {entry.path}" for entry in world.server.state.log.snapshot()
            if entry.realm == world.company.realm_id and entry.method == "POST"
            and not entry.path.endswith("/query")]


def _orders(world: QboWorld) -> list[tuple[object, ...]]:
    with order_database(world.crm_url) as db:
        return [tuple(row) for row in db.execute(
            "SELECT order_no, status, net, vat, gross, order_date FROM orders "
            "ORDER BY order_no", ()).fetchall()]


@pytest.mark.parametrize("scope", [["--full"], ["--since", "2026-01-01"], []])
def test_a_full_or_scoped_rerun_sends_and_writes_back_nothing(
        tmp_path: Path, server: SandboxServer, crm_url: str | None, scope: list[str]) -> None:
    world = build_qbo_world(tmp_path, server, orders=ORDERS, crm_url=crm_url)
    first = world.sync()
    assert (first["streams"]["invoice"]["A"], first["streams"]["invoice"]["warnings"]) \
        == (3, 1), first
    posted = world.invoices()
    orders = _orders(world)
    writes = len(_writes(world))
    for _ in range(2):
        again = world.sync(*scope)
        assert all(stream["A"] == stream["M"] == stream["D"] == 0
                   for stream in again["streams"].values()), again["streams"]
        assert again["streams"]["invoice"]["warnings"] == 0
    assert _writes(world)[writes:] == []
    assert world.invoices() == posted
    assert _orders(world) == orders
    assert [row["message"] for row in world.journal("warning")
            if row["stream"] == "invoice"] == [ROUNDED]

    # a real change to an order goes once, and QBO's answer to the update is what the
    # mapping keeps: the re-runs after it send and write back nothing either
    world.execute("UPDATE orders SET order_date = '2026-11-03' WHERE order_no IN "
                  "('INV-2001', 'INV-2005')")
    changed = world.sync(*scope)
    assert (changed["streams"]["invoice"]["M"], changed["streams"]["invoice"]["warnings"]) \
        == (2, 1), changed["streams"]
    assert world.invoices()["INV-2005"]["TxnDate"] == "2026-11-03"
    posted, orders, writes = world.invoices(), _orders(world), len(_writes(world))
    for _ in range(2):
        again = world.sync(*scope)
        assert all(stream["A"] == stream["M"] == stream["D"] == 0
                   for stream in again["streams"].values()), again["streams"]
    assert _writes(world)[writes:] == []
    assert (world.invoices(), _orders(world)) == (posted, orders)


def test_terms_go_as_the_sales_term_and_an_unmapped_one_goes_without(
        tmp_path: Path, server: SandboxServer, crm_url: str | None) -> None:
    """Deliverable 2 on QBO: an order's payment term goes as the invoice's SalesTermRef
    through the ``term`` xref table; a term with no entry goes without one (QBO applies the
    customer's or the company's default terms) and with a warning; re-runs send nothing."""
    world = build_qbo_world(tmp_path, server, orders=ORDERS[1:], crm_url=crm_url, setup=False)
    world.execute("ALTER TABLE orders ADD COLUMN terms TEXT")
    world.execute("UPDATE orders SET terms = 'NET30' WHERE order_no = 'INV-2003'")
    world.execute("UPDATE orders SET terms = 'NET45' WHERE order_no = 'INV-2005'")
    net30 = next(term["Id"] for term in active(world.company, "Term")
                 if term["Name"] == "Net 30")
    text = world.config.read_text(encoding="utf-8")
    text = text.replace('nc_only = "nc_only"\n', 'nc_only = "nc_only"\nterm = "terms"\n', 1)
    text = text.replace('xref = { "lines.item" = "item", ',
                        'xref = { term = "term", "lines.item" = "item", ', 1)
    world.config.write_text(text + f'\n[links.crm-books.xref.term]\n"NET30" = "{net30}"\n',
                            encoding="utf-8")
    assert world.cli("setup", "crm-books").exit_code == 0
    first = world.sync()
    assert (first["streams"]["invoice"]["A"], first["streams"]["invoice"]["warnings"]) \
        == (2, 1), first
    invoices = world.invoices()
    assert invoices["INV-2003"]["SalesTermRef"]["value"] == net30
    assert invoices["INV-2003"]["DueDate"] == "2026-12-02"  # 30 days after 2026-11-02
    assert "SalesTermRef" not in invoices["INV-2005"]
    assert [row["message"] for row in world.journal("warning")] == [
        "invoice INV-2005: no term mapped for payment term 'NET45'; sent without it: the "
        "books' default terms apply"]
    writes = len(_writes(world))
    again = world.sync("--full")
    assert (again["streams"]["invoice"]["M"], again["streams"]["invoice"]["warnings"]) \
        == (0, 0), again["streams"]
    assert _writes(world)[writes:] == []


def test_the_books_number_and_link_come_back_into_the_columns_mapped_for_them(
        tmp_path: Path, server: SandboxServer, crm_url: str | None) -> None:
    """Deliverable 3 on QBO: ``books_number`` (the DocNumber) and ``books_url`` (a link
    built from the realm and the invoice's Id) land in the order system's columns mapped
    for them, from QBO's answer to the create (no extra request); re-runs change nothing."""
    world = build_qbo_world(tmp_path, server, orders=ORDERS[1:2], crm_url=crm_url,
                            setup=False)
    world.execute("ALTER TABLE orders ADD COLUMN books_no TEXT")
    world.execute("ALTER TABLE orders ADD COLUMN books_link TEXT")
    text = world.config.read_text(encoding="utf-8").replace(
        'nc_only = "nc_only"\n',
        'nc_only = "nc_only"\nbooks_number = "books_no"\nbooks_url = "books_link"\n', 1)
    world.config.write_text(text, encoding="utf-8")
    assert world.cli("setup", "crm-books").exit_code == 0
    first = world.sync()
    assert first["streams"]["invoice"]["A"] == 1, first
    invoice = world.invoices()["INV-2003"]
    with order_database(world.crm_url) as db:
        row = db.execute("SELECT books_no, books_link, status FROM orders", ()).fetchall()
    assert row == [("INV-2003", f"https://app.qbo.intuit.com/app/invoice?txnId="
                                f"{invoice['Id']}&companyId={world.company.realm_id}",
                    "shipped")]
    writes = len(_writes(world))
    for scope in ([], ["--full"]):
        again = world.sync(*scope)
        assert all(stream["A"] == stream["M"] == stream["D"] == 0
                   for stream in again["streams"].values()), again["streams"]
    assert _writes(world)[writes:] == []


def test_a_one_way_stream_leaves_a_paid_document_edited_in_the_books_after_one_warning(
        tmp_path: Path, server: SandboxServer, crm_url: str | None) -> None:
    """Deliverable 4: on a stream that goes one way (``directions``: ``a-to-b``) the order
    system's fields are put back over the books' edits; a paid document cannot take them,
    so its edit is journalled ``skipped`` with a warning naming it, once, and later runs
    send nothing to it (not a write, or a warning, per run)."""
    world = build_qbo_world(tmp_path, server, orders=ORDERS[1:], crm_url=crm_url)
    with world.config.open("a", encoding="utf-8") as config:
        config.write('\n[links.crm-books.directions]\ninvoice = "a-to-b"\n')
    assert world.sync()["streams"]["invoice"]["A"] == 2
    invoices = world.invoices()
    world.pay("INV-2003", float(invoices["INV-2003"]["TotalAmt"]))
    for number in ("INV-2003", "INV-2005"):  # the bookkeeper moves both invoices' dates
        current = world.invoices()[number]
        world.company.update("Invoice", {"Id": current["Id"], "SyncToken": current["SyncToken"],
                                         "sparse": True, "TxnDate": "2026-11-20"})
    first = world.sync("--full")
    assert (first["streams"]["invoice"]["M"], first["streams"]["invoice"]["warnings"],
            first["streams"]["invoice"]["errors"]) == (1, 1, 0), first["streams"]
    after = world.invoices()
    assert (after["INV-2003"]["TxnDate"], after["INV-2005"]["TxnDate"]) \
        == ("2026-11-20", "2026-11-02")  # the paid one keeps the books' edit
    warned = [row["message"] for row in world.journal("skipped") if row["stream"] == "invoice"]
    assert len(warned) == 1 and "INV-2003 is paid in QuickBooks Online" in warned[0], warned
    writes = len(_writes(world))
    for scope in ([], ["--full"], []):
        again = world.sync(*scope)
        counts = again["streams"]["invoice"]
        assert (counts["M"], counts["warnings"], counts["errors"]) == (0, 0, 0), counts
    assert _writes(world)[writes:] == []
    assert len([row for row in world.journal("skipped") if row["stream"] == "invoice"]) == 1
