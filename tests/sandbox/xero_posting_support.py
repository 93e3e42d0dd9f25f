"""A posting world against the Xero SANDBOX: an order system (``crm.db``, SQLite, or a
PostgreSQL database: ``crm_url``; through the ``sql`` connector) posting customers, sales
invoices, expenses (supplier bills) and payments to a Xero organisation
(the sandbox, over real HTTP on 127.0.0.1, through the ``xero``
connector), with the posting rules of :mod:`engine.rules_support` (eligibility, exclusion,
xref of product and tax codes, a proxy 'Web Customer', totals check, status on create).

The order system's products are also Xero items (same codes; ``items=False``: they are
not, and lines go as account lines); the xref tables say which
ledger account and tax rate each product and tax code posts to. Expenses are coded with the
order system's own expense codes (``TRAVEL``, ``OFFICE``...) and purchase tax codes
(``P20``), mapped in place to Xero's account codes and tax types. Payments received for
invoices and payments made for bills share one table (``receipts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from engine.rules_support import CRM_ENDPOINT as RULES_CRM_ENDPOINT
from engine.rules_support import CRM_SCHEMA, CUSTOMERS, PRODUCTS, Order, insert_orders
from sandbox.order_db import order_database
from sandbox.xero_support import ApiUser, authorize
from syncline.config import Config, load_config
from syncline.connectors.xero import XeroConnector
from syncline.engine import RunMode, RunRequest, RunSummary, SyncEngine, open_endpoint
from syncline.sandbox.xero import XeroSandbox
from syncline.state.store import StateStore

__all__ = ["Bill", "Payment", "XeroWorld", "build_xero_world", "seed_organisation"]

TENANT = "Sandbox Company A (UK)"
LINK = "crm-books"

PURCHASE_SCHEMA = """
CREATE TABLE purchases (
    purchase_id INTEGER PRIMARY KEY,
    bill_no     TEXT NOT NULL UNIQUE,
    supplier_id INTEGER REFERENCES customers(id),
    bill_date   DATE,
    currency    TEXT,
    status      TEXT,
    net         NUMERIC(12, 2),
    vat         NUMERIC(12, 2),
    gross       NUMERIC(12, 2)
);
CREATE TABLE purchase_lines (
    line_id      INTEGER PRIMARY KEY,
    purchase_id  INTEGER NOT NULL REFERENCES purchases(purchase_id) ON DELETE CASCADE,
    pos          INTEGER NOT NULL,
    description  TEXT,
    expense_code TEXT,
    qty          NUMERIC(10, 2),
    price        NUMERIC(12, 2),
    amount       NUMERIC(12, 2),
    tax_code     TEXT,
    tax          NUMERIC(12, 2)
);
CREATE TABLE receipts (
    receipt_id   INTEGER PRIMARY KEY,
    reference    TEXT NOT NULL,
    order_id     INTEGER REFERENCES orders(order_id),
    purchase_id  INTEGER REFERENCES purchases(purchase_id),
    paid_on      DATE,
    amount       NUMERIC(12, 2),
    bank_account TEXT
);
"""

SUPPLIERS = [(50, "Rail Travel Co", "bookings@railtravel.example", "supplier"),
             (51, "Paper & Pens Ltd", "sales@paperpens.example", "supplier")]

CRM_ENDPOINT = RULES_CRM_ENDPOINT + """\
[endpoints.crm.streams.bill]
table = "purchases"
key = "purchase_id"
[endpoints.crm.streams.bill.fields]
number = "bill_no"
contact = "supplier_id"
date = "bill_date"
currency = "currency"
status = "status"
subtotal = "net"
tax_total = "vat"
total = "gross"
[endpoints.crm.streams.bill.lines]
table = "purchase_lines"
key = "line_id"
parent = "purchase_id"
order = "pos"
[endpoints.crm.streams.bill.lines.fields]
description = "description"
ledger_account = "expense_code"
quantity = "qty"
unit_price = "price"
line_amount = "amount"
tax_rate = "tax_code"
tax_amount = "tax"
[endpoints.crm.streams.payment]
table = "receipts"
key = "receipt_id"
[endpoints.crm.streams.payment.fields]
reference = "reference"
invoice = "order_id"
bill = "purchase_id"
date = "paid_on"
amount = "amount"
ledger_account = "bank_account"
"""

BOOKS_ENDPOINT = """
[endpoints.books]
connector = "xero"
client_id = "sandbox-client"
client_secret = "sandbox-secret"
sandbox_url = "{url}"
tenant = "{tenant}"
key_file = "secret.key"
redirect_uri = "http://localhost/cb"
streams = ["contact", "invoice", "bill", "payment"]
batch_size = {batch_size}
limits = {{ time_scale = 600.0 }}

[links.crm-books]
a = "crm"
b = "books"
streams = ["contact", "invoice", "bill", "payment"]
match = {{ contact = ["email"], invoice = ["number"], bill = ["number"] }}
max_delete = "25%"
"""

RULES = """
[links.crm-books.rules.invoice]
eligible = "status in ['shipped', 'finished'] && !on_hold"
exclude_flag = "nc_only"
status_on_create = "AUTHORISED"
totals = { tolerance = 0.01, above = "error", rounding_account = "860" }
xref = { "lines.item" = "ledger_account", "lines.tax_rate" = "tax_rate" }
proxy = { contact = "proxy_contact" }

[links.crm-books.rules.bill]
eligible = "status == 'approved'"
status_on_create = "AUTHORISED"
xref = { "lines.ledger_account" = "ledger_account", "lines.tax_rate" = "tax_rate" }

[links.crm-books.rules.contact]
eligible = "categories != 'web'"

[links.crm-books.xref.ledger_account]
"WIDGET-01" = "200"
"GADGET-02" = "200"
"SUPPORT-HR" = "260"
"TRAVEL" = "400"
"OFFICE" = "429"

[links.crm-books.xref.tax_rate]
"S20" = "OUTPUT2"
"Z0" = "ZERORATEDOUTPUT"
"P20" = "INPUT2"
"""


@dataclass
class Bill:
    """A supplier bill (an expense) in the order system: one line per (code, net)."""

    number: str
    supplier: int
    lines: list[tuple[str, str, Decimal]]
    status: str = "approved"


@dataclass
class Payment:
    """A customer payment received against an order's invoice, or (``bill``) a payment made
    to a supplier for a bill."""

    reference: str
    number: str
    amount: Decimal
    bill: bool = False


@dataclass
class XeroWorld:
    """The order system, the running sandbox, the config and the state store of one test."""

    folder: Path
    config: Config
    store: StateStore
    sandbox: XeroSandbox
    user: ApiUser
    crm_url: str = ""

    @property
    def crm(self) -> Path:
        return self.folder / "crm.db"

    @property
    def tenant_id(self) -> str:
        return self.user.tenant

    def sync(self, *streams: str, full: bool = False) -> RunSummary:
        mode = RunMode.FULL if full else RunMode.INCREMENTAL
        return SyncEngine(self.config, self.store).run(
            RunRequest(LINK, mode=mode, streams=frozenset(streams)))

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with order_database(self.crm_url or f"sqlite:///{self.crm}") as db:
            return db.execute(sql, args).fetchall()

    def execute(self, sql: str, *args: Any) -> None:
        with order_database(self.crm_url or f"sqlite:///{self.crm}") as db:
            db.execute(sql, args)

    def xero(self, collection: str) -> list[dict[str, Any]]:
        """Every record of ``collection`` the organisation holds (SANDBOX state)."""
        records: list[dict[str, Any]] = self.sandbox.store.snapshot()[self.tenant_id][
            collection]
        return records

    def invoices(self, kind: str = "ACCREC") -> dict[str, dict[str, Any]]:
        """The organisation's live documents of ``kind`` by number, with their contact's
        name."""
        names = {c["ContactID"]: c["Name"] for c in self.xero("Contacts")}
        return {i["InvoiceNumber"]: {**i, "ContactName": names[i["Contact"]["ContactID"]]}
                for i in self.xero("Invoices")
                if i["Type"] == kind and i["Status"] not in ("DELETED", "VOIDED")}

    def journal(self, outcome: str | None = None) -> list[dict[str, Any]]:
        return self.store.journal(LINK, outcome=outcome, limit=None)

    def writes(self, collection: str) -> list[dict[str, Any]]:
        """The sandbox's log of write calls to ``collection`` (batched requests)."""
        return [entry for entry in self.sandbox.store.log_entries()
                if entry["method"] in ("PUT", "POST")
                and entry["path"].endswith(f"/{collection}") and entry["status"] == 200]

    def close(self) -> None:
        self.store.close()
        self.user.http.close()


def _insert_bills(db: Any, bills: Sequence[Bill]) -> None:
    for bill in bills:
        nets = [net for _, _, net in bill.lines]
        taxes = [(net * Decimal("0.20")).quantize(Decimal("0.01")) for net in nets]
        cursor = db.execute(
            "INSERT INTO purchases (bill_no, supplier_id, bill_date, currency, status, net, vat,"
            " gross) VALUES (?, ?, '2026-11-03', 'GBP', ?, ?, ?, ?)",
            (bill.number, bill.supplier, bill.status, str(sum(nets)), str(sum(taxes)),
             str(sum(nets) + sum(taxes))))
        for position, ((code, text, net), tax) in enumerate(zip(bill.lines, taxes, strict=True),
                                                            start=1):
            db.execute("INSERT INTO purchase_lines (purchase_id, pos, description, "
                       "expense_code, qty, price, amount, tax_code, tax) VALUES "
                       "(?, ?, ?, ?, 1, ?, ?, 'P20', ?)",
                       (cursor.lastrowid, position, text, code, str(net), str(net), str(tax)))


def add_payments(world: XeroWorld, payments: Sequence[Payment]) -> None:
    for payment in payments:
        if payment.bill:
            world.execute("INSERT INTO receipts (reference, purchase_id, paid_on, amount, "
                          "bank_account) SELECT ?, purchase_id, '2026-11-21', ?, '090' FROM "
                          "purchases WHERE bill_no = ?", payment.reference,
                          str(payment.amount), payment.number)
            continue
        world.execute("INSERT INTO receipts (reference, order_id, paid_on, amount, bank_account)"
                      " SELECT ?, order_id, '2026-11-20', ?, '090' FROM orders WHERE "
                      "order_no = ?", payment.reference, str(payment.amount), payment.number)


def seed_organisation(sandbox: XeroSandbox, url: str, *, items: bool = True) -> ApiUser:
    """Give the sandbox's organisation the 'Web Customer' contact and (with ``items``) the
    order system's products as items; returns a user of that organisation."""
    tenant = next(t.tenant_id for t in sandbox.store.tenants.values() if t.name == TENANT)
    user = ApiUser(url, tenant)
    seeded = user.call("PUT", "/Contacts", json={"Contacts": [
        {"Name": "Web Customer", "EmailAddress": "webshop@books.example"}]})
    assert seeded.status_code == 200, seeded.text
    if items:
        made = user.call("PUT", "/Items", json={"Items": [
            {"Code": code, "Name": name, "SalesDetails": {"UnitPrice": float(price)}}
            for code, (name, price) in PRODUCTS.items()]})
        assert made.status_code == 200, made.text
    return user


def build_xero_world(folder: Path, sandbox: XeroSandbox, url: str, *,
                     orders: Sequence[Order] = (), bills: Sequence[Bill] = (),
                     web_customers: int = 0, batch_size: int = 50,
                     rules: str = RULES, crm_url: str | None = None,
                     items: bool = True) -> XeroWorld:
    """Create the order system (in ``crm.db``, or the empty database ``crm_url``), seed the
    organisation (the 'Web Customer' contact and, with ``items``, the products as items),
    write the config, authorize the endpoint and open the state store."""
    with order_database(crm_url or f"sqlite:///{folder / 'crm.db'}") as db:
        db.executescript(CRM_SCHEMA + PURCHASE_SCHEMA)
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", CUSTOMERS + SUPPLIERS)
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, 'web')", [
            (1000 + number, f"Shopper {number:02d}", f"shopper{number:02d}@mail.example")
            for number in range(1, web_customers + 1)])
        insert_orders(db, orders)
        _insert_bills(db, bills)
    user = seed_organisation(sandbox, url, items=items)
    (folder / "secret.key").write_bytes(Fernet.generate_key())
    path = folder / "syncline.toml"
    crm = CRM_ENDPOINT if crm_url is None else CRM_ENDPOINT.replace(
        'url = "sqlite:///crm.db"', f'url = "{crm_url}"')
    path.write_text(crm + BOOKS_ENDPOINT.format(url=url, tenant=TENANT,
                                                batch_size=batch_size) + rules,
                    encoding="utf-8")
    config = load_config(path)
    authorize(XeroConnector("books", config.endpoints["books"].settings, folder))
    crm = open_endpoint(config, "crm")
    crm.open()
    try:
        crm.setup(["contact", "invoice", "bill", "payment"])
    finally:
        crm.close()
    store = StateStore.open(config.resolve_url(config.state.url))
    return XeroWorld(folder, config, store, sandbox, user, crm_url or "")
