"""The Xero SANDBOX driven by Xero's official Python SDK, ``xero-python``, unmodified, over
real HTTP on 127.0.0.1.

What points it at the sandbox, and nothing else:

- ``AccountingApi(api_client, base_url=...)`` and ``IdentityApi(api_client, base_url=...)``:
  the SDK's own constructor argument for the API's base URL.
- Refreshing a token: ``xero_python.api_client.oauth2.TokenApi.refresh_token_url`` is a class
  attribute holding Xero's identity host (``https://identity.xero.com/connect/token``) with
  no setting; the refresh test points that one attribute at the sandbox's ``/connect/token``
  for its own duration (pytest's ``monkeypatch``), the narrowest override there is.

The tokens come from the sandbox's authorization-code flow, as any app gets them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from xero_python.accounting import AccountingApi
from xero_python.accounting.models import (
    Account,
    Address,
    Contact,
    Contacts,
    CreditNote,
    CreditNotes,
    Invoice,
    Invoices,
    Item,
    Items,
    LineAmountTypes,
    LineItem,
    Payment,
    Purchase,
)
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.exceptions import (
    AccountingBadRequestException,
    NotFoundException,
    RateLimitException,
)
from xero_python.identity import IdentityApi

from sandbox.xero_support import running_sandbox, token_for
from syncline.sandbox.xero import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Limits, XeroSandbox


@dataclass
class Sdk:
    """One app's SDK objects against a sandbox, and the token store its callbacks use."""

    sandbox: XeroSandbox
    url: str
    client: ApiClient
    accounting: AccountingApi
    identity: IdentityApi
    token: dict[str, Any]
    tenant: str


def connect(sandbox: XeroSandbox, url: str) -> Sdk:
    tokens = token_for(url)
    stored: dict[str, Any] = {**tokens, "scope": str(tokens["scope"]).split(),
                              "expires_at": time.time() + tokens["expires_in"]}
    client = ApiClient(Configuration(oauth2_token=OAuth2Token(
        client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)), pool_threads=1)

    @client.oauth2_token_getter
    def get_token() -> dict[str, Any]:
        return stored

    @client.oauth2_token_saver
    def save_token(token: dict[str, Any]) -> None:
        stored.clear()
        stored.update(token)

    identity = IdentityApi(client, base_url=url)
    tenant = str(identity.get_connections()[0].tenant_id)
    return Sdk(sandbox, url, client, AccountingApi(client, base_url=f"{url}/api.xro/2.0"),
               identity, stored, tenant)


@pytest.fixture
def sdk() -> Iterator[Sdk]:
    with running_sandbox(limits=Limits(scale=600.0)) as (sandbox, server):
        yield connect(sandbox, server.url)


def new_contacts(sdk: Sdk, *names: str, **values: Any) -> list[Contact]:
    answer = sdk.accounting.create_contacts(sdk.tenant, Contacts(contacts=[
        Contact(name=name, **values) for name in names]))
    return list(answer.contacts)


def sales_invoice(contact: Contact, *lines: tuple[str, float, float], **values: Any) -> Invoice:
    return Invoice(type="ACCREC", contact=Contact(contact_id=contact.contact_id),
                   line_amount_types=LineAmountTypes.EXCLUSIVE,
                   line_items=[LineItem(description=text, quantity=quantity,
                                        unit_amount=price, account_code="200",
                                        tax_type="OUTPUT2")
                               for text, quantity, price in lines], **values)


# -- identity and organisation ---------------------------------------------------------------
def test_connections_and_organisation(sdk: Sdk) -> None:
    connections = sdk.identity.get_connections()
    assert {str(c.tenant_id) for c in connections} == set(sdk.sandbox.tenant_ids())
    assert {c.tenant_type for c in connections} == {"ORGANISATION"}
    assert all(isinstance(c.created_date_utc, datetime) for c in connections)
    [organisation] = sdk.accounting.get_organisations(sdk.tenant).organisations
    assert str(organisation.organisation_id) == sdk.tenant
    assert organisation.name == connections[0].tenant_name
    assert (organisation.base_currency.value, organisation.country_code.value) == ("GBP", "GB")
    assert organisation.version == "UK" and organisation.financial_year_end_month == 3


def test_an_expired_token_is_refreshed_through_the_sdk(sdk: Sdk,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TokenApi, "refresh_token_url", f"{sdk.url}/connect/token")
    first_access, first_refresh = sdk.token["access_token"], sdk.token["refresh_token"]
    httpx.post(f"{sdk.url}/sandbox/expire-tokens").raise_for_status()
    sdk.token["expires_at"] = time.time() - 1
    [organisation] = sdk.accounting.get_organisations(sdk.tenant).organisations
    assert str(organisation.organisation_id) == sdk.tenant
    assert sdk.token["access_token"] != first_access
    assert sdk.token["refresh_token"] != first_refresh, "refresh tokens rotate"


# -- contacts -------------------------------------------------------------------------------
def test_contacts_are_created_read_updated_and_filtered(sdk: Sdk) -> None:
    acme, beacon, _ = new_contacts(sdk, "Acme Trading", "Beacon Supplies", "Acme Holdings",
                                   email_address="books@example.com")
    assert acme.contact_id and acme.contact_status == "ACTIVE"
    assert isinstance(acme.updated_date_utc, datetime)
    read = sdk.accounting.get_contact(sdk.tenant, acme.contact_id).contacts[0]
    assert (read.name, read.email_address) == ("Acme Trading", "books@example.com")
    changed = sdk.accounting.update_contact(sdk.tenant, acme.contact_id, Contacts(contacts=[
        Contact(first_name="Ada", last_name="Lovelace", account_number="ACME-1")])).contacts[0]
    assert (changed.name, changed.first_name, changed.account_number) == (
        "Acme Trading", "Ada", "ACME-1")

    def names(**query: Any) -> list[str]:
        return [c.name for c in sdk.accounting.get_contacts(sdk.tenant, **query).contacts]

    assert names(where='Name.StartsWith("acme")', order="Name") == [
        "Acme Holdings", "Acme Trading"]
    assert names(where='Name.Contains("supp")') == ["Beacon Supplies"]
    assert names(where='Name.EndsWith("ING") OR Name == "Beacon Supplies"',
                 order="Name DESC") == ["Beacon Supplies", "Acme Trading"]
    assert names(where=f'ContactID == Guid("{beacon.contact_id}")') == ["Beacon Supplies"]
    assert names(search_term="lovelace") == ["Acme Trading"]
    assert names(search_term="BOOKS@example", order="Name") == [
        "Acme Holdings", "Acme Trading", "Beacon Supplies"]


def test_paging_and_summary_only(sdk: Sdk) -> None:
    new_contacts(sdk, *[f"Customer {n:02d}" for n in range(12)],
                 addresses=[Address(address_type="STREET", city="Leeds")])
    pages = [sdk.accounting.get_contacts(sdk.tenant, page=page, page_size=5, order="Name")
             for page in (1, 2, 3)]
    assert [[c.name for c in p.contacts] for p in pages] == [
        [f"Customer {n:02d}" for n in range(start, min(start + 5, 12))] for start in (0, 5, 10)]
    assert (pages[0].pagination.page_count, pages[0].pagination.item_count) == (3, 12)
    full = sdk.accounting.get_contacts(sdk.tenant, where='Name == "Customer 00"')
    assert full.contacts[0].addresses[0].city == "Leeds"
    summary = sdk.accounting.get_contacts(sdk.tenant, where='Name == "Customer 00"',
                                          summary_only=True)
    assert summary.contacts[0].name == "Customer 00" and summary.contacts[0].addresses is None


# -- invoices -------------------------------------------------------------------------------
def test_invoices_are_created_read_updated_and_filtered(sdk: Sdk) -> None:
    buyer, other = new_contacts(sdk, "Dunmore Ltd", "Elm Street Shop")
    created = sdk.accounting.create_invoices(sdk.tenant, Invoices(invoices=[
        sales_invoice(buyer, ("Widgets", 3, 100.0), date=date(2026, 1, 10),
                      due_date=date(2026, 2, 9), reference="PO-77", status="AUTHORISED"),
        sales_invoice(other, ("Gadget", 1, 40.0), date=date(2026, 3, 1),
                      due_date=date(2026, 3, 31))])).invoices
    first, second = created
    assert first.invoice_number and first.status == "AUTHORISED"
    assert (first.sub_total, first.total_tax, first.total) == (300.0, 60.0, 360.0)
    assert first.date == date(2026, 1, 10) and first.amount_due == 360.0
    assert second.status == "DRAFT"

    read = sdk.accounting.get_invoice(sdk.tenant, first.invoice_id).invoices[0]
    assert [line.description for line in read.line_items] == ["Widgets"]
    updated = sdk.accounting.update_invoice(sdk.tenant, second.invoice_id, Invoices(invoices=[
        Invoice(reference="PO-78", status="AUTHORISED")])).invoices[0]
    assert (updated.reference, updated.status) == ("PO-78", "AUTHORISED")

    def numbers(**query: Any) -> list[str]:
        return [i.invoice_number for i in
                sdk.accounting.get_invoices(sdk.tenant, **query).invoices]

    assert numbers(where="Date >= DateTime(2026, 02, 01)") == [second.invoice_number]
    assert numbers(where="Date <= DateTime(2026, 01, 31) AND AmountDue > 300") == [
        first.invoice_number]
    assert numbers(where='Contact.Name.StartsWith("elm")') == [second.invoice_number]
    assert numbers(search_term="po-7", order="Date DESC") == [
        second.invoice_number, first.invoice_number]
    assert numbers(statuses=["AUTHORISED"], order="Total") == [
        second.invoice_number, first.invoice_number]
    since = datetime.now(UTC) - timedelta(seconds=30)
    assert len(numbers(if_modified_since=since)) == 2
    assert numbers(if_modified_since=datetime.now(UTC) + timedelta(hours=1)) == []
    summary = sdk.accounting.get_invoices(sdk.tenant, page=1, summary_only=True).invoices
    assert all(i.line_items is None and i.total for i in summary)
    paged = sdk.accounting.get_invoices(sdk.tenant, page=1).invoices
    assert all(i.line_items for i in paged)


def test_items_payments_and_credit_notes(sdk: Sdk) -> None:
    accounting, tenant = sdk.accounting, sdk.tenant
    [bank] = accounting.get_accounts(tenant, where='Type == "BANK"').accounts
    assert bank.code == "090"
    assert {r.tax_type for r in accounting.get_tax_rates(tenant).tax_rates} >= {"OUTPUT2"}
    [item] = accounting.create_items(tenant, Items(items=[Item(
        code="W1", name="Widget", sales_details=Purchase(unit_price=9.5, account_code="200"))]
    )).items
    assert (item.code, item.sales_details.unit_price) == ("W1", 9.5)
    buyer, = new_contacts(sdk, "Payer Ltd")
    [invoice] = accounting.create_invoices(tenant, Invoices(invoices=[sales_invoice(
        buyer, ("Widget", 10, 10.0), status="AUTHORISED", date=date(2026, 1, 5),
        due_date=date(2026, 2, 4))])).invoices
    [payment] = accounting.create_payment(tenant, Payment(
        invoice=Invoice(invoice_id=invoice.invoice_id),
        account=Account(account_id=bank.account_id), amount=40,
        date=date(2026, 1, 20))).payments
    assert payment.amount == 40 and payment.payment_type == "ACCRECPAYMENT"
    after = accounting.get_invoice(tenant, invoice.invoice_id).invoices[0]
    assert (after.status, after.amount_paid, after.amount_due) == ("AUTHORISED", 40, 80)
    with pytest.raises(AccountingBadRequestException) as too_much:
        accounting.create_payment(tenant, Payment(
            invoice=Invoice(invoice_id=invoice.invoice_id),
            account=Account(account_id=bank.account_id), amount=500,
            date=date(2026, 1, 21)))
    assert "exceeds the amount outstanding" in too_much.value.reason
    [credit] = accounting.create_credit_notes(tenant, CreditNotes(credit_notes=[CreditNote(
        type="ACCRECCREDIT", contact=Contact(contact_id=buyer.contact_id),
        line_items=[LineItem(description="Returned widget", quantity=1, unit_amount=10,
                             account_code="200", tax_type="OUTPUT2")])])).credit_notes
    assert credit.total == 12 and credit.credit_note_number
    assert [c.credit_note_id for c in accounting.get_credit_notes(
        tenant, where='Type == "ACCRECCREDIT"').credit_notes] == [credit.credit_note_id]


def test_validation_errors_are_parsed_by_the_sdks_exception(sdk: Sdk) -> None:
    buyer, = new_contacts(sdk, "Fern & Co")
    with pytest.raises(AccountingBadRequestException) as duplicate:
        new_contacts(sdk, "Gale Ltd", "Fern & Co")
    assert duplicate.value.status == 400
    assert duplicate.value.reason == ("The contact name must be unique across all active "
                                      "contacts.")
    data = duplicate.value.error_data
    assert (data["ErrorNumber"], data["Type"]) == (10, "ValidationException")
    [element] = data["Elements"]
    assert element["Name"] == "Fern & Co" and element["HasValidationErrors"] is True
    assert [c.name for c in sdk.accounting.get_contacts(sdk.tenant).contacts] == [
        "Fern & Co"], "the batch was all or nothing"

    wrong = sales_invoice(buyer, ("Widgets", 2, 10.0), status="AUTHORISED")
    wrong.line_items[0].account_code = "999"
    with pytest.raises(AccountingBadRequestException) as invalid:
        sdk.accounting.create_invoices(sdk.tenant, Invoices(invoices=[wrong]))
    [element] = invalid.value.error_data["Elements"]
    assert element["HasErrors"] is True and element["Type"] == "ACCREC"
    assert element["LineItems"][0]["AccountCode"] == "999", "the element is echoed as sent"
    assert "999" in invalid.value.reason

    answer = sdk.accounting.create_invoices(sdk.tenant, Invoices(invoices=[
        wrong, sales_invoice(buyer, ("Widgets", 2, 10.0))]), summarize_errors=False)
    assert [i.status_attribute_string for i in answer.invoices] == ["ERROR", "OK"]
    assert answer.invoices[0].validation_errors[0].message == invalid.value.reason

    with pytest.raises(NotFoundException):
        sdk.accounting.get_invoice(sdk.tenant, "00000000-0000-0000-0000-000000000001")


def test_a_rate_limit_on_a_post_is_the_sdks_rate_limit_exception() -> None:
    with running_sandbox(limits=Limits(per_minute=2, scale=1.0)) as (sandbox, server):
        sdk = connect(sandbox, server.url)
        [contact] = new_contacts(sdk, "Harbour Co")
        sdk.accounting.get_organisations(sdk.tenant)
        with pytest.raises(RateLimitException) as limited:
            sdk.accounting.update_contact(sdk.tenant, contact.contact_id, Contacts(contacts=[
                Contact(first_name="Hal")]))
        assert limited.value.rate_limit == "minute"
        assert 1 <= int(limited.value.headers["Retry-After"]) <= 60


def test_a_rate_limited_get_is_retried_after_the_wait_asked() -> None:
    """The SDK's HTTP pool (urllib3 with its default retries) waits ``Retry-After`` and asks
    again for a GET; the sandbox's log shows that it waited as long as it was told. (At
    real time: urllib3 refuses the fractional ``Retry-After`` a time-scaled sandbox gives.)"""
    with running_sandbox(limits=Limits(concurrent=1), latency=0.3) as (sandbox, server):
        sdk = connect(sandbox, server.url)
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: sdk.accounting.get_organisations(sdk.tenant),
                                    range(2)))
        log = [e for e in httpx.get(f"{server.url}/sandbox/log").json()
               if e["path"].endswith("/Organisation")]
    assert all(a.organisations[0].name for a in answers)
    statuses = [e["status"] for e in log]
    assert statuses.count(200) == 2 and 429 in statuses
    for refused in (e for e in log if e["status"] == 429):
        assert refused["problem"] == "concurrent" and refused["retry_after"] == 1.0
        later = [e["arrived"] - refused["arrived"] for e in log
                 if e["arrived"] > refused["arrived"]]
        assert later and min(later) >= 1.0, "the retry waited as asked"
