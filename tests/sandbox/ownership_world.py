"""An order system posting its orders to a books SANDBOX, set up and run as a user does:
a config file, ``syncline auth`` (Xero), ``syncline setup`` and ``syncline sync`` through
the command line, the books' own users working in the books over their API.

The order system is an SQLite file or a PostgreSQL database (``sql`` connector) holding
customers and orders with lines; each order also has two columns for what only the books
know (``books_status``, ``amount_due``), mapped to the canonical ``books_status`` and
``amount_due``. The books are the Xero sandbox (products are Xero items; product and tax
codes map to Xero's ledger accounts and tax types by xref) or the QuickBooks Online sandbox
(product codes map to the company's items by xref; no sales tax). Orders are posted under
posting rules: shipped or finished orders go, created ``AUTHORISED`` on Xero, a total that
differs by a penny gets a rounding line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from engine.rules_support import (
    CRM_ENDPOINT,
    CRM_SCHEMA,
    CUSTOMERS,
    ENDPOINTS,
    INVOICE_RULES,
    PRODUCTS,
    Line,
)
from sandbox.order_db import execute_statement
from sandbox.qbo_server import ApiSession, endpoint_settings, new_company
from sandbox.qbo_server import running_sandbox as running_qbo
from sandbox.xero_posting_support import BOOKS_ENDPOINT
from sandbox.xero_support import ApiUser
from sandbox.xero_support import running_sandbox as running_xero
from syncline.cli.main import app

__all__ = ["BooksUser", "OrderLine", "PostedOrder", "World", "open_world"]

LINK = "crm-books"
TENANT = "Sandbox Company A (UK)"

BOOKS_COLUMNS = "nc_only     INTEGER NOT NULL DEFAULT 0"
SCHEMA = CRM_SCHEMA.replace(
    BOOKS_COLUMNS, f"{BOOKS_COLUMNS},\n    books_status TEXT,\n    amount_due NUMERIC(12, 2)")
"""The posting-rules order system (:mod:`engine.rules_support`) with a column for the books'
status and one for the amount due."""
SERIAL = {"order_id    INTEGER PRIMARY KEY": "order_id    SERIAL PRIMARY KEY",
          "line_id      INTEGER PRIMARY KEY": "line_id      SERIAL PRIMARY KEY"}
"""What PostgreSQL says for SQLite's auto-numbered keys."""

BOOKS_FIELDS = 'nc_only = "nc_only"\n'
TAX_LINES = 'tax_rate = "tax_code"\ntax_amount = "tax"\n'
LINK_RULES = """
[links.crm-books.rules.contact]
eligible = "categories != 'web'"

[links.crm-books.rules.invoice]
eligible = "status in ['shipped', 'finished']"
{status_on_create}totals = {{ tolerance = 0.01, above = "error", rounding_account = "860" }}
xref = {xref}
"""


def _crm(url: str, books: str) -> str:
    """The order system's endpoint and the link, with posting rules for ``books``."""
    crm = CRM_ENDPOINT.replace('url = "sqlite:///crm.db"', f'url = "{url}"').replace(
        BOOKS_FIELDS, f'{BOOKS_FIELDS}books_status = "books_status"\n'
                      f'amount_due = "amount_due"\n')
    link = ENDPOINTS[ENDPOINTS.index("[links.crm-books]"):]
    if books == "qbo":  # no sales tax in these books
        crm = crm.replace(TAX_LINES, "")
    return crm + link + LINK_RULES.format(
        status_on_create='status_on_create = "AUTHORISED"\n' if books == "xero" else "",
        xref=XERO_XREF if books == "xero" else QBO_XREF)


XERO = BOOKS_ENDPOINT[:BOOKS_ENDPOINT.index("[links.crm-books]")].replace(
    '"invoice", "bill", "payment"]', '"invoice"]')
"""The Xero endpoint of :mod:`sandbox.xero_posting_support` (contacts and invoices only)."""
XERO_TABLES = INVOICE_RULES[INVOICE_RULES.index("[links.crm-books.xref.ledger_account]"):]
"""The ledger accounts and tax types of the products and tax codes (as for the books of
:mod:`engine.rules_support`)."""
XERO_XREF = '{ "lines.item" = "ledger_account", "lines.tax_rate" = "tax_rate" }'
QBO_XREF = '{ "lines.item" = "item" }'


@dataclass
class OrderLine:
    product: str
    quantity: Decimal

    def priced(self, taxed: bool) -> Line:
        return Line(self.product, self.quantity, "S20" if taxed else "Z0")


@dataclass
class PostedOrder:
    """An order of the order system (``offset`` added to its gross: a penny makes the books
    add a rounding line)."""

    number: str
    customer: int
    lines: list[OrderLine]
    status: str = "shipped"
    offset: Decimal = Decimal(0)


class BooksUser(Protocol):
    """A bookkeeper working in the books over their API."""

    def invoice(self, number: str) -> dict[str, Any]:
        """The books' invoice ``number``: ``status`` (Xero's, or QuickBooks' ``open`` /
        ``paid``), ``total``, ``due`` and the descriptions of its ``lines``."""

    def pay(self, number: str) -> None:
        """Record a payment of the whole invoice ``number``."""

    def raise_invoice(self, number: str, customer: str) -> None:
        """Raise invoice ``number`` to ``customer`` (by name) in the books: two blue widgets
        at 12.50."""

    def close(self) -> None:
        """Let go of the connection."""


class XeroUser:
    def __init__(self, url: str, tenant: str) -> None:
        self.api = ApiUser(url, tenant)

    def _find(self, number: str) -> dict[str, Any]:
        found = self.api.call("GET", "/Invoices", params={"InvoiceNumbers": number})
        found.raise_for_status()
        (invoice,) = found.json()["Invoices"]
        whole = self.api.call("GET", f"/Invoices/{invoice['InvoiceID']}")  # with its lines
        whole.raise_for_status()
        (invoice,) = whole.json()["Invoices"]
        return dict(invoice)

    def invoice(self, number: str) -> dict[str, Any]:
        invoice = self._find(number)
        return {"status": invoice["Status"], "total": Decimal(str(invoice["Total"])),
                "due": Decimal(str(invoice["AmountDue"])),
                "lines": [line.get("Description") for line in invoice["LineItems"]]}

    def pay(self, number: str) -> None:
        invoice = self._find(number)
        self.api.call("PUT", "/Payments", json={"Payments": [{
            "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"},
            "Date": "2026-11-20", "Amount": invoice["AmountDue"]}]}).raise_for_status()

    def raise_invoice(self, number: str, customer: str) -> None:
        contacts = self.api.call("GET", "/Contacts")
        contacts.raise_for_status()
        contact = next(c["ContactID"] for c in contacts.json()["Contacts"]
                       if c["Name"] == customer)
        self.api.call("PUT", "/Invoices", json={"Invoices": [{
            "Type": "ACCREC", "Contact": {"ContactID": contact}, "InvoiceNumber": number,
            "Date": "2026-11-03", "Status": "AUTHORISED", "LineItems": [{
                "Description": "Widget, blue", "ItemCode": "WIDGET-01", "Quantity": 2,
                "UnitAmount": 12.5, "AccountCode": "200", "TaxType": "OUTPUT2"}]}]}
                      ).raise_for_status()

    def close(self) -> None:
        self.api.http.close()


class QboUser:
    def __init__(self, session: ApiSession) -> None:
        self.session = session

    def _find(self, number: str) -> dict[str, Any]:
        found = self.session.query(f"SELECT * FROM Invoice WHERE DocNumber = '{number}'")
        found.raise_for_status()
        (invoice,) = found.json()["QueryResponse"]["Invoice"]
        return dict(invoice)

    def invoice(self, number: str) -> dict[str, Any]:
        invoice = self._find(number)
        return {"status": "paid" if Decimal(str(invoice["Balance"])) == 0 else "open",
                "total": Decimal(str(invoice["TotalAmt"])),
                "due": Decimal(str(invoice["Balance"])),
                "lines": [line.get("Description") for line in invoice["Line"]
                          if line.get("DetailType") == "SalesItemLineDetail"]}

    def pay(self, number: str) -> None:
        invoice = self._find(number)
        self.session.post("/payment", {
            "CustomerRef": invoice["CustomerRef"], "TotalAmt": invoice["Balance"],
            "TxnDate": "2026-11-20",
            "Line": [{"Amount": invoice["Balance"],
                      "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        }).raise_for_status()

    def raise_invoice(self, number: str, customer: str) -> None:
        found = self.session.query(f"SELECT * FROM Customer WHERE DisplayName = '{customer}'")
        found.raise_for_status()
        (buyer,) = found.json()["QueryResponse"]["Customer"]
        items = self.session.query("SELECT * FROM Item WHERE Sku = 'WIDGET-01'")
        items.raise_for_status()
        (item,) = items.json()["QueryResponse"]["Item"]
        self.session.post("/invoice", {
            "CustomerRef": {"value": buyer["Id"]}, "DocNumber": number, "TxnDate": "2026-11-03",
            "Line": [{"Amount": 25, "DetailType": "SalesItemLineDetail", "Description":
                      "Widget, blue", "SalesItemLineDetail": {
                          "ItemRef": {"value": item["Id"]}, "Qty": 2, "UnitPrice": 12.5}}],
        }).raise_for_status()

    def close(self) -> None:
        self.session.close()


@dataclass
class World:
    """The config folder, the order database and the bookkeeper of one test."""

    folder: Path
    orders_url: str
    books: BooksUser
    books_kind: str
    runner: CliRunner = field(default_factory=CliRunner)

    @property
    def config(self) -> Path:
        return self.folder / "syncline.toml"

    def cli(self, *args: str) -> str:
        """Run ``syncline ARGS --config syncline.toml``; its output (it must succeed)."""
        result = self.runner.invoke(app, [*args, "--config", str(self.config)])
        assert result.exit_code == 0, result.output
        return result.output

    def sync(self) -> dict[str, Any]:
        """``syncline sync crm-books --json``: the run's summary."""
        output = self.cli("sync", LINK, "--json")
        summary: dict[str, Any] = json.loads(output[output.index("{"):])
        return summary

    def orders(self) -> dict[str, tuple[Any, ...]]:
        """Order number -> (status, net, vat, gross, books_status, amount_due)."""
        engine = sa.create_engine(self.orders_url)
        try:
            with engine.connect() as db:
                rows = db.execute(sa.text(
                    "SELECT order_no, status, net, vat, gross, books_status, amount_due "
                    "FROM orders ORDER BY order_no")).all()
        finally:
            engine.dispose()
        return {row[0]: tuple(_decimal(value) for value in row[1:]) for row in rows}

    def execute(self, sql: str, **params: Any) -> None:
        execute_statement(self.orders_url, sql, **params)


def _decimal(value: Any) -> Any:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return Decimal(str(value)).quantize(Decimal("0.01"))
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    return value


def _create_orders(url: str, orders: Sequence[PostedOrder], *, taxed: bool) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as db:
            schema = SCHEMA
            if engine.dialect.name == "postgresql":
                for sqlite_key, serial in SERIAL.items():
                    schema = schema.replace(sqlite_key, serial)
            for statement in schema.split(";"):
                if statement.strip():
                    db.exec_driver_sql(statement)
            db.execute(sa.text("INSERT INTO customers VALUES (:id, :name, :email, :segment)"),
                       [dict(zip(("id", "name", "email", "segment"), row, strict=True))
                        for row in CUSTOMERS])
            for order in orders:
                lines = [line.priced(taxed) for line in order.lines]
                net = sum((line.amount for line in lines), Decimal(0))
                vat = sum((line.tax for line in lines), Decimal(0))
                order_id = db.execute(sa.text(
                    "INSERT INTO orders (order_no, customer_id, order_date, currency, status, "
                    "net, vat, gross) VALUES (:no, :customer, '2026-11-02', :currency, "
                    ":status, :net, :vat, :gross) RETURNING order_id"),
                    {"no": order.number, "customer": order.customer, "status": order.status,
                     "currency": "GBP" if taxed else "USD", "net": str(net), "vat": str(vat),
                     "gross": str(net + vat + order.offset)}).scalar_one()
                db.execute(sa.text(
                    "INSERT INTO order_lines (order_id, pos, description, product_code, qty, "
                    "price, amount, tax_code, tax) VALUES (:order_id, :pos, :text, :code, :qty,"
                    " :price, :amount, :tax_code, :tax)"),
                    [{"order_id": order_id, "pos": pos, "text": PRODUCTS[line.product][0],
                      "code": line.product, "qty": str(line.quantity),
                      "price": str(line.unit_price), "amount": str(line.amount),
                      "tax_code": line.tax_code, "tax": str(line.tax)}
                     for pos, line in enumerate(lines, start=1)])
    finally:
        engine.dispose()


def _orders_url(folder: Path, postgres_url: str | None) -> tuple[str, str]:
    """The order database's URL for SQLAlchemy and for the config."""
    if postgres_url is None:
        return f"sqlite:///{folder / 'crm.db'}", "sqlite:///crm.db"
    return postgres_url, postgres_url


@contextmanager
def open_world(folder: Path, books: str, orders: Sequence[PostedOrder], *,
               postgres_url: str | None = None) -> Iterator[World]:
    """The order database (SQLite in ``folder``, or the empty PostgreSQL database
    ``postgres_url``) with ``orders``, the ``books`` sandbox (``xero`` or ``qbo``) running,
    the config written, the books authorized and ``syncline setup`` done."""
    url, config_url = _orders_url(folder, postgres_url)
    _create_orders(url, orders, taxed=books == "xero")
    crm = _crm(config_url, books)
    if books == "xero":
        with running_xero() as (sandbox, server):
            tenant = next(t.tenant_id for t in sandbox.store.tenants.values()
                          if t.name == TENANT)
            user = XeroUser(server.url, tenant)
            user.api.call("PUT", "/Items", json={"Items": [
                {"Code": code, "Name": name, "SalesDetails": {"UnitPrice": float(price)}}
                for code, (name, price) in PRODUCTS.items()]}).raise_for_status()
            (folder / "secret.key").write_bytes(Fernet.generate_key())
            (folder / "syncline.toml").write_text(
                crm + XERO.format(url=server.url, tenant=TENANT, batch_size=50) + XERO_TABLES,
                encoding="utf-8")
            world = World(folder, url, user, books)
            try:
                world.cli("auth", "books", "--follow")
                world.cli("setup", LINK)
                yield world
            finally:
                user.close()
        return
    with running_qbo() as server:
        company = new_company(server)
        session = ApiSession(server, company.realm_id)
        accounts = session.query("SELECT * FROM Account")
        accounts.raise_for_status()
        income = next(account["Id"] for account in accounts.json()["QueryResponse"]["Account"]
                      if account["Name"] == "Services")
        items = {}
        for code, (name, price) in PRODUCTS.items():
            made = session.post("/item", {"Name": name, "Sku": code, "Type": "Service",
                                          "UnitPrice": float(price),
                                          "IncomeAccountRef": {"value": income}})
            made.raise_for_status()
            items[code] = made.json()["Item"]["Id"]
        settings = endpoint_settings(server, folder, company.realm_id,
                                     streams=["contact", "invoice"])
        lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
        table = "\n".join(f'"{code}" = "{item}"' for code, item in items.items())
        (folder / "syncline.toml").write_text(
            f"{crm}\n[endpoints.books]\nconnector = \"qbo\"\n{lines}\n\n"
            f"[links.crm-books.xref.item]\n{table}\n", encoding="utf-8")
        world = World(folder, url, QboUser(session), books)
        try:
            world.cli("setup", LINK)
            yield world
        finally:
            world.books.close()
