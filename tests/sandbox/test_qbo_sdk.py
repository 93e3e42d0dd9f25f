"""The QuickBooks Online SANDBOX driven by Intuit's and the community's official clients,
unmodified: ``intuit-oauth`` (``AuthClient``) and ``python-quickbooks`` (``QuickBooks`` and
its object classes), over real HTTP on 127.0.0.1.

What points them at the sandbox, and nothing else:

- ``AuthClient(environment=...)`` takes the URL of an OpenID discovery document instead of
  ``"sandbox"``/``"production"`` (intuit-oauth reads the endpoints from it); the sandbox
  serves one at ``/.well-known/openid_configuration/``.
- python-quickbooks has no setting for its base URL: ``QuickBooks.api_url_v3`` and
  ``QuickBooks.sandbox_api_url_v3`` are class attributes holding Intuit's hosts. The tests
  set the *instance* attribute ``api_url_v3`` of their own client (the narrowest override:
  no other client, nor the class, is touched).
- python-quickbooks calls the API through requests-oauthlib, which refuses plain HTTP unless
  ``OAUTHLIB_INSECURE_TRANSPORT`` is set (oauthlib's documented switch for local testing);
  each test sets it for itself only.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import (
    AuthorizationException,
    ObjectNotFoundException,
    QuickbooksException,
    ValidationException,
)
from quickbooks.objects.base import Ref
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment, PaymentLine
from quickbooks.objects.preferences import Preferences

from sandbox.qbo_server import new_company, running_sandbox
from syncline.sandbox.qbo import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    Company,
    SandboxServer,
)

REDIRECT = "http://localhost/callback"


@pytest.fixture(autouse=True)
def plain_http_on_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with running_sandbox() as running:
        yield running


def auth_client(server: SandboxServer) -> AuthClient:
    """intuit-oauth's client, its endpoints read from the sandbox's discovery document."""
    return AuthClient(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, REDIRECT,
                      environment=f"{server.base_url}/.well-known/openid_configuration/")


def connect(server: SandboxServer, company: Company) -> AuthClient:
    """The authorization-code grant as an app runs it: the user's browser follows the
    authorization URL, the app trades the code it was redirected with for tokens."""
    auth = auth_client(server)
    url = auth.get_authorization_url([Scopes.ACCOUNTING], state_token="xyz")
    assert url.startswith(f"{server.base_url}/oauth2/v1/authorize?")
    redirect = httpx.get(f"{url}&realm={company.realm_id}", follow_redirects=False)
    back = parse_qs(urlparse(redirect.headers["location"]).query)
    assert back["state"] == ["xyz"] and back["realmId"] == [company.realm_id]
    auth.get_bearer_token(back["code"][0], realm_id=back["realmId"][0])
    return auth


def quickbooks(server: SandboxServer, auth: AuthClient, company: Company,
               **settings: object) -> QuickBooks:
    client = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token,
                        company_id=company.realm_id, **settings)
    client.api_url_v3 = f"{server.base_url}/v3"  # see the module docstring
    return client


@pytest.fixture
def company(server: SandboxServer) -> Company:
    return new_company(server)


@pytest.fixture
def qb(server: SandboxServer, company: Company) -> QuickBooks:
    return quickbooks(server, connect(server, company), company, minorversion=75)


def new_customer(qb: QuickBooks, name: str, **values: object) -> Customer:
    customer = Customer()
    customer.DisplayName = name
    for key, value in values.items():
        setattr(customer, key, value)
    return customer.save(qb=qb)


def sales_line(item: Item, amount: float, *, qty: float | None = None,
               price: float | None = None) -> SalesItemLine:
    line = SalesItemLine()
    line.Amount = amount
    line.Description = f"{item.Name} x {qty or 1}"
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    if qty is not None and price is not None:
        line.SalesItemLineDetail.Qty = qty
        line.SalesItemLineDetail.UnitPrice = price
    return line


# -- OAuth through intuit-oauth -------------------------------------------------------------
def test_intuit_oauth_codes_refreshes_and_revokes(server: SandboxServer,
                                                  company: Company) -> None:
    auth = connect(server, company)
    first_refresh, first_access = auth.refresh_token, auth.access_token
    assert first_refresh and first_access and auth.expires_in == 3600
    auth.refresh()
    assert auth.refresh_token != first_refresh, "refresh tokens rotate"
    with pytest.raises(AuthClientError) as refused:
        auth.refresh(refresh_token=first_refresh)
    assert refused.value.status_code == 400 and "invalid_grant" in refused.value.content.decode()
    qb = quickbooks(server, auth, company, minorversion=75)
    assert Item.count(qb=qb) == 2
    user = auth.get_user_info().json()
    assert user["realmId"] == company.realm_id and user["emailVerified"] is True
    assert auth.revoke() is True
    with pytest.raises(AuthorizationException):
        Item.count(qb=qb)
    with pytest.raises(AuthClientError) as gone:
        auth.get_user_info()
    assert gone.value.status_code == 401


def test_the_client_without_minorversion_is_answered_in_the_default_one(
        server: SandboxServer, company: Company) -> None:
    auth = connect(server, company)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the library's own advice
        qb = quickbooks(server, auth, company)
    assert [item.Name for item in Item.all(qb=qb)] == ["Consulting", "Hosting"]
    token = auth.access_token
    bare = httpx.get(f"{server.base_url}/v3/company/{company.realm_id}/item/"
                     f"{Item.all(qb=qb)[0].Id}", headers={"Authorization": f"Bearer {token}",
                                                          "Accept": "application/json"})
    assert bare.status_code == 200 and bare.json()["Item"]["Name"] == "Consulting"


# -- company information --------------------------------------------------------------------
def test_company_info_and_preferences(qb: QuickBooks, company: Company) -> None:
    info = CompanyInfo.get(company.realm_id, qb=qb)
    assert (info.CompanyName, info.Country) == ("Sandbox Company (UK)", "GB")
    assert info.CompanyAddr.City == "London"
    assert [found.CompanyName for found in CompanyInfo.all(qb=qb)] == [info.CompanyName]
    preferences = Preferences.get(qb=qb)
    assert preferences.CurrencyPrefs.MultiCurrencyEnabled is False
    assert preferences.SalesFormsPrefs.CustomTxnNumbers is False
    assert preferences.ProductAndServicesPrefs.ForSales is True
    assert preferences.SalesFormsPrefs.DefaultTerms.name == "Net 30"


# -- customers: create, read, update, query -------------------------------------------------
def test_customers_are_created_read_updated_and_queried(qb: QuickBooks) -> None:
    made = new_customer(qb, "Acme Trading", CompanyName="Acme Trading Ltd", Notes="first")
    assert made.Id and made.SyncToken == "0"
    assert made.FullyQualifiedName == "Acme Trading" and made.Active is True
    read = Customer.get(made.Id, qb=qb)
    assert (read.DisplayName, read.CompanyName, read.Notes) == (
        "Acme Trading", "Acme Trading Ltd", "first")
    read.Notes = "second"
    updated = read.save(qb=qb)
    assert (updated.SyncToken, updated.Notes) == ("1", "second")
    for name in ("Beacon Supplies", "Cobalt Works", "Acme Holdings"):
        new_customer(qb, name)

    names = Customer.query("SELECT Id, DisplayName FROM Customer ORDERBY DisplayName", qb=qb)
    assert [found.DisplayName for found in names] == [
        "Acme Holdings", "Acme Trading", "Beacon Supplies", "Cobalt Works"]
    assert all(found.Id and found.sparse is True for found in names)
    raw = qb.query("SELECT Id, DisplayName FROM Customer WHERE DisplayName = 'Acme Trading'")
    assert raw["QueryResponse"]["Customer"] == [
        {"domain": "QBO", "sparse": True, "Id": made.Id, "DisplayName": "Acme Trading"}]
    assert [c.DisplayName for c in Customer.filter(DisplayName="Cobalt Works", qb=qb)] == [
        "Cobalt Works"]
    like = Customer.where("DisplayName LIKE 'Acme%'", order_by="DisplayName DESC", qb=qb)
    assert [c.DisplayName for c in like] == ["Acme Trading", "Acme Holdings"]
    assert Customer.count(qb=qb) == 4
    chosen = Customer.choose([made.Id], qb=qb)
    assert [c.DisplayName for c in chosen] == ["Acme Trading"]


def test_paging_with_start_position_and_max_results(qb: QuickBooks) -> None:
    for number in range(7):
        new_customer(qb, f"Customer {number}")
    pages = [Customer.all(order_by="DisplayName", start_position=start, max_results=3, qb=qb)
             for start in (1, 4, 7)]
    assert [[c.DisplayName for c in page] for page in pages] == [
        ["Customer 0", "Customer 1", "Customer 2"], ["Customer 3", "Customer 4", "Customer 5"],
        ["Customer 6"]]
    assert Customer.all(start_position=8, max_results=3, qb=qb) == []


def test_items_are_listed_with_their_sku(qb: QuickBooks) -> None:
    items = Item.all(qb=qb)  # python-quickbooks asks "SELECT *, Sku FROM Item"
    assert {(item.Name, item.Sku) for item in items} == {("Consulting", "CONSULT"),
                                                         ("Hosting", "HOST")}
    assert all(item.IncomeAccountRef.name == "Sales of Product Income" for item in items)


# -- invoices --------------------------------------------------------------------------------
def test_invoices_take_the_clients_empty_dates_and_answer_named_references(
        qb: QuickBooks, company: Company) -> None:
    buyer = new_customer(qb, "Dunmore Ltd")
    consulting, hosting = sorted(Item.all(qb=qb), key=lambda item: item.Name)
    invoice = Invoice()
    invoice.CustomerRef = Ref()
    invoice.CustomerRef.value = buyer.Id  # a bare reference: no name, type ""
    invoice.Line = [sales_line(consulting, 300.0, qty=3, price=100),
                    sales_line(hosting, 50.0)]  # Qty and UnitPrice left at the library's 0
    assert invoice.TxnDate == "" and invoice.DueDate == "", "what the library sends"
    saved = invoice.save(qb=qb)
    today = company.today().isoformat()
    assert (saved.TxnDate, saved.DueDate) == (today, today)
    assert (saved.TotalAmt, saved.Balance) == (350.0, 350.0)
    assert saved.DocNumber
    assert saved.CustomerRef.value == buyer.Id and saved.CustomerRef.name == "Dunmore Ltd"
    assert [line.SalesItemLineDetail.ItemRef.name for line in saved.Line] == [
        "Consulting", "Hosting"]

    read = Invoice.get(saved.Id, qb=qb)
    read.DueDate = (company.today() + timedelta(days=14)).isoformat()
    read.PrivateNote = "agreed by phone"
    changed = read.save(qb=qb)
    assert (changed.SyncToken, changed.PrivateNote) == ("1", "agreed by phone")
    assert changed.DueDate == read.DueDate and changed.TotalAmt == 350.0

    buyer.DisplayName = "Dunmore & Sons Ltd"
    buyer = buyer.save(qb=qb)
    renamed = Invoice.get(saved.Id, qb=qb)
    assert renamed.CustomerRef.name == "Dunmore & Sons Ltd", "references carry today's name"
    assert renamed.SyncToken == "1", "the invoice itself did not change"

    found = Invoice.filter(CustomerRef=buyer.Id, qb=qb)
    assert [i.Id for i in found] == [saved.Id]
    assert Invoice.where(f"TxnDate >= '{today}' AND TotalAmt > '300'", qb=qb)[0].Id == saved.Id


def test_invoice_delete_and_change_data_capture(qb: QuickBooks) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    buyer = new_customer(qb, "Elm Street Shop")
    item = Item.all(qb=qb)[0]
    invoice = Invoice()
    invoice.CustomerRef = buyer.to_ref()
    invoice.Line = [sales_line(item, 100.0)]
    kept = invoice.save(qb=qb)
    gone = Invoice()
    gone.CustomerRef = buyer.to_ref()
    gone.Line = [sales_line(item, 20.0)]
    gone = gone.save(qb=qb)
    gone.delete(qb=qb)
    with pytest.raises(ObjectNotFoundException):
        Invoice.get(gone.Id, qb=qb)
    changes = change_data_capture([Invoice, Customer], since, qb=qb)
    assert [c.DisplayName for c in changes.Customer] == ["Elm Street Shop"]
    assert {(i.Id, getattr(i, "status", "")) for i in changes.Invoice} == {
        (kept.Id, ""), (gone.Id, "Deleted")}


def test_payments_settle_invoices_and_only_unpaid_ones_can_be_voided(qb: QuickBooks) -> None:
    buyer = new_customer(qb, "Kestrel Ltd")
    item = Item.all(qb=qb)[0]
    paid, unpaid = Invoice(), Invoice()
    for invoice, amount in ((paid, 100.0), (unpaid, 30.0)):
        invoice.CustomerRef = buyer.to_ref()
        invoice.Line = [sales_line(item, amount)]
    paid, unpaid = paid.save(qb=qb), unpaid.save(qb=qb)
    payment = Payment()
    payment.CustomerRef = buyer.to_ref()
    payment.TotalAmt = 100
    line = PaymentLine()
    line.Amount = 100
    line.LinkedTxn.append(paid.to_linked_txn())
    payment.Line = [line]
    assert payment.save(qb=qb).UnappliedAmt == 0
    assert Invoice.get(paid.Id, qb=qb).Balance == 0

    unpaid.void(qb=qb)
    voided = Invoice.get(unpaid.Id, qb=qb)
    assert (voided.TotalAmt, voided.Balance, voided.PrivateNote) == (0, 0, "Voided")
    settled = Invoice.get(paid.Id, qb=qb)
    with pytest.raises(QuickbooksException) as refused:
        settled.void(qb=qb)
    assert refused.value.error_code == 6000 and "payments applied" in refused.value.detail
    assert Invoice.get(paid.Id, qb=qb).TotalAmt == 100


def test_batch_create_answers_per_object(qb: QuickBooks) -> None:
    first, second, clash = Customer(), Customer(), Customer()
    first.DisplayName, second.DisplayName, clash.DisplayName = "Fern", "Gale", "Fern"
    result = batch_create([first, second, clash], qb=qb)
    assert sorted(c.DisplayName for c in result.successes) == ["Fern", "Gale"]
    [failure] = result.faults
    assert failure.Error[0].code == "6240"


# -- errors, parsed by the library's exception types ----------------------------------------
def test_faults_become_the_libraries_exceptions(qb: QuickBooks) -> None:
    new_customer(qb, "Harbour Co")
    with pytest.raises(QuickbooksException) as duplicate:  # 6240: past the library's
        new_customer(qb, "harbour co")                      # 2000-4999 validation range
    assert duplicate.value.error_code == 6240
    assert "already exists" in duplicate.value.detail

    invoice = Invoice()
    invoice.CustomerRef = Ref()
    invoice.CustomerRef.value = "999999"
    invoice.Line = [sales_line(Item.all(qb=qb)[0], 10.0)]
    with pytest.raises(ValidationException) as reference:
        invoice.save(qb=qb)
    assert reference.value.error_code == 2500 and "CustomerRef 999999" in reference.value.detail

    mismatch = Invoice()
    mismatch.CustomerRef = Customer.all(qb=qb)[0].to_ref()
    mismatch.Line = [sales_line(Item.all(qb=qb)[0], 250.0, qty=2, price=100)]
    with pytest.raises(QuickbooksException) as amount:
        mismatch.save(qb=qb)
    assert amount.value.error_code == 6070

    with pytest.raises(ObjectNotFoundException):
        Customer.get("424242", qb=qb)
    with pytest.raises(ValidationException) as parser:
        Customer.query("SELECT Id, FROM Customer", qb=qb)
    assert parser.value.error_code == 4000
    with pytest.raises(ValidationException) as unknown:
        Customer.query("SELECT Id, Shoe FROM Customer", qb=qb)
    assert unknown.value.error_code == 4001 and "Shoe" in unknown.value.detail


def test_a_stale_sync_token_is_refused(qb: QuickBooks) -> None:
    made = new_customer(qb, "Ivy Lane")
    first, second = Customer.get(made.Id, qb=qb), Customer.get(made.Id, qb=qb)
    first.Notes = "one"
    first.save(qb=qb)
    second.Notes = "two"
    with pytest.raises(QuickbooksException) as stale:
        second.save(qb=qb)
    assert stale.value.error_code == 5010
    assert Customer.get(made.Id, qb=qb).Notes == "one", "nothing was overwritten"


def test_use_decimal_reads_amounts_exactly(server: SandboxServer, company: Company) -> None:
    qb = quickbooks(server, connect(server, company), company, minorversion=75,
                    use_decimal=True)
    buyer = new_customer(qb, "Juniper")
    invoice = Invoice()
    invoice.CustomerRef = buyer.to_ref()
    invoice.Line = [sales_line(Item.all(qb=qb)[0], 10.1, qty=1, price=10.1),
                    sales_line(Item.all(qb=qb)[1], 0.2)]
    saved = invoice.save(qb=qb)
    assert Invoice.get(saved.Id, qb=qb).TotalAmt == Decimal("10.3")
