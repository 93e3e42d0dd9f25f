"""Posting to Xero: an order system (SQLite) posts through the engine, its posting rules and
the ``xero`` connector to the Xero SANDBOX over real HTTP on 127.0.0.1 (no mocked
transport). Small stories with realistic data (see :mod:`sandbox.xero_posting_support`)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.rules_support import WEB_CUSTOMER, Line, Order
from sandbox.xero_posting_support import (
    LINK,
    Bill,
    Payment,
    XeroWorld,
    add_payments,
    build_xero_world,
)
from sandbox.xero_support import running_sandbox
from syncline.state.rules_store import RulesStore

D = Decimal


@pytest.fixture
def sandbox() -> Iterator[tuple[Any, Any]]:
    with running_sandbox() as running:
        yield running


def _world(tmp_path: Path, sandbox: tuple[Any, Any], **options: Any) -> Iterator[XeroWorld]:
    xero, server = sandbox
    world = build_xero_world(tmp_path, xero, server.url, **options)
    try:
        yield world
    finally:
        world.close()


UNPOSTED = [
    Order("INV-1001", 1, [Line("WIDGET-01", D(4)), Line("CONSULT-HR", D("2.5"))]),
    Order("INV-1002", 2, [Line("GADGET-02", D(1)), Line("SUPPORT-HR", D(3))]),
    Order("INV-1003", 3, [Line("WIDGET-01", D(10), tax_code="Z0")]),
    Order("INV-1004", 1, [Line("SUPPORT-HR", D("1.5")), Line("GADGET-02", D(2))]),
    Order("INV-1005", 2, [Line("WIDGET-01", D(1))]),
]
EXPENSES = [
    Bill("EXP-0001", 50, [("TRAVEL", "Train to Leeds", D("84.50"))]),
    Bill("EXP-0002", 51, [("OFFICE", "Printer paper", D("23.99")),
                          ("OFFICE", "Toner", D("61.00"))]),
    Bill("EXP-0003", 50, [("TRAVEL", "Taxi", D("18.00"))]),
]
BLOCKED = "invoice INV-1001 line 2: no ledger account mapped for product 'CONSULT-HR'"


def _gross(order: Order) -> Decimal:
    return sum((line.amount + line.tax for line in order.lines), D(0))


def test_sync_all_unposted_goes_in_batches_blocks_the_unmapped_then_posts_it_once(
        tmp_path: Path, sandbox: tuple[Any, Any]) -> None:
    for world in _world(tmp_path, sandbox, orders=UNPOSTED, bills=EXPENSES, batch_size=2):
        add_payments(world, [Payment("RCPT-1", "INV-1002", _gross(UNPOSTED[1])),
                             Payment("RCPT-2", "INV-1001", D("10.00")),
                             Payment("RCPT-3", "INV-1004", D("50.00")),
                             Payment("PAY-SUP-1", "EXP-0001", D("101.40"), bill=True)])
        first = world.sync()
        invoices = world.invoices()
        assert sorted(invoices) == ["INV-1002", "INV-1003", "INV-1004", "INV-1005"]
        # the rules' codes, the status on create, the customer; Xero's totals agree
        assert invoices["INV-1002"]["ContactName"] == "Millbrook Bakery"
        assert [(line["ItemCode"], line["AccountCode"], line["TaxType"])
                for line in invoices["INV-1002"]["LineItems"]] == [
            ("GADGET-02", "200", "OUTPUT2"), ("SUPPORT-HR", "260", "OUTPUT2")]
        assert invoices["INV-1003"]["LineItems"][0]["TaxType"] == "ZERORATEDOUTPUT"
        for order in UNPOSTED[1:]:
            assert D(str(invoices[order.number]["Total"])) == _gross(order)
        # paid in full: Xero marks it PAID; part-paid stays AUTHORISED with the balance due
        assert invoices["INV-1002"]["Status"] == "PAID"
        assert invoices["INV-1004"]["Status"] == "AUTHORISED"
        assert D(str(invoices["INV-1004"]["AmountDue"])) == _gross(UNPOSTED[3]) - 50
        # expenses: supplier bills with the mapped expense accounts and purchase VAT
        bills = world.invoices("ACCPAY")
        assert sorted(bills) == ["EXP-0001", "EXP-0002", "EXP-0003"]
        assert {bill["ContactName"] for bill in bills.values()} == {
            "Rail Travel Co", "Paper & Pens Ltd"}
        assert [(line["AccountCode"], line["TaxType"]) for line in
                bills["EXP-0002"]["LineItems"]] == [("429", "INPUT2"), ("429", "INPUT2")]
        assert D(str(bills["EXP-0002"]["Total"])) == D("101.99")
        # the supplier was paid for EXP-0001 (84.50 + 16.90 VAT) out of the bank account
        assert bills["EXP-0001"]["Status"] == "PAID"
        assert [bill["Status"] for number, bill in sorted(bills.items())][1:] == [
            "AUTHORISED", "AUTHORISED"]
        supplier_payment = next(p for p in world.xero("Payments")
                                if p["Reference"] == "PAY-SUP-1")
        assert supplier_payment["PaymentType"] == "ACCPAYPAYMENT"
        assert supplier_payment["Invoice"]["InvoiceNumber"] == "EXP-0001"
        # in batches of two: 4 invoices in 2 requests, 3 bills in 2, 3 payments in 2
        invoice_calls = [e["elements"] for e in world.writes("Invoices")]
        assert sorted(invoice_calls) == [1, 2, 2, 2], invoice_calls
        assert sorted(e["elements"] for e in world.writes("Payments")) == [1, 2]
        # the blocked invoice: its message, pending; its payment waits for it
        assert [row["message"] for row in world.journal("error")
                if row["stream"] == "invoice"] == [BLOCKED]
        assert first.streams["invoice"].errors == 1
        pending = {row["stream"]: row["message"] for row in world.store.pending_items(LINK)}
        assert pending["invoice"] == BLOCKED
        assert "payment" in pending and "not on b yet" in pending["payment"]
        assert len(world.xero("Payments")) == 3

        again = world.sync()
        assert again.streams["invoice"].A == 0 and again.streams["invoice"].errors == 1
        assert sorted(world.invoices()) == ["INV-1002", "INV-1003", "INV-1004", "INV-1005"]

        # mapped to an account the books do not have yet: Xero's own message, still pending
        RulesStore(world.store).set_xref(LINK, "ledger_account", "CONSULT-HR", "270")
        refused = world.sync()
        assert refused.streams["invoice"].errors == 1
        assert "invoice INV-1001: Account code '270' is not a valid code for this document." \
            in [row["message"] for row in world.journal("error") if row["run_id"] == refused.run_id]
        world.user.call("PUT", "/Accounts", json={
            "Code": "270", "Name": "Consulting Income", "Type": "REVENUE",
            "TaxType": "OUTPUT2"}).raise_for_status()
        fixed = world.sync()
        assert fixed.streams["invoice"].A == 1 and fixed.streams["payment"].A == 1
        assert fixed.outcome.value == "ok", fixed.messages
        invoices = world.invoices()
        assert [line["AccountCode"] for line in invoices["INV-1001"]["LineItems"]] == [
            "200", "270"]
        assert D(str(invoices["INV-1001"]["AmountDue"])) == _gross(UNPOSTED[0]) - 10
        assert world.store.pending_items(LINK) == []

        # nothing twice, incremental or full
        for full in (False, True):
            quiet = world.sync(full=full)
            assert quiet.outcome.value == "ok", quiet.messages
            for stream in ("invoice", "bill", "payment"):
                counts = quiet.streams[stream]
                assert counts.A == counts.errors == 0, (stream, counts)
        numbers = [i["InvoiceNumber"] for i in world.xero("Invoices")]
        assert sorted(numbers) == sorted({*numbers}) and len(numbers) == 8
        assert sorted(p["Reference"] for p in world.xero("Payments")) == [
            "PAY-SUP-1", "RCPT-1", "RCPT-2", "RCPT-3"]
        assert len(world.xero("Contacts")) == 6  # Web Customer, 3 customers, 2 suppliers


def test_rounding_within_tolerance_adds_a_line_and_a_warning_beyond_it_blocks(
        tmp_path: Path, sandbox: tuple[Any, Any]) -> None:
    orders = [
        Order("INV-2001", 1, [Line("WIDGET-01", D(3)), Line("GADGET-02", D(1))],
              total_offset=D("0.01")),
        Order("INV-2002", 2, [Line("SUPPORT-HR", D(2))], total_offset=D("5.00")),
        Order("INV-2003", 3, [Line("GADGET-02", D(2))]),
    ]
    for world in _world(tmp_path, sandbox, orders=orders):
        summary = world.sync()
        invoices = world.invoices()
        assert sorted(invoices) == ["INV-2001", "INV-2003"]
        lines = invoices["INV-2001"]["LineItems"]
        assert len(lines) == 3
        assert (lines[-1]["Description"], lines[-1]["AccountCode"]) == ("Rounding", "860")
        assert D(str(lines[-1]["LineAmount"])) == D("0.01")
        # Xero's own total is the order system's to the penny
        assert D(str(invoices["INV-2001"]["Total"])) == _gross(orders[0]) + D("0.01")
        assert [row["message"] for row in world.journal("warning")] == [
            "invoice INV-2001: books total differs by 0.01; rounding line added"]
        assert [row["message"] for row in world.journal("error")] == [
            "invoice INV-2002: books total 204.00 differs from the document total 209.00 by "
            "5.00, more than the tolerance 0.01"]
        assert summary.streams["invoice"].warnings == 1
        assert summary.streams["invoice"].errors == 1
        again = world.sync()
        assert again.streams["invoice"].A == again.streams["invoice"].M == 0
        assert len(world.invoices()["INV-2001"]["LineItems"]) == 3
        assert "INV-2002" not in world.invoices()


def test_proxy_fifty_web_customers_post_to_one_web_customer(
        tmp_path: Path, sandbox: tuple[Any, Any]) -> None:
    orders = [Order(f"WEB-{number:04d}", 1000 + number, [Line("WIDGET-01", D(number % 3 + 1))],
                    bill_to=WEB_CUSTOMER) for number in range(1, 51)]
    orders.append(Order("INV-3001", 1, [Line("GADGET-02", D(1))]))
    for world in _world(tmp_path, sandbox, orders=orders, web_customers=50):
        summary = world.sync()
        assert summary.outcome.value == "ok", summary.messages
        invoices = world.invoices()
        assert len(invoices) == 51
        assert {invoices[f"WEB-{n:04d}"]["ContactName"] for n in range(1, 51)} == {
            "Web Customer"}
        assert invoices["INV-3001"]["ContactName"] == "Harbour Lights Ltd"
        names = {contact["Name"] for contact in world.xero("Contacts")}
        assert not any(name.startswith("Shopper") for name in names)
        assert names == {"Web Customer", "Harbour Lights Ltd", "Millbrook Bakery",
                         "Northgate Surveyors", "Rail Travel Co", "Paper & Pens Ltd"}

        # pulling contacts back: the books rename their Web Customer and add a customer
        web = next(c for c in world.xero("Contacts") if c["Name"] == "Web Customer")
        world.user.call("POST", f"/Contacts/{web['ContactID']}", json={"Contacts": [
            {"Name": "Web Shop Customer"}]}).raise_for_status()
        world.user.call("PUT", "/Contacts", json={"Contacts": [
            {"Name": "Walk-in Trade", "EmailAddress": "walkin@books.example"}]}
        ).raise_for_status()
        before = world.query("SELECT COUNT(*) FROM customers")[0][0]
        back = world.sync()
        assert back.outcome.value == "ok", back.messages
        assert world.query("SELECT COUNT(*) FROM customers")[0][0] == before + 1
        assert world.query(f"SELECT name FROM customers WHERE id = {WEB_CUSTOMER}") == [
            ("Web Shop Customer",)]
        assert world.query("SELECT COUNT(*) FROM customers WHERE name LIKE 'Shopper%'") == [
            (50,)]
        # the web orders keep their real customers locally
        assert world.query("SELECT customer_id FROM orders WHERE order_no = 'WEB-0007'") == [
            (1007,)]
        for full in (False, True):
            settled = world.sync(full=full)
            assert settled.outcome.value == "ok", settled.messages
            for stream in ("contact", "invoice"):
                counts = settled.streams[stream]
                assert counts.A == counts.M == 0, (stream, counts)
        assert len(world.invoices()) == 51
        assert world.query("SELECT COUNT(*) FROM customers")[0][0] == before + 1


def test_unshipped_and_nc_only_never_go_shipping_sends_next_run(
        tmp_path: Path, sandbox: tuple[Any, Any]) -> None:
    orders = [
        Order("INV-4001", 1, [Line("WIDGET-01", D(2))], status="open"),
        Order("INV-4002", 2, [Line("GADGET-02", D(1))], nc_only=True),
        Order("INV-4003", 3, [Line("SUPPORT-HR", D(1))], on_hold=True),
        Order("INV-4004", 3, [Line("SUPPORT-HR", D(2))], status="finished"),
    ]
    bills = [Bill("EXP-4001", 50, [("TRAVEL", "Flight", D("120.00"))], status="draft")]
    for world in _world(tmp_path, sandbox, orders=orders, bills=bills):
        first = world.sync()
        assert sorted(world.invoices()) == ["INV-4004"]
        assert world.invoices("ACCPAY") == {}
        assert first.streams["invoice"].skipped == 3
        assert "invoice: posting rules left out 2 not eligible, 1 kept out of the books" \
            in first.messages
        world.execute("UPDATE orders SET status = 'shipped' WHERE order_no = 'INV-4001'")
        world.execute("UPDATE purchases SET status = 'approved'")
        second = world.sync()
        assert sorted(world.invoices()) == ["INV-4001", "INV-4004"]
        assert second.streams["invoice"].A == 1 and second.streams["bill"].A == 1
        assert sorted(world.invoices("ACCPAY")) == ["EXP-4001"]
        world.execute("UPDATE orders SET on_hold = 0 WHERE order_no = 'INV-4003'")
        world.execute("UPDATE orders SET status = 'finished' WHERE order_no = 'INV-4002'")
        for full in (False, True):
            world.sync(full=full)
            assert sorted(world.invoices()) == ["INV-4001", "INV-4003", "INV-4004"]
        assert len(world.xero("Invoices")) == 4


REFERENCE_SCHEMA = """
CREATE TABLE tax_codes (id INTEGER PRIMARY KEY, code TEXT, name TEXT, rate NUMERIC(6, 2),
                        active INTEGER);
CREATE TABLE gl_accounts (id INTEGER PRIMARY KEY, code TEXT, name TEXT, kind TEXT,
                          vat_code TEXT, active INTEGER);
CREATE TABLE cost_centres (id INTEGER PRIMARY KEY, code TEXT, name TEXT, active INTEGER);
CREATE TABLE projects (id INTEGER PRIMARY KEY, code TEXT, name TEXT, active INTEGER);
"""

REFERENCE_CONFIG = """\
[state]
url = "sqlite:///state.db"

[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"
[endpoints.crm.streams.tax_rate]
table = "tax_codes"
key = "id"
fields = {{ code = "code", name = "name", rate = "rate", active = "active" }}
[endpoints.crm.streams.ledger_account]
table = "gl_accounts"
key = "id"
fields = {{ code = "code", name = "name", type = "kind", tax_rate = "vat_code", active = "active" }}
[endpoints.crm.streams.cost_code]
table = "cost_centres"
key = "id"
fields = {{ code = "code", name = "name", active = "active" }}
[endpoints.crm.streams.project_code]
table = "projects"
key = "id"
fields = {{ code = "code", name = "name", active = "active" }}

[endpoints.books]
connector = "xero"
client_id = "sandbox-client"
client_secret = "sandbox-secret"
sandbox_url = "{url}"
tenant = "Sandbox Company A (UK)"
key_file = "secret.key"
redirect_uri = "http://localhost/cb"
streams = ["tax_rate", "ledger_account", "cost_code", "project_code"]
limits = {{ time_scale = 600.0 }}

[links.reference]
a = "crm"
b = "books"
streams = ["tax_rate", "ledger_account", "cost_code", "project_code"]
direction = "b-to-a"
[links.reference.match]
tax_rate = ["code"]
ledger_account = ["code"]
cost_code = ["code"]
project_code = ["code"]
"""


def test_reference_data_comes_from_the_books_into_the_crm_incrementally(
        tmp_path: Path, sandbox: tuple[Any, Any]) -> None:
    """Tax rates, ledger accounts, cost codes (tracking category Region) and project codes
    (tracking category Project) are pulled from Xero into the CRM database; later runs bring
    only what changed in Xero, ledger accounts through If-Modified-Since."""
    import sqlite3
    from contextlib import closing

    from cryptography.fernet import Fernet

    from sandbox.xero_support import ApiUser, authorize
    from syncline.config import load_config
    from syncline.connectors.xero import XeroConnector
    from syncline.engine import RunRequest, SyncEngine, open_endpoint
    from syncline.state.store import StateStore

    xero, server = sandbox
    with closing(sqlite3.connect(tmp_path / "crm.db")) as db:
        db.executescript(REFERENCE_SCHEMA)
        db.execute("INSERT INTO gl_accounts (code, name, kind, vat_code, active) VALUES "
                   "('200', 'Sales (old name)', 'REVENUE', 'OUTPUT2', 1)")
        db.commit()
    (tmp_path / "secret.key").write_bytes(Fernet.generate_key())
    path = tmp_path / "syncline.toml"
    path.write_text(REFERENCE_CONFIG.format(url=server.url), encoding="utf-8")
    config = load_config(path)
    authorize(XeroConnector("books", config.endpoints["books"].settings, tmp_path))
    crm = open_endpoint(config, "crm")
    crm.open()
    crm.setup(["tax_rate", "ledger_account", "cost_code", "project_code"])
    crm.close()
    store = StateStore.open(config.resolve_url(config.state.url))
    tenant = next(t for t in xero.store.tenants.values() if t.name == "Sandbox Company A (UK)")
    user = ApiUser(server.url, tenant.tenant_id)

    def crm_rows(table: str) -> dict[str, tuple[Any, ...]]:
        with closing(sqlite3.connect(tmp_path / "crm.db")) as db:
            return {row[0]: row[1:] for row in db.execute(
                f"SELECT code, name, active FROM {table}")}

    def sync() -> Any:
        summary = SyncEngine(config, store).run(RunRequest("reference"))
        assert summary.outcome.value == "ok", summary.messages
        return summary

    first = sync()
    rates = crm_rows("tax_codes")
    assert rates["OUTPUT2"] == ("20% (VAT on Income)", 1)
    assert set(rates) == {"OUTPUT2", "INPUT2", "RROUTPUT", "ZERORATEDOUTPUT", "NONE"}
    accounts = crm_rows("gl_accounts")
    assert accounts["200"] == ("Sales", 1)  # paired by code, renamed as in the books
    assert {"090", "400", "429", "860"} <= set(accounts) and len(accounts) == 10
    assert crm_rows("cost_centres") == {"North": ("North", 1), "South": ("South", 1)}
    assert crm_rows("projects") == {"Alpha": ("Alpha", 1), "Beta": ("Beta", 1)}
    assert first.streams["ledger_account"].A == 9 and first.streams["ledger_account"].M == 1

    # the books change: a new account, a renamed one, a new region, a project archived
    user.call("PUT", "/Accounts", json={"Code": "455", "Name": "Consulting Fees",
                                        "Type": "EXPENSE", "TaxType": "INPUT2"}
              ).raise_for_status()
    advertising = next(a for a in tenant.collections["Accounts"].values()
                       if a["Code"] == "400")
    user.call("POST", f"/Accounts/{advertising['AccountID']}", json={"Accounts": [{
        "Name": "Marketing"}]}).raise_for_status()
    from datetime import UTC, datetime

    with xero.store.lock:
        for category in tenant.collections["TrackingCategories"].values():
            if category["Name"] == "Region":
                category["Options"].append({"TrackingOptionID": "6f4fbd3c-0000-4000-8000-"
                                                                "000000000001",
                                            "Name": "East", "Status": "ACTIVE"})
            else:
                category["Options"][1]["Status"] = "ARCHIVED"
            tenant.put("TrackingCategories", category["TrackingCategoryID"], category,
                       datetime.now(UTC))
    log_start = len(xero.store.log_entries())
    second = sync()
    assert (second.streams["ledger_account"].A, second.streams["ledger_account"].M) == (1, 1)
    assert second.streams["cost_code"].A == 1
    # archived in Xero: still a code (old documents carry it), no longer active
    assert (second.streams["project_code"].M, second.streams["project_code"].D) == (1, 0)
    assert second.streams["tax_rate"].to_json() == {**second.streams["tax_rate"].to_json(),
                                                    "A": 0, "M": 0, "D": 0}
    accounts = crm_rows("gl_accounts")
    assert accounts["455"] == ("Consulting Fees", 1) and accounts["400"][0] == "Marketing"
    assert "East" in crm_rows("cost_centres")
    assert crm_rows("projects") == {"Alpha": ("Alpha", 1), "Beta": ("Beta", 0)}
    reads = [entry for entry in xero.store.log_entries()[log_start:]
             if entry["method"] == "GET" and entry["path"].endswith("/Accounts")]
    assert reads and all(entry["modified_since"] for entry in reads)
    assert all(entry["modified_since"].endswith("+00:00") for entry in reads), \
        "If-Modified-Since is sent in UTC with its offset"
    third = sync()
    for stream, counts in third.streams.items():
        assert counts.A == counts.M == counts.D == 0, (stream, counts)
    store.close()


def test_send_all_off_posts_only_what_finance_posts_from_the_cli(
        tmp_path: Path, sandbox: tuple[Any, Any]) -> None:
    """With send_all off, invoices wait until someone posts them (``syncline post``); what is
    blocked shows in ``syncline errors``, warnings in ``syncline journal --outcome warning``."""
    import json

    from typer.testing import CliRunner

    from sandbox.xero_posting_support import RULES
    from syncline.cli.main import app

    rules = RULES.replace('status_on_create = "AUTHORISED"\ntotals',
                          'status_on_create = "AUTHORISED"\nsend_all = false\ntotals')
    orders = [Order("INV-5001", 1, [Line("WIDGET-01", D(1))]),
              Order("INV-5002", 2, [Line("GADGET-02", D(2))], total_offset=D("0.01")),
              Order("INV-5003", 3, [Line("CONSULT-HR", D(1))]),
              Order("INV-5004", 1, [Line("SUPPORT-HR", D(1))])]
    for world in _world(tmp_path, sandbox, orders=orders, rules=rules):
        first = world.sync()
        assert first.outcome.value == "ok", first.messages
        assert world.invoices() == {}
        assert "invoice: posting rules left out 4 waiting for syncline post" in first.messages
        config = str(world.folder / "syncline.toml")
        runner = CliRunner()
        posted = runner.invoke(app, ["post", LINK, "--stream", "invoice", "--key", "INV-5002",
                                     "--key", "INV-5003", "--json", "--config", config])
        assert posted.exit_code == 1, posted.output  # INV-5003 is blocked
        results = {item["document"]: item for item in json.loads(posted.output)}
        assert results["INV-5002"]["outcome"] == "warning"
        assert results["INV-5003"]["outcome"] == "error"
        assert sorted(world.invoices()) == ["INV-5002"]
        assert len(world.invoices()["INV-5002"]["LineItems"]) == 2  # with its rounding line
        errors = runner.invoke(app, ["errors", LINK, "--json", "--config", config])
        assert "no ledger account mapped for product 'CONSULT-HR'" in errors.output
        assert "INV-5003" in errors.output
        warnings = runner.invoke(app, ["journal", LINK, "--outcome", "warning", "--json",
                                       "--config", config])
        assert warnings.exit_code == 0, warnings.output
        assert "invoice INV-5002: books total differs by 0.01; rounding line added" \
            in warnings.output
        # the others still wait; the next sync sends nothing new
        quiet = world.sync()
        assert quiet.streams["invoice"].A == 0
        assert sorted(world.invoices()) == ["INV-5002"]
