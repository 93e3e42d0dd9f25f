"""A small posting world for the posting-rules tests: an order system (``crm.db``) and an
accounting package (``books.db``), two SQLite databases with their own schemas, linked by
the ``crm-books`` link with posting rules on invoices (and contacts).

The order system keeps customers (``segment`` 'web' for web-shop customers, 'proxy' for the
one 'Web Customer' account web orders are billed to) and orders with lines; an order carries
``on_hold`` and ``nc_only`` flags and, for web orders, ``bill_to`` (the proxy customer).
Products and tax codes are the order system's own codes; the books want ledger accounts and
their own tax rate codes: the xref tables map them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from syncline.config import Config, load_config
from syncline.engine import RunMode, RunRequest, RunSummary, SyncEngine, open_endpoint
from syncline.state.store import StateStore

CRM_SCHEMA = """
CREATE TABLE customers (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    email   TEXT,
    segment TEXT
);
CREATE TABLE orders (
    order_id    INTEGER PRIMARY KEY,
    order_no    TEXT NOT NULL UNIQUE,
    customer_id INTEGER REFERENCES customers(id),
    bill_to     INTEGER REFERENCES customers(id),
    order_date  DATE,
    currency    TEXT,
    status      TEXT,
    net         NUMERIC(12, 2),
    vat         NUMERIC(12, 2),
    gross       NUMERIC(12, 2),
    on_hold     INTEGER NOT NULL DEFAULT 0,
    nc_only     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE order_lines (
    line_id      INTEGER PRIMARY KEY,
    order_id     INTEGER NOT NULL REFERENCES orders(order_id) ON DELETE CASCADE,
    pos          INTEGER NOT NULL,
    description  TEXT,
    product_code TEXT,
    qty          NUMERIC(10, 2),
    price        NUMERIC(12, 2),
    amount       NUMERIC(12, 2),
    tax_code     TEXT,
    tax          NUMERIC(12, 2)
);
"""

BOOKS_SCHEMA = """
CREATE TABLE contacts (
    contact_id INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    segment    TEXT
);
CREATE TABLE invoices (
    inv_id     INTEGER PRIMARY KEY,
    inv_number TEXT NOT NULL UNIQUE,
    contact_id INTEGER REFERENCES contacts(contact_id),
    inv_date   DATE,
    curr       TEXT,
    state      TEXT,
    net        NUMERIC(12, 2),
    vat        NUMERIC(12, 2),
    gross      NUMERIC(12, 2)
);
CREATE TABLE invoice_lines (
    id        INTEGER PRIMARY KEY,
    inv_id    INTEGER NOT NULL REFERENCES invoices(inv_id) ON DELETE CASCADE,
    pos       INTEGER NOT NULL,
    text      TEXT,
    item_code TEXT,
    qty       NUMERIC(10, 2),
    price     NUMERIC(12, 2),
    amount    NUMERIC(12, 2),
    account   TEXT,
    tax_type  TEXT,
    tax       NUMERIC(12, 2)
);
"""

CRM_ENDPOINT = """\
[state]
url = "sqlite:///state.db"

[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"
[endpoints.crm.streams.contact]
table = "customers"
key = "id"
fields = { name = "name", email = "email", categories = "segment" }
[endpoints.crm.streams.invoice]
table = "orders"
key = "order_id"
[endpoints.crm.streams.invoice.fields]
number = "order_no"
contact = "customer_id"
proxy_contact = "bill_to"
date = "order_date"
currency = "currency"
status = "status"
subtotal = "net"
tax_total = "vat"
total = "gross"
on_hold = "on_hold"
nc_only = "nc_only"
[endpoints.crm.streams.invoice.lines]
table = "order_lines"
key = "line_id"
parent = "order_id"
order = "pos"
[endpoints.crm.streams.invoice.lines.fields]
description = "description"
item = "product_code"
quantity = "qty"
unit_price = "price"
line_amount = "amount"
tax_rate = "tax_code"
tax_amount = "tax"
"""
"""The state store and the order system (crm): customers, and orders with lines as invoices."""

ENDPOINTS = CRM_ENDPOINT + """
[endpoints.books]
connector = "sql"
url = "sqlite:///books.db"
[endpoints.books.streams.contact]
table = "contacts"
key = "contact_id"
fields = { name = "name", email = "email", categories = "segment" }
[endpoints.books.streams.invoice]
table = "invoices"
key = "inv_id"
[endpoints.books.streams.invoice.fields]
number = "inv_number"
contact = "contact_id"
date = "inv_date"
currency = "curr"
status = "state"
subtotal = "net"
tax_total = "vat"
total = "gross"
[endpoints.books.streams.invoice.lines]
table = "invoice_lines"
key = "id"
parent = "inv_id"
order = "pos"
[endpoints.books.streams.invoice.lines.fields]
description = "text"
item = "item_code"
quantity = "qty"
unit_price = "price"
line_amount = "amount"
ledger_account = "account"
tax_rate = "tax_type"
tax_amount = "tax"

[links.crm-books]
a = "crm"
b = "books"
streams = ["contact", "invoice"]
match = { contact = ["email"], invoice = ["number"] }
max_delete = "25%"
"""

INVOICE_RULES = """
[links.crm-books.rules.invoice]
eligible = "status in ['shipped', 'finished'] && !on_hold"
exclude_flag = "nc_only"
status_on_create = "AUTHORISED"
totals = { tolerance = 0.01, above = "error", rounding_account = "860" }
xref = { "lines.item" = "ledger_account", "lines.tax_rate" = "tax_rate" }
proxy = { contact = "proxy_contact" }

[links.crm-books.rules.contact]
eligible = "categories != 'web'"

[links.crm-books.xref.ledger_account]
"WIDGET-01" = "200"
"GADGET-02" = "200"
"SUPPORT-HR" = "260"

[links.crm-books.xref.tax_rate]
"S20" = "OUTPUT2"
"Z0" = "ZERORATEDOUTPUT"
"""

WEB_CUSTOMER = 900
"""The order system's key of its 'Web Customer' proxy account."""

PRODUCTS = {"WIDGET-01": ("Widget, blue", Decimal("12.50")),
            "GADGET-02": ("Gadget with stand", Decimal("40.00")),
            "SUPPORT-HR": ("Support, per hour", Decimal("85.00")),
            "CONSULT-HR": ("Consulting, per hour", Decimal("120.00"))}


@dataclass
class Line:
    product: str
    quantity: Decimal
    tax_code: str = "S20"
    price: Decimal | None = None

    @property
    def unit_price(self) -> Decimal:
        return self.price if self.price is not None else PRODUCTS[self.product][1]

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))

    @property
    def tax(self) -> Decimal:
        rate = Decimal("0.20") if self.tax_code == "S20" else Decimal(0)
        return (self.amount * rate).quantize(Decimal("0.01"))


@dataclass
class Order:
    number: str
    customer: int
    lines: list[Line]
    status: str = "shipped"
    on_hold: bool = False
    nc_only: bool = False
    bill_to: int | None = None
    total_offset: Decimal = Decimal(0)
    """Added to the computed gross: how a test makes the local total disagree."""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    """The two databases, the config and the state store of one test."""

    folder: Path
    config: Config
    store: StateStore

    @property
    def crm(self) -> Path:
        return self.folder / "crm.db"

    @property
    def books(self) -> Path:
        return self.folder / "books.db"

    def sync(self, *streams: str, dry_run: bool = False, full: bool = False) -> RunSummary:
        mode = RunMode.FULL if full else RunMode.INCREMENTAL
        return SyncEngine(self.config, self.store).run(
            RunRequest("crm-books", mode=mode, streams=frozenset(streams), dry_run=dry_run))

    def query(self, database: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(database)) as db:
            return db.execute(sql, args).fetchall()

    def execute(self, database: Path, sql: str, *args: Any) -> None:
        with closing(sqlite3.connect(database)) as db:
            db.execute(sql, args)
            db.commit()

    def add_orders(self, orders: Sequence[Order]) -> None:
        with closing(sqlite3.connect(self.crm)) as db:
            insert_orders(db, orders)
            db.commit()

    def books_invoices(self) -> dict[str, dict[str, Any]]:
        """The books' invoices by number: head columns, contact name and lines."""
        out: dict[str, dict[str, Any]] = {}
        for inv_id, number, contact, state, gross in self.query(
                self.books, "SELECT i.inv_id, inv_number, c.name, state, gross FROM invoices i "
                            "LEFT JOIN contacts c ON c.contact_id = i.contact_id"):
            lines = self.query(self.books, "SELECT text, item_code, qty, price, amount, account, "
                                           "tax_type, tax FROM invoice_lines WHERE inv_id = ? "
                                           "ORDER BY pos", inv_id)
            out[number] = {"contact": contact, "state": state, "gross": gross, "lines": lines}
        return out

    def journal(self, outcome: str | None = None) -> list[dict[str, Any]]:
        return self.store.journal("crm-books", outcome=outcome, limit=None)


def insert_orders(db: sqlite3.Connection, orders: Sequence[Order]) -> None:
    for order in orders:
        net = sum((line.amount for line in order.lines), Decimal(0))
        vat = sum((line.tax for line in order.lines), Decimal(0))
        gross = net + vat + order.total_offset
        cursor = db.execute(
            "INSERT INTO orders (order_no, customer_id, bill_to, order_date, currency, status, "
            "net, vat, gross, on_hold, nc_only) VALUES (?, ?, ?, '2026-11-02', 'GBP', ?, ?, ?, "
            "?, ?, ?)",
            (order.number, order.customer, order.bill_to, order.status, str(net), str(vat),
             str(gross), int(order.on_hold), int(order.nc_only)))
        for position, line in enumerate(order.lines, start=1):
            db.execute(
                "INSERT INTO order_lines (order_id, pos, description, product_code, qty, price, "
                "amount, tax_code, tax) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (cursor.lastrowid, position, PRODUCTS[line.product][0], line.product,
                 str(line.quantity), str(line.unit_price), str(line.amount), line.tax_code,
                 str(line.tax)))


CUSTOMERS = [
    (1, "Harbour Lights Ltd", "accounts@harbourlights.example", "trade"),
    (2, "Millbrook Bakery", "office@millbrook.example", "trade"),
    (3, "Northgate Surveyors", "finance@northgate.example", "trade"),
    (WEB_CUSTOMER, "Web Customer", "webshop@books.example", "proxy"),
]


def build_world(folder: Path, *, rules: str = INVOICE_RULES, orders: Sequence[Order] = (),
                web_customers: int = 0, setup: bool = True) -> World:
    """Create both databases, write the config and open the state store. The books already
    hold the 'Web Customer' account (paired with the order system's by e-mail)."""
    with closing(sqlite3.connect(folder / "crm.db")) as db:
        db.executescript(CRM_SCHEMA)
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", CUSTOMERS)
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, 'web')", [
            (1000 + number, f"Shopper {number:02d}", f"shopper{number:02d}@mail.example")
            for number in range(1, web_customers + 1)])
        insert_orders(db, orders)
        db.commit()
    with closing(sqlite3.connect(folder / "books.db")) as db:
        db.executescript(BOOKS_SCHEMA)
        db.execute("INSERT INTO contacts VALUES (1, 'Web Customer', 'webshop@books.example', "
                   "'proxy')")
        db.commit()
    path = folder / "syncline.toml"
    path.write_text(ENDPOINTS + rules, encoding="utf-8")
    config = load_config(path)
    if setup:
        for name in ("crm", "books"):
            connector = open_endpoint(config, name)
            connector.open()
            try:
                connector.setup(["contact", "invoice"])
            finally:
                connector.close()
    store = StateStore.open(config.resolve_url(config.state.url))
    return World(folder, config, store)


def worlds(folder: Path, **options: Any) -> Iterator[World]:
    """``build_world`` as a generator fixture body (closes the store afterwards)."""
    world = build_world(folder, **options)
    try:
        yield world
    finally:
        world.store.close()
