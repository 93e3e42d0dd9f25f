"""Issue 17, deliverable 6: vendor proxies against the QuickBooks Online SANDBOX (real HTTP on
127.0.0.1), where suppliers are Vendors kept apart from customers. A bill whose
``proxy_vendor`` names a vendor posts under that vendor (sundry purchases under one 'Sundry
Suppliers' account); a bill without one posts under its own; the CRM keeps its own vendor,
and the next runs send nothing again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sandbox.qbo_server import Books, active, running_sandbox
from syncline.engine import RunMode
from syncline.sandbox.qbo import SandboxServer


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCLINE_SECRET_KEY", Fernet.generate_key().decode())


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox() as server:
        yield server


def _bill(number: str, vendor: str, proxy: str | None, amount: str) -> dict[str, object]:
    return {"number": number, "vendor": vendor, "proxy_vendor": proxy,
            "date": date(2026, 11, 3),
            "lines": [{"description": "Paper", "ledger_account": "6",
                       "line_amount": Decimal(amount)}]}


def test_a_bill_posts_under_its_proxy_vendor(sandbox: SandboxServer, tmp_path: Path) -> None:
    books = Books(sandbox, tmp_path / uuid.uuid4().hex,
                  streams={"vendor": ["name", "email"],
                           "bill": ["number", "vendor", "proxy_vendor", "date", "lines"]},
                  rules={"bill": {"proxy": {"vendor": "proxy_vendor"}}})
    try:
        books.crm.put("vendor", "7", {"name": "Corner Shop", "email": "till@corner.example"})
        books.crm.put("vendor", "8", {"name": "Paper Supplies", "email": "sales@paper.example"})
        books.crm.put("vendor", "99", {"name": "Sundry Suppliers",
                                       "email": "sundry@books.example"})
        books.crm.put("bill", "b1", _bill("SUP-1", "7", "99", "12.40"))
        books.crm.put("bill", "b2", _bill("SUP-2", "8", None, "42.00"))
        first = books.sync()
        assert first.streams["bill"].A == 2 and first.streams["bill"].errors == 0, \
            first.messages
        vendors = {vendor["Id"]: vendor["DisplayName"]
                   for vendor in active(books.company, "Vendor")}
        posted = {bill["DocNumber"]: vendors[bill["VendorRef"]["value"]]
                  for bill in active(books.company, "Bill")}
        assert posted == {"SUP-1": "Sundry Suppliers", "SUP-2": "Paper Supplies"}
        for mode in (RunMode.INCREMENTAL, RunMode.FULL):
            again = books.sync(mode)
            assert all(counts.A == counts.M == counts.D == 0
                       for counts in again.streams.values()), again.streams
        crm_bills = {fields["number"]: fields["vendor"]
                     for _, fields, _ in books.crm.stream("bill").values()}
        assert crm_bills == {"SUP-1": "7", "SUP-2": "8"}  # the CRM keeps its own vendor
    finally:
        books.close()
