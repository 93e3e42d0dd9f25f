"""Issue 17, deliverable 5, as a user meets it: a document with no billing contact, posted
from an order system (SQLite file or PostgreSQL) to the Xero SANDBOX with ``syncline sync``.

Without a proxy or a fallback contact it is blocked, and ``syncline errors`` says why; with
its proxy (``bill_to``) it goes under the proxy contact, with a warning; once the stream's
rules name a fallback contact it goes under that one, with a warning. The warnings show in
``syncline journal --outcome warning`` (what the console's Review page lists), the order
system keeps its empty customer, and a full re-run sends nothing again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.rules_support import WEB_CUSTOMER, Line, Order
from sandbox.posting_cli_support import CliWorld, cli_worlds
from sandbox.xero_posting_support import LINK, RULES

D = Decimal
NOBODY = ('invoice INV-4002: no billing contact (contact is empty) and no fallback: set one '
          'on the document, or give the stream\'s rules fallback = { contact = "KEY" }')
PROXIED = (f"invoice INV-4003: no billing contact; sent under the proxy contact "
           f"'{WEB_CUSTOMER}' (proxy_contact)")
FALLEN_BACK = "invoice INV-4002: no billing contact; sent under the fallback contact '3'"
ORDERS = [Order("INV-4001", 1, [Line("WIDGET-01", D(1))]),
          Order("INV-4002", 2, [Line("GADGET-02", D(1))]),
          Order("INV-4003", 2, [Line("SUPPORT-HR", D(1))], bill_to=WEB_CUSTOMER)]


@pytest.fixture(params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CliWorld]:
    yield from cli_worlds(request, tmp_path, ORDERS, "UPDATE orders SET customer_id = NULL "
                          "WHERE order_no IN ('INV-4002', 'INV-4003')")


def _warnings(world: CliWorld) -> list[str]:
    rows = world.cli("journal", LINK, "--outcome", "warning", "--stream", "invoice", "--json")
    return sorted(row["message"] for row in json.loads(rows.stdout))


def _contacts(world: CliWorld) -> dict[str, str]:
    tenant = world.sandbox.store.snapshot()[world.user.tenant]
    names = {contact["ContactID"]: contact["Name"] for contact in tenant["Contacts"]}
    return {number: names[invoice["Contact"]["ContactID"]]
            for number, invoice in world.invoices().items()}


def test_no_billing_contact_blocks_or_goes_to_the_proxy_or_the_fallback(
        world: CliWorld) -> None:
    first = world.sync_json(expect=1)
    assert (first["streams"]["invoice"]["A"], first["streams"]["invoice"]["errors"],
            first["streams"]["invoice"]["warnings"]) == (2, 1, 1)
    assert _contacts(world) == {"INV-4001": "Harbour Lights Ltd", "INV-4003": "Web Customer"}
    assert _warnings(world) == [PROXIED]
    (group,) = json.loads(world.cli("errors", LINK, "--json").stdout)
    assert (group["stream"], group["keys"], group["field"], group["value"]) == (
        "invoice", ["2"], "contact", "empty, no fallback")
    assert group["cause"] == NOBODY.split(": ", 1)[1]
    shown = world.cli("errors", LINK).stdout
    assert "INV-4002" in shown and "no billing contact" in shown

    config = world.config.read_text(encoding="utf-8")
    world.config.write_text(config.replace(
        'proxy = { contact = "proxy_contact" }',
        'proxy = { contact = "proxy_contact" }\nfallback = { contact = "3" }'),
        encoding="utf-8")
    assert config != world.config.read_text(encoding="utf-8")
    second = world.sync_json()
    assert (second["streams"]["invoice"]["A"], second["streams"]["invoice"]["warnings"]) \
        == (1, 1)
    assert _contacts(world)["INV-4002"] == "Northgate Surveyors"
    assert _warnings(world) == [FALLEN_BACK, PROXIED]
    assert json.loads(world.cli("errors", LINK, "--json").stdout) == []

    writes = len(world.writes())
    for scope in (["--full"], []):
        rerun = world.sync_json(*scope)
        assert all(counts["A"] == counts["M"] == counts["D"] == 0
                   for counts in rerun["streams"].values()), rerun["streams"]
    assert len(world.writes()) == writes
    assert _warnings(world) == [FALLEN_BACK, PROXIED]
    engine = sa.create_engine(world.crm_url)
    try:
        with engine.connect() as db:
            customers = sorted(db.execute(sa.text(
                "SELECT order_no, customer_id FROM orders")).all())
    finally:
        engine.dispose()
    assert customers == [("INV-4001", 1), ("INV-4002", None), ("INV-4003", None)]
    assert RULES.count('proxy = { contact = "proxy_contact" }') == 1
