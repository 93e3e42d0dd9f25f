"""The Xero SANDBOX over real HTTP: Xero-shaped errors, OAuth, idempotency, paging,
If-Modified-Since, status rules and rate limits (with the xero connector in the 429 storm)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.xero_support import ApiUser, make_connector, running_sandbox
from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation
from syncline.sandbox.xero import Limits
from syncline.sandbox.xero.schema import SchemaViolation, check


@pytest.fixture
def api() -> Iterator[tuple[Any, ApiUser]]:
    with running_sandbox() as (sandbox, server):
        yield sandbox, ApiUser(server.url, next(iter(sandbox.store.tenants)))


def _invoice(contact: str, **extra: Any) -> dict[str, Any]:
    return {"Type": "ACCREC", "Contact": {"ContactID": contact}, "Date": "2024-03-01",
            "LineItems": [{"Description": "work", "Quantity": 2, "UnitAmount": 50,
                           "AccountCode": "200"}], **extra}


def _contact(user: ApiUser, name: str = "Acme") -> str:
    answer = user.call("PUT", "/Contacts", json={"Contacts": [{"Name": name}]})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["Contacts"][0]["ContactID"])


def test_banner_title_and_spec_say_sandbox(api: tuple[Any, ApiUser]) -> None:
    sandbox, user = api
    assert "SANDBOX" in sandbox.app.title
    assert "SANDBOX" in user.http.get("/openapi.json").json()["info"]["title"]
    assert user.http.get("/sandbox").json()["sandbox"] is True


def test_bodies_are_validated_against_the_openapi_document(api: tuple[Any, ApiUser]) -> None:
    _, user = api
    contact = _contact(user)
    bad = user.call("PUT", "/Invoices", json={"Invoices": [_invoice(contact, Status="NOPE")]})
    assert bad.status_code == 400
    body = bad.json()
    assert body["Type"] == "PostDataInvalidException" and "Invoices[0].Status" in body["Message"]
    check("Error", body)
    wrong_type = user.call("PUT", "/Contacts", json={"Contacts": [{"Name": 5}]})
    assert wrong_type.status_code == 400 and "Contacts[0].Name" in wrong_type.json()["Message"]
    garbage = user.call("PUT", "/Contacts", content=b"{not json",
                        headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400
    with pytest.raises(SchemaViolation):
        check("Invoices", {"Invoices": [{"Total": "a lot"}]})


def test_per_element_errors_with_summarize_errors_false(api: tuple[Any, ApiUser]) -> None:
    sandbox, user = api
    contact = _contact(user)
    elements = [_invoice(contact),
                _invoice(contact, LineItems=[{"Description": "x", "Quantity": 1,
                                              "UnitAmount": 1, "AccountCode": "999"}]),
                _invoice(str(uuid.uuid4())),
                _invoice(contact, LineItems=[{"Description": "x", "Quantity": 2,
                                              "UnitAmount": 3, "LineAmount": 7,
                                              "AccountCode": "200"}])]
    answer = user.call("PUT", "/Invoices", params={"summarizeErrors": "false"},
                       json={"Invoices": elements})
    assert answer.status_code == 200
    out = answer.json()["Invoices"]
    assert [e["StatusAttributeString"] for e in out] == ["OK", "ERROR", "ERROR", "ERROR"]
    assert out[0]["Total"] == 120.0 and out[0]["InvoiceNumber"] == "INV-0001"
    assert "Account code '999'" in out[1]["ValidationErrors"][0]["Message"]
    assert "could not be found" in out[2]["ValidationErrors"][0]["Message"]
    assert "line total" in out[3]["ValidationErrors"][0]["Message"]
    # summarized (the default): all or nothing, 400 ValidationException
    summarized = user.call("PUT", "/Invoices", json={"Invoices": elements[:2]})
    assert summarized.status_code == 400 and summarized.json()["Type"] == "ValidationException"
    tenant = next(iter(sandbox.store.tenants))
    assert len(sandbox.store.snapshot()[tenant]["Invoices"]) == 1


def test_status_transitions_and_archived_contacts(api: tuple[Any, ApiUser]) -> None:
    _, user = api
    contact = _contact(user)
    created = user.call("PUT", "/Invoices", json={"Invoices": [_invoice(
        contact, Status="AUTHORISED")]}).json()["Invoices"][0]
    key = created["InvoiceID"]
    back = user.call("POST", f"/Invoices/{key}", params={"summarizeErrors": "false"},
                     json={"Invoices": [{"Status": "DRAFT"}]}).json()["Invoices"][0]
    assert back["StatusAttributeString"] == "ERROR"
    deleted = user.call("POST", f"/Invoices/{key}", params={"summarizeErrors": "false"},
                        json={"Invoices": [{"Status": "DELETED"}]}).json()["Invoices"][0]
    assert deleted["StatusAttributeString"] == "ERROR"  # authorised ones are voided
    voided = user.call("POST", f"/Invoices/{key}", json={"Invoices": [{"Status": "VOIDED"}]})
    assert voided.json()["Invoices"][0]["Status"] == "VOIDED"
    again = user.call("POST", f"/Invoices/{key}", json={"Invoices": [{"Status": "AUTHORISED"}]})
    assert again.status_code == 400
    assert user.call("DELETE", f"/Contacts/{contact}").status_code == 405
    user.call("POST", f"/Contacts/{contact}",
              json={"Contacts": [{"ContactStatus": "ARCHIVED"}]}).raise_for_status()
    listed = user.call("GET", "/Contacts").json()["Contacts"]
    assert listed == []
    archived = user.call("GET", "/Contacts", params={"includeArchived": "true"})
    assert [c["ContactStatus"] for c in archived.json()["Contacts"]] == ["ARCHIVED"]


def test_idempotency_keys(api: tuple[Any, ApiUser]) -> None:
    sandbox, user = api
    body = {"Contacts": [{"Name": "Once Only"}]}
    first = user.call("PUT", "/Contacts", json=body, headers={"Idempotency-Key": "k-1"})
    second = user.call("PUT", "/Contacts", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    other = user.call("PUT", "/Contacts", json={"Contacts": [{"Name": "Else"}]},
                      headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 400 and "different request" in other.json()["Message"]
    tenant = next(iter(sandbox.store.tenants))
    assert [c["Name"] for c in sandbox.store.snapshot()[tenant]["Contacts"]] == ["Once Only"]


def test_auth_and_tenant_header(api: tuple[Any, ApiUser]) -> None:
    sandbox, user = api
    assert user.call("GET", "/Contacts", headers={"Authorization": "Bearer nope"}) \
        .status_code == 401
    assert user.call("GET", "/Contacts", headers={"xero-tenant-id": str(uuid.uuid4())}) \
        .status_code == 403
    tenants = list(sandbox.store.tenants)
    user.call("PUT", "/Contacts", json={"Contacts": [{"Name": "Only in A"}]})
    other = user.call("GET", "/Contacts", headers={"xero-tenant-id": tenants[1]})
    assert other.status_code == 200 and other.json()["Contacts"] == []
    connections = user.http.get("/connections", headers={
        "Authorization": f"Bearer {user.token}"}).json()
    assert sorted(c["tenantId"] for c in connections) == sorted(tenants)
    refused = user.http.post("/identity/connect/token", data={
        "grant_type": "refresh_token", "refresh_token": "stolen"},
        auth=("sandbox-client", "sandbox-secret"))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_paging_and_if_modified_since(api: tuple[Any, ApiUser]) -> None:
    _, user = api
    user.call("PUT", "/Contacts", json={"Contacts": [{"Name": f"N{n:03d}"}
                                                     for n in range(205)]}).raise_for_status()
    sizes = [len(user.call("GET", "/Contacts", params={"page": page}).json()["Contacts"])
             for page in (1, 2, 3, 4)]
    assert sizes == [100, 100, 5, 0]
    pagination = user.call("GET", "/Contacts", params={"page": 3}).json()["pagination"]
    assert pagination == {"page": 3, "pageSize": 100, "pageCount": 3, "itemCount": 205}
    everything = user.call("GET", "/Contacts").json()["Contacts"]
    newest = max(everything, key=lambda c: c["UpdatedDateUTC"])
    millis = int(newest["UpdatedDateUTC"][6:-7])
    time.sleep(0.005)
    changed = user.call("PUT", "/Contacts", json={"Contacts": [{"Name": "Late"}]})
    stamp = changed.json()["Contacts"][0]["UpdatedDateUTC"]
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis / 1000)) \
        + f".{millis % 1000 + 1:03d}"
    later = user.call("GET", "/Contacts", headers={"If-Modified-Since": since}).json()
    assert [c["Name"] for c in later["Contacts"]] == ["Late"]
    assert int(stamp[6:-7]) > millis


def test_rate_limit_answers_429_with_retry_after() -> None:
    with running_sandbox(limits=Limits(per_minute=3, scale=60.0)) as (sandbox, server):
        user = ApiUser(server.url, next(iter(sandbox.store.tenants)))
        answers = [user.call("GET", "/TaxRates") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        limited = answers[-1]
        assert limited.headers["X-Rate-Limit-Problem"] == "minute"
        assert 0 < float(limited.headers["Retry-After"]) <= 1.0
        assert answers[0].headers["X-MinLimit-Remaining"] == "2"
    with running_sandbox(limits=Limits(per_day=2, scale=60.0)) as (sandbox, server):
        user = ApiUser(server.url, next(iter(sandbox.store.tenants)))
        answers = [user.call("GET", "/TaxRates") for _ in range(3)]
        assert answers[-1].headers["X-Rate-Limit-Problem"] == "day"
    with running_sandbox(limits=Limits(concurrent=1, scale=60.0), latency=0.3) \
            as (sandbox, server):
        user = ApiUser(server.url, next(iter(sandbox.store.tenants)))
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            statuses = sorted(f.result().status_code for f in [
                pool.submit(lambda: httpx.get(f"{server.url}/api.xro/2.0/TaxRates",
                                              headers=user.headers()))
                for _ in range(2)])
        assert statuses == [200, 429]


@pytest.mark.parametrize("at_once", [1, 5])
def test_429_storm_posts_everything_once_and_waits_as_asked(tmp_path: Path,
                                                            at_once: int) -> None:
    limits = Limits(per_minute=5, concurrent=5, per_day=5000, scale=60.0)
    with running_sandbox(limits=limits) as (sandbox, server):
        # the client believes in looser limits than the server's, so it meets 429s
        connector = make_connector(server.url, tmp_path, "Sandbox Company A (UK)",
                                   batch_size=10, limits={"time_scale": 60.0,
                                                          "per_minute": 50,
                                                          "concurrent": at_once})
        contact = ApiUser(server.url, connector.tenant_id or "")
        customer = _contact(contact, "Storm Buyer")
        sales = "200"
        operations = [WriteOperation(f"t{n}", WriteKind.CREATE, None, {
            "number": f"S-{n:03d}", "contact": customer, "status": "AUTHORISED",
            "lines": [{"description": "storm", "quantity": Decimal(1),
                       "unit_price": Decimal(n + 1), "ledger_account": sales}]})
            for n in range(120)]
        results = connector.write(WriteBatch("storm", "invoice", operations))
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
        tenant = connector.tenant_id or ""
        numbers = sorted(i["InvoiceNumber"] for i in
                         sandbox.store.snapshot()[tenant]["Invoices"])
        assert numbers == sorted(f"S-{n:03d}" for n in range(120))
        log = [e for e in sandbox.store.log_entries() if e["tenant"] == tenant
               and e["method"] == "POST"]
        limited = [i for i, e in enumerate(log) if e["status"] == 429]
        assert limited, "the storm produced no 429"
        for index in limited:
            refused = log[index]
            asked = refused["finished"] + refused["retry_after"]
            # the refused call is tried again with its key, no sooner than asked
            retry = next(e for e in log[index + 1:]
                         if e["idempotency_key"] == refused["idempotency_key"])
            assert retry["arrived"] >= asked, refused
            if at_once == 1:  # one call at a time: nothing at all goes during the wait
                assert log[index + 1]["arrived"] >= asked, refused
        assert sum(e["status"] == 200 for e in log) == 12
        connector.close()


def test_a_long_wait_ends_the_run_with_a_clear_error(tmp_path: Path) -> None:
    from syncline.connectors.base import ReadScope
    from syncline.errors import EndpointUnavailable

    # the server allows 6 calls a "day" (10 minutes at this scale); the client thinks 5000
    with running_sandbox(limits=Limits(per_day=6, scale=144.0)) as (_, server):
        connector = make_connector(server.url, tmp_path, "Sandbox Company A (UK)",
                                   limits={"time_scale": 144.0, "max_wait": 5})
        with pytest.raises(EndpointUnavailable, match=r"day.*calls resume at .* UTC"):
            for _ in range(10):
                list(connector.read_all("tax_rate", ReadScope()))
        connector.close()


def test_payments_follow_xero_rules(api: tuple[Any, ApiUser]) -> None:
    _, user = api
    contact = _contact(user)
    draft, approved = user.call("PUT", "/Invoices", json={"Invoices": [
        _invoice(contact), _invoice(contact, Status="AUTHORISED")]}).json()["Invoices"]
    assert approved["AmountDue"] == 120.0

    def pay(invoice: str, amount: float, account: str = "090") -> dict[str, Any]:
        answer = user.call("PUT", "/Payments", params={"summarizeErrors": "false"}, json={
            "Payments": [{"Invoice": {"InvoiceID": invoice}, "Account": {"Code": account},
                          "Date": "2024-03-05", "Amount": amount}]})
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["Payments"][0])

    assert "Authorised" in pay(draft["InvoiceID"], 10)["ValidationErrors"][0]["Message"]
    assert "exceeds" in pay(approved["InvoiceID"], 500)["ValidationErrors"][0]["Message"]
    assert "does not accept" in pay(approved["InvoiceID"], 10, "200")["ValidationErrors"][0][
        "Message"]
    part = pay(approved["InvoiceID"], 20)
    assert part["StatusAttributeString"] == "OK"
    rest = pay(approved["InvoiceID"], 100)
    invoice = user.call("GET", f"/Invoices/{approved['InvoiceID']}").json()["Invoices"][0]
    assert invoice["Status"] == "PAID" and invoice["AmountDue"] == 0.0
    void = user.call("POST", f"/Invoices/{approved['InvoiceID']}",
                     json={"Invoices": [{"Status": "VOIDED"}]})
    assert void.status_code == 400
    edit = user.call("POST", f"/Payments/{rest['PaymentID']}", json={"Amount": 5})
    assert edit.status_code == 400
    removed = user.call("POST", f"/Payments/{rest['PaymentID']}", json={"Status": "DELETED"})
    assert removed.status_code == 200 and removed.json()["Payments"][0]["Status"] == "DELETED"
    invoice = user.call("GET", f"/Invoices/{approved['InvoiceID']}").json()["Invoices"][0]
    assert invoice["Status"] == "AUTHORISED" and invoice["AmountDue"] == 100.0


def test_where_filters_and_read_only_collections(api: tuple[Any, ApiUser]) -> None:
    _, user = api
    contact = _contact(user)
    user.call("PUT", "/Invoices", json={"Invoices": [
        _invoice(contact), _invoice(contact, Type="ACCPAY", InvoiceNumber="SUP-1")]})
    bills = user.call("GET", "/Invoices", params={"where": 'Type=="ACCPAY"'}).json()
    assert [i["InvoiceNumber"] for i in bills["Invoices"]] == ["SUP-1"]
    assert "LineItems" not in bills["Invoices"][0]  # as Xero: lines only with page=N
    assert len(user.call("GET", "/Invoices", params={"where": "Total > 5"}).json()[
        "Invoices"]) == 2
    odd = user.call("GET", "/Invoices", params={"where": "Total ~ 5"})
    assert odd.status_code == 400 and "column 7" in odd.json()["Message"]
    assert user.call("PUT", "/TaxRates", json={"TaxRates": []}).status_code == 405
    rates = user.call("GET", "/TaxRates").json()["TaxRates"]
    assert {r["TaxType"] for r in rates} >= {"OUTPUT2", "INPUT2", "NONE"}


def test_a_key_in_flight_is_answered_409() -> None:
    import concurrent.futures

    with running_sandbox(latency=0.4) as (sandbox, server):
        user = ApiUser(server.url, next(iter(sandbox.store.tenants)))
        headers = user.headers(**{"Idempotency-Key": "same"})
        body = {"Contacts": [{"Name": "Twice"}]}
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(httpx.put, f"{server.url}/api.xro/2.0/Contacts",
                                   json=body, headers=headers) for _ in range(2)]
            statuses = sorted(future.result().status_code for future in futures)
        assert statuses == [200, 409]
        tenant = next(iter(sandbox.store.tenants))
        assert len(sandbox.store.snapshot()[tenant]["Contacts"]) == 1


def test_parameters_the_document_does_not_list_are_ignored_and_where_takes_or(
        api: tuple[Any, ApiUser]) -> None:
    _, user = api
    contact = _contact(user)
    invoices = user.call("PUT", "/Invoices", json={"Invoices": [
        _invoice(contact, Status="AUTHORISED") for _ in range(3)]}).json()["Invoices"]
    payments = [user.call("PUT", "/Payments", json={"Payments": [{
        "Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"},
        "Date": "2024-03-05", "Amount": 10}]}).json()["Payments"][0] for invoice in invoices]
    first, second, third = (p["PaymentID"] for p in payments)
    # GET /Payments has no IDs parameter in Xero's document: Xero ignores it
    ignored = user.call("GET", "/Payments", params={"IDs": first, "page": 1}).json()
    assert len(ignored["Payments"]) == 3
    chosen = user.call("GET", "/Payments", params={
        "where": f'PaymentID==Guid("{first}") OR PaymentID==Guid("{third}")'}).json()
    assert sorted(p["PaymentID"] for p in chosen["Payments"]) == sorted([first, third])
    both = user.call("GET", "/Invoices", params={
        "where": f'Status=="AUTHORISED" AND InvoiceID==Guid("{invoices[1]["InvoiceID"]}") '
                 f'|| InvoiceNumber=="{invoices[2]["InvoiceNumber"]}"'}).json()["Invoices"]
    assert sorted(i["InvoiceID"] for i in both) == sorted(
        [invoices[1]["InvoiceID"], invoices[2]["InvoiceID"]])
    assert second not in [p["PaymentID"] for p in chosen["Payments"]]
    # Accounts are not paged: page is ignored, everything comes in one answer
    accounts = user.call("GET", "/Accounts", params={"page": 2}).json()
    assert "pagination" not in accounts and len(accounts["Accounts"]) >= 10
