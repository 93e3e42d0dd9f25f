"""Read-only fields: the Xero and QuickBooks Online connectors declare the fields they read
but never write (computed totals, the status from the balance, a payment's status), and the
declaration matches what they do: a value sent for such a field is ignored, the system's own
comes back. The engine treats them as owned by the books (tests/engine/test_owned.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from sandbox.qbo_server import new_company, open_connector, running_sandbox
from sandbox.xero_support import ApiUser, make_connector
from sandbox.xero_support import running_sandbox as running_xero
from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation
from syncline.model import BOOKS_STATE_FIELDS
from syncline.sandbox.qbo import SandboxServer

TENANT = "Sandbox Company A (UK)"


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCLINE_SECRET_KEY", Fernet.generate_key().decode())


@pytest.fixture(scope="module")
def qbo() -> Iterator[SandboxServer]:
    with running_sandbox() as server:
        yield server


def _create(stream: str, fields: dict[str, Any]) -> WriteBatch:
    return WriteBatch(uuid.uuid4().hex, stream,
                      [WriteOperation(uuid.uuid4().hex, WriteKind.CREATE, None, fields)])


def test_xero_documents_declare_their_computed_totals(tmp_path: Path) -> None:
    with running_xero() as (xero, server):
        tenant = next(t.tenant_id for t in xero.store.tenants.values() if t.name == TENANT)
        user = ApiUser(server.url, tenant)
        buyer = user.call("PUT", "/Contacts", json={"Contacts": [{"Name": "Buyer"}]}
                          ).json()["Contacts"][0]["ContactID"]
        connector = make_connector(server.url, tmp_path, TENANT)
        try:
            declared = connector.read_only_fields("invoice")
            assert declared == {"subtotal", "tax_total", "total", *BOOKS_STATE_FIELDS}
            assert connector.read_only_fields("contact") == frozenset()
            assert declared <= connector.field_names("invoice")
            fields = {"number": "INV-1", "contact": buyer, "status": "AUTHORISED",
                      "subtotal": Decimal(1), "tax_total": Decimal(2), "total": Decimal(999),
                      "lines": [{"description": "a", "quantity": Decimal(2),
                                 "unit_price": Decimal(5), "ledger_account": "200"}]}
            (result,) = connector.write(_create("invoice", fields))
            assert result.ok, result.error
            record = connector.read_keys("invoice", [str(result.key)])[str(result.key)]
            assert (record.fields["subtotal"], record.fields["tax_total"],
                    record.fields["total"]) == (Decimal(10), Decimal(2), Decimal(12))
        finally:
            connector.close()


def test_qbo_invoices_declare_totals_and_status(qbo: SandboxServer, tmp_path: Path) -> None:
    company = new_company(qbo)
    connector = open_connector(qbo, company, tmp_path, streams=["invoice", "contact"])
    try:
        declared = connector.read_only_fields("invoice")
        assert declared == {"subtotal", "tax_total", "total", "status", *BOOKS_STATE_FIELDS}
        assert connector.read_only_fields("contact") == frozenset()
        buyer = company.create("Customer", {"DisplayName": "Invoice buyer"})["Id"]
        fields = {"number": "INV-7", "contact": buyer, "date": date(2026, 11, 1),
                  "status": "paid", "total": Decimal(1), "subtotal": Decimal(1),
                  "tax_total": Decimal(5),
                  "lines": [{"description": "Consulting", "item": "13",
                             "quantity": Decimal(2), "unit_price": Decimal(100),
                             "line_amount": Decimal(200)}]}
        (result,) = connector.write(_create("invoice", fields))
        assert result.ok, result.error
        record = connector.read_keys("invoice", [str(result.key)])[str(result.key)]
        assert record.fields["total"] == Decimal(200) + record.fields["tax_total"]
        assert record.fields["status"] == "open"  # from the balance, not what was sent
    finally:
        connector.close()
