"""A posting world against the QuickBooks Online SANDBOX: an order system (``crm.db``,
SQLite, or a PostgreSQL database: ``crm_url``; through the ``sql`` connector) posts its
customers and orders (as invoices) to a sandbox company over real HTTP on 127.0.0.1
(through the ``qbo`` connector), with posting rules: eligibility, xref of the order
system's product and tax codes to the company's item and tax code Ids, a totals check
whose rounding and adjustment lines carry the endpoint's ``rounding_item``.

Everything is run as a user runs it: the config file, then ``syncline sync`` / ``force`` /
``errors`` through the CLI (:meth:`QboWorld.cli`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from engine.rules_support import CRM_ENDPOINT, CRM_SCHEMA, CUSTOMERS, PRODUCTS, Order, insert_orders
from sandbox.order_db import order_database
from sandbox.qbo_server import ApiSession, active, endpoint_settings, new_company
from syncline.cli.main import app
from syncline.sandbox.qbo import Company, SandboxServer

__all__ = ["LINK", "QboWorld", "build_qbo_world"]

LINK = "crm-books"

BOOKS = """
[endpoints.books]
connector = "qbo"
{settings}
streams = ["contact", "invoice"]

[links.crm-books]
a = "crm"
b = "books"
streams = ["contact", "invoice"]
match = {{ contact = ["email"], invoice = ["number"] }}
max_delete = "25%"

[links.crm-books.rules.invoice]
eligible = "status in ['shipped', 'finished'] && !on_hold"
totals = {{ tolerance = 0.01, above = "error", rounding_account = "{sales}" }}
xref = {{ "lines.item" = "item", "lines.tax_rate" = "tax_rate" }}

[links.crm-books.xref.item]
{items}

[links.crm-books.xref.tax_rate]
"S20" = "{standard}"
"Z0" = "{zero}"
"""


@dataclass
class QboWorld:
    """The order system, the sandbox company and the config file of one test."""

    folder: Path
    server: SandboxServer
    company: Company
    crm_url: str

    @property
    def config(self) -> Path:
        return self.folder / "syncline.toml"

    def cli(self, *arguments: str) -> Result:
        """``syncline ARGUMENTS --config syncline.toml``."""
        return CliRunner().invoke(app, [*arguments, "--config", str(self.config)])

    def sync(self, *options: str) -> dict[str, Any]:
        """``syncline sync crm-books --json``: the run's summary.

        Raises:
            AssertionError: the command printed no JSON document.
        """
        done = self.cli("sync", LINK, "--json", *options)
        start = done.stdout.find("{")
        assert start >= 0, done.output
        summary: dict[str, Any] = json.loads(done.stdout[start:])
        return summary

    def journal(self, outcome: str | None = None) -> list[dict[str, Any]]:
        options = ["--outcome", outcome] if outcome else []
        done = self.cli("journal", LINK, "--json", "--limit", "1000", *options)
        assert done.exit_code == 0, done.output
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows

    def execute(self, sql: str, *args: Any) -> None:
        with order_database(self.crm_url) as db:
            db.execute(sql, args)

    def invoices(self) -> dict[str, dict[str, Any]]:
        """The company's invoices by number (the sandbox's own data)."""
        return {str(invoice.get("DocNumber")): invoice
                for invoice in active(self.company, "Invoice")}

    def pay(self, number: str, amount: float) -> None:
        """The bookkeeper records a customer payment against invoice ``number`` in QBO."""
        invoice = self.invoices()[number]
        api = ApiSession(self.server, self.company.realm_id)
        try:
            answer = api.post("/payment", {
                "CustomerRef": invoice["CustomerRef"], "TotalAmt": amount,
                "Line": [{"Amount": amount, "LinkedTxn": [
                    {"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})
            assert answer.status_code == 200, answer.text
        finally:
            api.close()


def build_qbo_world(folder: Path, server: SandboxServer, *, orders: Sequence[Order],
                    crm_url: str | None = None, rounding_item: str | None = "Rounding",
                    make_rounding_item: bool = True, setup: bool = True) -> QboWorld:
    """Create the order system, a new sandbox company with the products as items (and,
    with ``make_rounding_item``, a 'Rounding' service item), and the config file naming
    ``rounding_item`` (none: ``None``); with ``setup``, ``syncline setup`` prepares the link."""
    url = crm_url or f"sqlite:///{folder / 'crm.db'}"
    with order_database(url) as db:
        db.executescript(CRM_SCHEMA)
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", CUSTOMERS)
        insert_orders(db, orders)
    company = new_company(server)
    accounts = {account["AcctNum"]: account["Id"] for account in active(company, "Account")}
    codes = {code["Name"]: code["Id"] for code in active(company, "TaxCode")}
    items = {}
    for code, (name, price) in PRODUCTS.items():
        items[code] = company.create("Item", {"Name": name, "Sku": code, "Type": "Service",
                                              "UnitPrice": float(price),
                                              "IncomeAccountRef": {"value": accounts["4000"]}}
                                     )["Id"]
    if make_rounding_item:
        company.create("Item", {"Name": "Rounding", "Type": "Service",
                                "IncomeAccountRef": {"value": accounts["4000"]}})
    settings = endpoint_settings(server, folder, company.realm_id)
    if rounding_item is not None:
        settings["rounding_item"] = rounding_item
    lines = "\n".join(f'{name} = {json.dumps(value)}' for name, value in settings.items())
    crm = CRM_ENDPOINT.replace('url = "sqlite:///crm.db"', f'url = "{url}"')
    (folder / "syncline.toml").write_text(crm + BOOKS.format(
        settings=lines, sales=accounts["4000"], standard=codes["20.0% S"],
        zero=codes["0.0% Z"],
        items="\n".join(f'"{code}" = "{item}"' for code, item in items.items())),
        encoding="utf-8")
    world = QboWorld(folder, server, company, url)
    if setup:
        done = world.cli("setup", LINK)
        assert done.exit_code == 0, done.output
    return world
