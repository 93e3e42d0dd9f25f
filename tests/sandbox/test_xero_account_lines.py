"""Xero line mapping: with ``xref = {"lines.item" = "ledger_account"}`` an order line names a
product and the ledger account it posts to. When the organisation does not hold the product
as a Xero item, the line goes as an account line (``AccountCode``, no ``ItemCode``), which
Xero takes, instead of being refused ("Item code 'WIDGET-01' is not valid"); once the item
is in the books (the item stream synced, or made there), lines name it again. An order
system on SQLite or PostgreSQL posts to the Xero SANDBOX over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.rules_support import Line, Order, insert_orders
from sandbox.order_db import order_database
from sandbox.xero_posting_support import LINK, XeroWorld, build_xero_world
from sandbox.xero_support import running_sandbox
from syncline.cli.main import app
from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation
from syncline.connectors.xero import XeroConnector

D = Decimal


@pytest.fixture
def world(tmp_path: Path, crm_url: str | None) -> Iterator[XeroWorld]:
    orders = [Order("INV-6001", 1, [Line("WIDGET-01", D(2)), Line("SUPPORT-HR", D(1))]),
              Order("INV-6002", 2, [Line("GADGET-02", D(1))], total_offset=D("0.01"))]
    with running_sandbox() as (xero, server):
        built = build_xero_world(tmp_path, xero, server.url, orders=orders, crm_url=crm_url,
                                 items=False)
        try:
            yield built
        finally:
            built.close()


def _lines(world: XeroWorld, number: str) -> list[tuple[str | None, str | None]]:
    return [(line.get("ItemCode"), line.get("AccountCode"))
            for line in world.invoices()[number]["LineItems"]]


def test_products_that_are_no_xero_items_post_as_account_lines(world: XeroWorld) -> None:
    setup = CliRunner().invoke(app, ["setup", LINK, "--config",
                                     str(world.folder / "syncline.toml")])
    assert setup.exit_code == 0, setup.output
    assert " ".join(setup.output.split()).count(
        "document lines: the link does not sync the item stream to Xero, and Xero holds 0 "
        "item(s) now; a line naming a product and a ledger account goes with ItemCode and "
        "AccountCode when Xero holds that product as an item, else as an account line "
        "(AccountCode alone)") == 1, setup.output
    first = world.sync()
    assert world.journal("error") == [], [row["message"] for row in world.journal("error")]
    assert first.streams["invoice"].A == 2 and first.streams["invoice"].errors == 0
    assert _lines(world, "INV-6001") == [(None, "200"), (None, "260")]
    assert _lines(world, "INV-6002") == [(None, "200"), (None, "860")]  # with its rounding
    assert [row["message"] for row in world.journal("warning")] == [
        "invoice INV-6002: books total differs by 0.01; rounding line added"]

    # the products become Xero items (as the item stream would make them): lines name them
    world.user.call("PUT", "/Items", json={"Items": [
        {"Code": "WIDGET-01", "Name": "Widget, blue"}]}).raise_for_status()
    with order_database(world.crm_url or f"sqlite:///{world.crm}") as db:
        insert_orders(db, [Order("INV-6003", 3, [Line("WIDGET-01", D(1)),
                                                 Line("SUPPORT-HR", D(1))])])
    second = world.sync()
    assert second.streams["invoice"].A == 1 and second.streams["invoice"].errors == 0
    assert _lines(world, "INV-6003") == [("WIDGET-01", "200"), (None, "260")]


def test_an_item_the_connector_creates_is_named_by_later_lines(world: XeroWorld) -> None:
    contact = world.user.call("GET", "/Contacts").json()["Contacts"][0]["ContactID"]
    line = {"item": "HOSTING", "ledger_account": "200", "quantity": D(1),
            "unit_price": D(50), "tax_rate": "OUTPUT2"}
    fields = {"contact": contact, "date": "2026-11-02", "status": "AUTHORISED",
              "lines": [line]}
    settings = world.config.endpoints["books"].settings
    connector = XeroConnector("books", {**settings, "streams": ["invoice", "item"]},
                              world.folder)
    connector.open()
    try:
        before = connector.write(WriteBatch("b-1", "invoice", [WriteOperation(
            "t-1", WriteKind.CREATE, None, {**fields, "number": "INV-7001"})]))
        made = connector.write(WriteBatch("b-2", "item", [WriteOperation(
            "t-2", WriteKind.CREATE, None, {"code": "HOSTING", "name": "Hosting"})]))
        after = connector.write(WriteBatch("b-3", "invoice", [WriteOperation(
            "t-3", WriteKind.CREATE, None, {**fields, "number": "INV-7002"})]))
    finally:
        connector.close()
    assert before[0].ok and made[0].ok and after[0].ok, (before, made, after)
    assert _lines(world, "INV-7001") == [(None, "200")]
    assert _lines(world, "INV-7002") == [("HOSTING", "200")]
