"""The xero connector against the Xero SANDBOX over real HTTP on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.fernet import Fernet

from sandbox.xero_support import (
    ApiUser,
    authorize,
    connector_settings,
    make_connector,
    running_sandbox,
)
from syncline.connectors.base import (
    Capability,
    Connector,
    ReadScope,
    WriteBatch,
    WriteKind,
    WriteOperation,
)
from syncline.connectors.xero import XeroConnector
from syncline.errors import AuthenticationFailed, ConnectorNotOpen, ValidationFailed
from syncline.testing import ConnectorContract, FieldMaker, OutsideEditor

TENANT = "Sandbox Company A (UK)"


@pytest.fixture
def sandbox() -> Iterator[tuple[Any, Any]]:
    with running_sandbox() as running:
        yield running


def tenant_id(sandbox: Any) -> str:
    return next(t.tenant_id for t in sandbox.store.tenants.values() if t.name == TENANT)


class XeroEditor:
    """Another app changing the organisation through the API (an OutsideEditor)."""

    def __init__(self, user: ApiUser, stream: str, contact: str | None = None) -> None:
        self.user = user
        self.stream = stream
        self.contact = contact

    def _element(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self.stream == "contact":
            return {"Name": fields["name"], "EmailAddress": fields.get("email", ""),
                    "Addresses": [{"AddressType": "STREET", "City": fields.get("city", "")}]}
        return {"Type": "ACCREC", "Contact": {"ContactID": self.contact},
                "InvoiceNumber": fields["number"], "Reference": fields.get("reference", ""),
                "Date": fields["date"].isoformat(), "Status": fields["status"],
                "LineItems": [{"Description": line["description"],
                               "Quantity": float(line["quantity"]),
                               "UnitAmount": float(line["unit_price"]), "AccountCode": "200",
                               "TaxType": line["tax_rate"]}
                              for line in fields["lines"]]}

    @property
    def collection(self) -> str:
        return "Contacts" if self.stream == "contact" else "Invoices"

    def create(self, fields: dict[str, Any]) -> str:
        answer = self.user.call("PUT", f"/{self.collection}",
                                json={self.collection: [self._element(fields)]})
        assert answer.status_code == 200, answer.text
        element = answer.json()[self.collection][0]
        return str(element["ContactID" if self.stream == "contact" else "InvoiceID"])

    def update(self, key: str, fields: dict[str, Any]) -> None:
        answer = self.user.call("POST", f"/{self.collection}/{key}",
                                json={self.collection: [self._element(fields)]})
        assert answer.status_code == 200, answer.text

    def delete(self, key: str) -> None:
        body = {"ContactStatus": "ARCHIVED"} if self.stream == "contact" \
            else {"Status": "DELETED"}
        answer = self.user.call("POST", f"/{self.collection}/{key}",
                                json={self.collection: [body]})
        assert answer.status_code == 200, answer.text

    def set_unmapped(self, key: str, value: str) -> None:
        field = "AccountNumber" if self.stream == "contact" else "Url"
        self.user.call("POST", f"/{self.collection}/{key}",
                       json={self.collection: [{field: value}]}).raise_for_status()

    def get_unmapped(self, key: str) -> str | None:
        field = "AccountNumber" if self.stream == "contact" else "Url"
        found = self.user.call("GET", f"/{self.collection}/{key}").json()[self.collection][0]
        return found.get(field)


class XeroContract(ConnectorContract):
    page_size: ClassVar[int | None] = 100

    @pytest.fixture
    def connector(self, sandbox: Any, tmp_path: Path) -> Iterator[Connector]:
        _, server = sandbox
        connector = make_connector(server.url, tmp_path, TENANT)
        yield connector
        connector.close()

    @pytest.fixture
    def user(self, sandbox: Any) -> ApiUser:
        xero, server = sandbox
        return ApiUser(server.url, tenant_id(xero))


class TestXeroContacts(XeroContract):
    stream = "contact"

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        def make(n: int) -> dict[str, Any]:
            return {"name": f"Customer {n:03d}", "email": f"c{n}@example.com",
                    "city": f"Town {n}"}
        return make

    @pytest.fixture
    def outside(self, user: ApiUser) -> OutsideEditor:
        return XeroEditor(user, "contact")

    def key_order(self, key: str) -> Any:
        return key


class TestXeroInvoices(XeroContract):
    stream = "invoice"

    @pytest.fixture
    def customer(self, user: ApiUser) -> str:
        answer = user.call("PUT", "/Contacts", json={"Contacts": [{"Name": "Invoice Buyer"}]})
        return str(answer.json()["Contacts"][0]["ContactID"])

    @pytest.fixture
    def make_fields(self, customer: str, connector: XeroConnector) -> FieldMaker:
        sales = "200"  # ledger accounts are keyed by their codes

        def make(n: int) -> dict[str, Any]:
            quantity = Decimal(1 + n % 3)
            amount = quantity * Decimal("10.50")
            # Xero computes line and tax amounts; the fields hold what it will answer
            return {"number": f"INV-{n:05d}", "contact": customer, "status": "DRAFT",
                    "reference": f"order {n}", "date": date(2024, 1, 1 + n % 28),
                    "lines": [{"description": f"widget {n}", "quantity": quantity,
                               "unit_price": Decimal("10.50"), "ledger_account": sales,
                               "tax_rate": "OUTPUT2", "line_amount": amount,
                               "tax_amount": (amount * Decimal("0.2")).quantize(
                                   Decimal("0.01"))}]}
        return make

    @pytest.fixture
    def outside(self, user: ApiUser, customer: str) -> OutsideEditor:
        return XeroEditor(user, "invoice", customer)

    def rejected_fields(self, connector: Connector, make_fields: FieldMaker) \
            -> dict[str, Any] | None:
        fields = make_fields(77)
        fields["contact"] = str(uuid.uuid4())
        return fields


class TestXeroBills(TestXeroInvoices):
    stream = "bill"

    @pytest.fixture
    def make_fields(self, customer: str, connector: XeroConnector) -> FieldMaker:
        costs = "429"

        def make(n: int) -> dict[str, Any]:
            amount = Decimal(n + 1) * Decimal("3.10")
            return {"number": f"SUP-{n:05d}", "contact": customer, "status": "AUTHORISED",
                    "date": date(2024, 2, 1 + n % 28), "reference": f"bill {n}",
                    "lines": [{"description": f"supplies {n}", "quantity": Decimal(n + 1),
                               "unit_price": Decimal("3.10"), "ledger_account": costs,
                               "tax_rate": "INPUT2", "line_amount": amount,
                               "tax_amount": (amount * Decimal("0.2")).quantize(
                                   Decimal("0.01"))}]}
        return make

    @pytest.fixture
    def outside(self) -> OutsideEditor | None:
        return None


class TestXeroCreditNotes(TestXeroBills):
    stream = "credit_note"


class TestXeroItems(XeroContract):
    stream = "item"

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        def make(n: int) -> dict[str, Any]:
            return {"name": f"Item {n}", "code": f"ITEM-{n:03d}",
                    "unit_price": Decimal(n) + Decimal("0.25"), "tax_rate": "OUTPUT2"}
        return make

    def rejected_fields(self, connector: Connector, make_fields: FieldMaker) \
            -> dict[str, Any] | None:
        return {**make_fields(2), "tax_rate": "NO-SUCH-TAX"}


# -- scenarios beyond the contract ----------------------------------------------------------------
def _op(kind: WriteKind, fields: dict[str, Any] | None = None, key: str | None = None,
        token: str | None = None) -> WriteOperation:
    return WriteOperation(token or uuid.uuid4().hex, kind, key, fields)


def test_capabilities_declare_accounting_semantics() -> None:
    matrix = XeroConnector.capability_matrix()
    assert matrix["payment"] & Capability.UPDATE == Capability.NONE
    assert matrix["tax_rate"] == Capability.READ | Capability.DETECT_DELETES
    assert matrix["invoice"] & Capability.INCREMENTAL
    assert not matrix["item"] & Capability.INCREMENTAL


def test_per_element_validation_errors_become_item_errors(sandbox: Any, tmp_path: Path) -> None:
    xero, server = sandbox
    connector = make_connector(server.url, tmp_path, TENANT)
    user = ApiUser(server.url, tenant_id(xero))
    customer = user.call("PUT", "/Contacts", json={"Contacts": [{"Name": "Buyer"}]}) \
        .json()["Contacts"][0]["ContactID"]
    sales = "200"
    good = {"number": "INV-1", "contact": customer, "status": "AUTHORISED",
            "lines": [{"description": "a", "quantity": Decimal(2), "unit_price": Decimal(5),
                       "ledger_account": sales}]}
    mismatch = {**good, "number": "INV-2", "lines": [{**good["lines"][0],
                                                     "line_amount": Decimal("11.00")}]}
    no_contact = {**good, "number": "INV-3", "contact": str(uuid.uuid4())}
    duplicate = {**good}
    results = connector.write(WriteBatch("b1", "invoice", [
        _op(WriteKind.CREATE, good), _op(WriteKind.CREATE, mismatch),
        _op(WriteKind.CREATE, no_contact), _op(WriteKind.CREATE, duplicate)]))
    assert results[0].ok
    assert all(isinstance(r.error, ValidationFailed) for r in results[1:])
    assert "INV-2" in str(results[1].error) and "line total" in str(results[1].error)
    assert "INV-3" in str(results[2].error) and "could not be found" in str(results[2].error)
    assert "must be unique" in str(results[3].error)
    invoices = user.call("GET", "/Invoices", params={"page": 1}).json()["Invoices"]
    assert [i["InvoiceNumber"] for i in invoices] == ["INV-1"]
    assert invoices[0]["Total"] == 12.0  # 10.00 + 20% VAT from account 200's OUTPUT2
    connector.close()


def test_idempotent_retry_and_recover_after_crash(sandbox: Any, tmp_path: Path) -> None:
    xero, server = sandbox
    connector = make_connector(server.url, tmp_path, TENANT)
    batch = WriteBatch("crashy", "contact", [_op(WriteKind.CREATE, {"name": f"P{n}"})
                                             for n in range(3)])
    written = connector.write(batch)
    assert all(r.ok for r in written)
    # simulate a crash after sending but before the receipt: drop the receipt, keep "sent"
    state = connector.state
    state.db.execute("DELETE FROM receipts")
    state.record_sent("crashy", 0, "POST", "/Contacts",
                      {"Contacts": [{"Name": f"P{n}"} for n in range(3)]},
                      _first_key(xero), [o.token for o in batch.operations])
    recovered = connector.recover(batch)
    assert recovered is not None
    assert [r.key for r in recovered] == [r.key for r in written]
    names = [c["Name"] for c in xero.store.snapshot()[tenant_id(xero)]["Contacts"]]
    assert sorted(names) == ["P0", "P1", "P2"]
    replays = [e for e in xero.store.log_entries() if e["replayed"]]
    assert len(replays) == 1
    connector.close()


def _first_key(xero: Any) -> str:
    return str(next(e["idempotency_key"] for e in xero.store.log_entries()
                    if e["idempotency_key"]))


def test_oauth_refresh_rotates_and_token_is_encrypted(sandbox: Any, tmp_path: Path) -> None:
    xero, server = sandbox
    connector = make_connector(server.url, tmp_path, TENANT)
    first = connector.vault.get(connector.config.connection)
    assert first is not None
    raw = (tmp_path / "vault.json").read_bytes()
    assert first["refresh_token"].encode() not in raw
    assert first["access_token"].encode() not in raw
    assert xero.oauth.expire_access_tokens() >= 1
    assert list(connector.read_all("contact", ReadScope())) == []
    second = connector.vault.get(connector.config.connection)
    assert second is not None and second["refresh_token"] != first["refresh_token"]
    assert first["refresh_token"] not in xero.oauth.refresh_tokens  # rotated: old one is dead
    assert second["refresh_token"].encode() not in (tmp_path / "vault.json").read_bytes()
    # a second endpoint on the same connection picks up the rotated token from the vault
    other = make_connector(server.url, tmp_path, "Sandbox Company B (UK)",
                           state_dir=str(tmp_path / "state-b"))
    assert other.tenant_id != connector.tenant_id
    assert list(other.read_all("tax_rate", ReadScope()))
    connector.close()
    other.close()


def test_a_refused_refresh_token_asks_to_authorize_again(sandbox: Any, tmp_path: Path) -> None:
    xero, server = sandbox
    connector = make_connector(server.url, tmp_path, TENANT)
    xero.oauth.refresh_tokens.clear()  # revoked, or unused for 60 days
    xero.oauth.expire_access_tokens()
    with pytest.raises(AuthenticationFailed, match="authorize again with `syncline auth books`"):
        list(connector.read_all("contact", ReadScope()))
    connector.close()


def test_reading_or_writing_while_not_open_is_connector_not_open(sandbox: Any,
                                                                 tmp_path: Path) -> None:
    _, server = sandbox
    connector = make_connector(server.url, tmp_path, TENANT)
    connector.close()
    closed = connector
    never_opened = XeroConnector("books", connector_settings(server.url, tmp_path, TENANT),
                                 tmp_path)
    batch = WriteBatch("never-sent", "contact", [_op(WriteKind.CREATE, {"name": "Nobody"})])
    for connector in (never_opened, closed):
        with pytest.raises(ConnectorNotOpen, match="the connector is not open"):
            connector.read_keys("contact", [str(uuid.uuid4())])
        with pytest.raises(ConnectorNotOpen):
            list(connector.read_all("contact", ReadScope()))
        with pytest.raises(ConnectorNotOpen):
            connector.write(batch)
        with pytest.raises(ConnectorNotOpen):
            connector.recover(batch)
        with pytest.raises(ConnectorNotOpen):
            connector.current_cursor("contact")
        with pytest.raises(ConnectorNotOpen):
            _ = connector.state


def test_missing_token_is_an_authentication_error(sandbox: Any, tmp_path: Path) -> None:
    _, server = sandbox
    connector = XeroConnector("books", connector_settings(server.url, tmp_path, TENANT),
                              tmp_path)
    with pytest.raises(AuthenticationFailed, match="syncline auth books"):
        connector.open()


def test_paging_and_read_keys_and_incremental(sandbox: Any, tmp_path: Path) -> None:
    xero, server = sandbox
    connector = make_connector(server.url, tmp_path, TENANT)
    results = connector.write(WriteBatch("many", "contact", [
        _op(WriteKind.CREATE, {"name": f"C{n:03d}"}) for n in range(230)]))
    assert all(r.ok for r in results)
    pages = list(connector.read_all("contact", ReadScope()))
    assert [len(p) for p in pages] == [100, 100, 30]
    keys = [str(r.key) for r in results]
    assert set(connector.read_keys("contact", keys[:120])) == set(keys[:120])
    cursor = connector.current_cursor("contact")
    assert cursor is not None
    user = ApiUser(server.url, tenant_id(xero))
    user.call("POST", f"/Contacts/{keys[5]}",
              json={"Contacts": [{"EmailAddress": "new@example.com"}]}).raise_for_status()
    user.call("POST", f"/Contacts/{keys[6]}",
              json={"Contacts": [{"ContactStatus": "ARCHIVED"}]}).raise_for_status()
    feed = connector.read_changes("contact", cursor, ReadScope())
    changes = [c for page in feed.pages for c in page]
    assert {c.key: (c.record.fields["email"] if c.record else None) for c in changes} \
        == {keys[5]: "new@example.com", keys[6]: None}
    gets = [e for e in xero.store.log_entries() if e["method"] == "GET"
            and e["path"].endswith("/Contacts")]
    assert gets  # the feed was read with If-Modified-Since from the sandbox
    assert feed.cursor is not None
    again = connector.read_changes("contact", feed.cursor, ReadScope())
    assert [c for page in again.pages for c in page] == []
    connector.close()


def test_delete_semantics(sandbox: Any, tmp_path: Path) -> None:
    xero, server = sandbox
    connector = make_connector(server.url, tmp_path, TENANT)
    user = ApiUser(server.url, tenant_id(xero))
    customer = user.call("PUT", "/Contacts", json={"Contacts": [{"Name": "Buyer"}]}) \
        .json()["Contacts"][0]["ContactID"]
    sales, bank = "200", "090"

    def invoice(number: str, status: str) -> dict[str, Any]:
        return {"number": number, "contact": customer, "status": status,
                "lines": [{"description": "x", "quantity": Decimal(1),
                           "unit_price": Decimal(100), "ledger_account": sales}]}
    draft, approved, paid = (r.key for r in connector.write(WriteBatch("c", "invoice", [
        _op(WriteKind.CREATE, invoice("D-1", "DRAFT")),
        _op(WriteKind.CREATE, invoice("A-1", "AUTHORISED")),
        _op(WriteKind.CREATE, invoice("P-1", "AUTHORISED"))])))
    (payment,) = connector.write(WriteBatch("p", "payment", [_op(WriteKind.CREATE, {
        "invoice": paid, "amount": Decimal(120), "date": date(2024, 2, 1),
        "ledger_account": bank, "reference": "pay 1"})]))
    assert payment.ok, payment.error
    results = connector.write(WriteBatch("d", "invoice", [
        _op(WriteKind.DELETE, key=draft), _op(WriteKind.DELETE, key=approved),
        _op(WriteKind.DELETE, key=paid)]))
    assert results[0].ok and results[1].ok
    assert isinstance(results[2].error, ValidationFailed) and "paid" in str(results[2].error)
    statuses = {i["InvoiceNumber"]: i["Status"] for i in
                xero.store.snapshot()[tenant_id(xero)]["Invoices"]}
    assert statuses == {"D-1": "DELETED", "A-1": "VOIDED", "P-1": "PAID"}
    (removed,) = connector.write(WriteBatch("dp", "payment", [
        _op(WriteKind.DELETE, key=payment.key)]))
    assert removed.ok, removed.error
    (voided,) = connector.write(WriteBatch("d2", "invoice", [_op(WriteKind.DELETE, key=paid)]))
    assert voided.ok, voided.error
    (archived,) = connector.write(WriteBatch("dc", "contact", [
        _op(WriteKind.DELETE, key=customer)]))
    assert archived.ok, archived.error
    assert connector.read_keys("contact", [customer]) == {}
    contact = user.call("GET", f"/Contacts/{customer}").json()["Contacts"][0]
    assert contact["ContactStatus"] == "ARCHIVED"
    connector.close()


def test_reference_streams_and_versions(sandbox: Any, tmp_path: Path) -> None:
    xero, server = sandbox
    connector = make_connector(server.url, tmp_path, TENANT)
    rates = {r.key: r.fields for page in connector.read_all("tax_rate", ReadScope())
             for r in page}
    assert rates["OUTPUT2"] == {"code": "OUTPUT2", "name": "20% (VAT on Income)",
                                "rate": Decimal(20), "active": True}
    regions = [r.fields["code"] for page in connector.read_all("cost_code", ReadScope())
               for r in page]
    projects = [r.fields["code"] for page in connector.read_all("project_code", ReadScope())
                for r in page]
    assert sorted(regions) == ["North", "South"] and sorted(projects) == ["Alpha", "Beta"]
    assert connector.current_cursor("tax_rate") is None
    accounts = [r for page in connector.read_all("ledger_account", ReadScope()) for r in page]
    assert {r.fields["code"] for r in accounts} >= {"090", "200", "429"}
    (created,) = connector.write(WriteBatch("a", "ledger_account", [_op(WriteKind.CREATE, {
        "code": "455", "name": "Consulting", "type": "EXPENSE", "tax_rate": "INPUT2"})]))
    assert created.ok, created.error
    cursor = connector.current_cursor("ledger_account")
    assert created.key == "455"
    assert cursor is not None and cursor.endswith("455")
    stale = connector.write(WriteBatch("u", "ledger_account", [WriteOperation(
        "x", WriteKind.UPDATE, created.key, {"name": "Advice"}, expected_version="1")]))
    assert "changed" in str(stale[0].error)
    (archived,) = connector.write(WriteBatch("d", "ledger_account", [
        _op(WriteKind.DELETE, key=created.key)]))
    assert archived.ok, archived.error
    user = ApiUser(server.url, tenant_id(xero))
    found = user.call("GET", "/Accounts", params={"where": 'Code=="455"'}).json()["Accounts"]
    assert [account["Status"] for account in found] == ["ARCHIVED"]
    assert connector.read_keys("ledger_account", [str(created.key)]) == {}
    connector.close()


def test_lines_with_tracking_and_unknown_references(sandbox: Any, tmp_path: Path) -> None:
    xero, server = sandbox
    connector = make_connector(server.url, tmp_path, TENANT)
    user = ApiUser(server.url, tenant_id(xero))
    customer = user.call("PUT", "/Contacts", json={"Contacts": [{"Name": "Buyer"}]}) \
        .json()["Contacts"][0]["ContactID"]
    sales = "200"
    north = next(r.key for page in connector.read_all("cost_code", ReadScope()) for r in page
                 if r.fields["code"] == "North")
    assert north == "North"  # tracking options are keyed by their names
    line = {"description": "x", "quantity": Decimal(1), "unit_price": Decimal(10),
            "ledger_account": sales, "cost_code": north}
    ok, missing = connector.write(WriteBatch("t", "invoice", [
        _op(WriteKind.CREATE, {"number": "T-1", "contact": customer, "lines": [line]}),
        _op(WriteKind.CREATE, {"number": "T-2", "contact": customer,
                               "lines": [{**line, "ledger_account": "999"}]})]))
    assert ok.ok, ok.error
    assert isinstance(missing.error, ValidationFailed)
    assert "invoice T-2: Account code '999' is not a valid code" in str(missing.error)
    record = connector.read_keys("invoice", [str(ok.key)])[str(ok.key)]
    assert record.fields["lines"][0]["cost_code"] == north
    tracking = user.call("GET", f"/Invoices/{ok.key}").json()["Invoices"][0]["LineItems"][0]
    assert tracking["Tracking"][0]["Option"] == "North"
    connector.close()


def test_engine_posts_unposted_invoices_once(sandbox: Any, tmp_path: Path) -> None:
    """An order system's customers and invoices go to Xero; one with a wrong account code is
    refused by Xero with its message and stays pending; once fixed it goes, nothing twice."""
    from syncline.config import parse_config
    from syncline.connectors.memory import shared_store
    from syncline.engine import RunRequest, SyncEngine
    from syncline.state.store import StateStore

    xero, server = sandbox
    crm_name = f"crm-{uuid.uuid4().hex}"
    crm = shared_store(crm_name)
    crm.put("contact", "cust-1", {"name": "Northwind Ltd", "email": "ap@northwind.example"})
    crm.put("contact", "cust-2", {"name": "Contoso plc", "email": "ap@contoso.example"})
    for n in range(5):
        crm.put("invoice", f"so-{n}", {
            "number": f"SO-{n:04d}", "contact": f"cust-{1 + n % 2}",
            "date": date(2026, 11, 2), "status": "AUTHORISED",
            "lines": [{"description": "Consulting", "quantity": Decimal(1 + n),
                       "unit_price": Decimal(100),
                       "ledger_account": "999" if n == 3 else "200"}]})
    settings = {"connector": "xero", "client_id": "sandbox-client",
                "client_secret": "sandbox-secret", "sandbox_url": server.url,
                "tenant": TENANT, "key_file": str(tmp_path / "secret.key"),
                "redirect_uri": "http://localhost/cb", "streams": ["contact", "invoice"],
                "limits": {"time_scale": 600.0}}
    (tmp_path / "secret.key").write_bytes(Fernet.generate_key())
    authorize(XeroConnector("books", {k: v for k, v in settings.items() if k != "connector"},
                            tmp_path))
    config = parse_config({"endpoints": {
        "crm": {"connector": "memory", "name": crm_name, "streams": {
            "contact": {"fields": ["name", "email"]},
            "invoice": {"fields": ["number", "contact", "date", "status", "lines"]}}},
        "books": settings},
        "links": {"post": {"a": "crm", "b": "books", "streams": ["contact", "invoice"],
                           "direction": "a-to-b"}}}, base_dir=tmp_path)
    store = StateStore.open(f"sqlite:///{tmp_path}/state.db")
    first = SyncEngine(config, store).run(RunRequest("post"))
    assert first.streams["contact"].A == 2
    assert first.streams["invoice"].A == 4 and first.streams["invoice"].errors == 1
    pending = store.pending_items("post")
    assert any("Account code '999'" in str(item) for item in pending), pending
    tenant = tenant_id(xero)
    numbers = sorted(i["InvoiceNumber"] for i in xero.store.snapshot()[tenant]["Invoices"])
    assert numbers == ["SO-0000", "SO-0001", "SO-0002", "SO-0004"]
    fixed = dict(crm.stream("invoice")["so-3"][1])
    fixed["lines"] = [{**fixed["lines"][0], "ledger_account": "200"}]
    crm.put("invoice", "so-3", fixed)
    second = SyncEngine(config, store).run(RunRequest("post"))
    assert second.streams["invoice"].A == 1 and second.streams["invoice"].errors == 0
    third = SyncEngine(config, store).run(RunRequest("post"))
    assert third.streams["invoice"].A == 0 and third.streams["contact"].A == 0
    store.close()
    invoices = xero.store.snapshot()[tenant]["Invoices"]
    assert sorted(i["InvoiceNumber"] for i in invoices) == [f"SO-{n:04d}" for n in range(5)]
    contacts = {c["ContactID"]: c["Name"] for c in xero.store.snapshot()[tenant]["Contacts"]}
    assert sorted(contacts.values()) == ["Contoso plc", "Northwind Ltd"]
    assert {contacts[i["Contact"]["ContactID"]] for i in invoices} == set(contacts.values())


def test_the_client_secret_may_come_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncline.connectors.xero.settings import parse_settings
    from syncline.errors import ConfigError

    settings = {"connector": "xero", "client_id": "app", "client_secret": "env:BOOKS_SECRET"}
    monkeypatch.setenv("BOOKS_SECRET", "s3cret")
    assert parse_settings("books", settings, tmp_path).client_secret == "s3cret"
    monkeypatch.delenv("BOOKS_SECRET")
    with pytest.raises(ConfigError, match="BOOKS_SECRET is not set"):
        parse_settings("books", settings, tmp_path)
    parse_settings("books", settings, tmp_path, need_secret=False)  # checking the file only
