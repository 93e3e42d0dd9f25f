"""A posting world driven as a user drives it: the order system in a SQLite file or a fresh
PostgreSQL database, the Xero SANDBOX over real HTTP on 127.0.0.1, a ``syncline.toml`` and
the ``syncline`` command line (``setup``, ``sync``, ``errors``, ``journal``).

The order system's schema and data are those of :mod:`engine.rules_support` (customers,
orders with lines) and :mod:`sandbox.xero_posting_support` (purchases, receipts), created
through SQLAlchemy so that one script serves both databases; the config is that of
:func:`sandbox.xero_posting_support.build_xero_world` with the order system's URL in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from engine.rules_support import CRM_SCHEMA, CUSTOMERS, PRODUCTS, Order
from sandbox.order_db import execute_statement
from sandbox.xero_posting_support import (
    BOOKS_ENDPOINT,
    CRM_ENDPOINT,
    LINK,
    PURCHASE_SCHEMA,
    RULES,
    SUPPLIERS,
    TENANT,
    seed_organisation,
)
from sandbox.xero_support import ApiUser, authorize, running_sandbox
from syncline.cli import app
from syncline.config import load_config
from syncline.connectors.xero import XeroConnector
from syncline.sandbox.xero import XeroSandbox

__all__ = ["CliWorld", "build_cli_world", "cli_worlds"]


ITEM_PROXY_COLUMN = "ALTER TABLE order_lines ADD COLUMN post_as TEXT"
"""The order system's column naming the item a line is posted under (``proxy_item``)."""


def _create_orders(url: str, orders: Sequence[Order]) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as db:
            for statement in (CRM_SCHEMA + PURCHASE_SCHEMA).split(";"):
                if statement.strip():
                    db.execute(sa.text(statement))
            db.execute(sa.text(ITEM_PROXY_COLUMN))
            db.execute(sa.text("INSERT INTO customers VALUES (:id, :name, :email, :segment)"),
                       [dict(zip(("id", "name", "email", "segment"), row, strict=True))
                        for row in CUSTOMERS + SUPPLIERS])
            line_id = 0
            for order_id, order in enumerate(orders, start=1):
                net = sum((line.amount for line in order.lines), Decimal(0))
                vat = sum((line.tax for line in order.lines), Decimal(0))
                db.execute(sa.text(
                    "INSERT INTO orders (order_id, order_no, customer_id, bill_to, order_date, "
                    "currency, status, net, vat, gross, on_hold, nc_only) VALUES (:id, :no, "
                    ":customer, :bill_to, :day, 'GBP', :status, :net, :vat, :gross, :hold, :nc)"),
                    {"id": order_id, "no": order.number, "customer": order.customer,
                     "bill_to": order.bill_to, "day": "2026-11-02", "status": order.status,
                     "net": str(net), "vat": str(vat),
                     "gross": str(net + vat + order.total_offset),
                     "hold": int(order.on_hold), "nc": int(order.nc_only)})
                for position, line in enumerate(order.lines, start=1):
                    line_id += 1
                    db.execute(sa.text(
                        "INSERT INTO order_lines (line_id, order_id, pos, description, "
                        "product_code, qty, price, amount, tax_code, tax) VALUES (:id, :order, "
                        ":pos, :text, :product, :qty, :price, :amount, :tax_code, :tax)"),
                        {"id": line_id, "order": order_id, "pos": position,
                         "text": PRODUCTS[line.product][0], "product": line.product,
                         "qty": str(line.quantity), "price": str(line.unit_price),
                         "amount": str(line.amount), "tax_code": line.tax_code,
                         "tax": str(line.tax)})
    finally:
        engine.dispose()


@dataclass
class CliWorld:
    """The order system's URL, the config file, the running sandbox and a tenant user."""

    folder: Path
    crm_url: str
    sandbox: XeroSandbox
    user: ApiUser
    runner: CliRunner

    @property
    def config(self) -> Path:
        return self.folder / "syncline.toml"

    def cli(self, *arguments: str, expect: int | None = 0) -> Any:
        """Run ``syncline ARGUMENTS --config syncline.toml``; check its exit code."""
        result = self.runner.invoke(app, [*arguments, "--config", str(self.config)])
        if expect is not None:
            assert result.exit_code == expect, result.output
        return result

    def sync_json(self, *arguments: str, expect: int | None = 0) -> dict[str, Any]:
        """``syncline sync crm-books ARGUMENTS --json``: the run's summary."""
        found: dict[str, Any] = json.loads(
            self.cli("sync", LINK, *arguments, "--json", expect=expect).stdout)
        return found

    def execute(self, statement: str, **values: Any) -> None:
        execute_statement(self.crm_url, statement, **values)

    def writes(self) -> list[dict[str, Any]]:
        """The sandbox's log of write calls answered 200 (batched requests)."""
        return [entry for entry in self.sandbox.store.log_entries()
                if entry["method"] in ("PUT", "POST") and entry["status"] == 200
                and "/api.xro/" in entry["path"]]

    def invoices(self) -> dict[str, dict[str, Any]]:
        """The organisation's live sales invoices by number."""
        tenant = self.user.tenant
        records: list[dict[str, Any]] = self.sandbox.store.snapshot()[tenant]["Invoices"]
        return {i["InvoiceNumber"]: i for i in records
                if i["Type"] == "ACCREC" and i["Status"] not in ("DELETED", "VOIDED")}

    def close(self) -> None:
        self.user.http.close()


def cli_worlds(request: pytest.FixtureRequest, tmp_path: Path, orders: Sequence[Order],
               *statements: str) -> Iterator[CliWorld]:
    """A fixture body: the world of :func:`build_cli_world` over a SQLite file or a fresh
    PostgreSQL database (``request.param``: ``sqlite`` or ``postgres``), with
    ``statements`` run on the order system; the sandbox stops afterwards."""
    crm_url = f"sqlite:///{tmp_path / 'crm.db'}" if request.param == "sqlite" \
        else request.getfixturevalue("postgres_url")
    with running_sandbox() as (sandbox, server):
        built = build_cli_world(tmp_path, sandbox, server.url, crm_url, orders=orders)
        try:
            for statement in statements:
                built.execute(statement)
            yield built
        finally:
            built.close()


def build_cli_world(folder: Path, sandbox: XeroSandbox, url: str, crm_url: str, *,
                    orders: Sequence[Order] = (), rules: str = RULES) -> CliWorld:
    """Create the order system at ``crm_url``, seed the organisation (the 'Web Customer'
    contact, the products as items), write the config, authorize the Xero endpoint (what
    ``syncline auth books`` does) and run ``syncline setup crm-books``."""
    _create_orders(crm_url, orders)
    user = seed_organisation(sandbox, url)
    (folder / "secret.key").write_bytes(Fernet.generate_key())
    crm = CRM_ENDPOINT.replace('url = "sqlite:///crm.db"', f'url = "{crm_url}"').replace(
        'tax_amount = "tax"\n', 'tax_amount = "tax"\nproxy_item = "post_as"\n', 1)
    assert crm.count(crm_url) == 1 and crm.count("post_as") == 1
    path = folder / "syncline.toml"
    path.write_text(crm + BOOKS_ENDPOINT.format(url=url, tenant=TENANT, batch_size=50) + rules,
                    encoding="utf-8")
    config = load_config(path)
    authorize(XeroConnector("books", config.endpoints["books"].settings, folder))
    world = CliWorld(folder, crm_url, sandbox, user, CliRunner(env={"COLUMNS": "200"}))
    world.cli("setup", LINK)
    return world
