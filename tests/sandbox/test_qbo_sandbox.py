"""The QuickBooks Online SANDBOX answers as the documented API does, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.qbo_server import ApiSession, running_sandbox
from syncline.sandbox.qbo import (
    DEFAULT_REALM,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    Limits,
    SandboxServer,
)
from syncline.sandbox.qbo.faults import QboFault
from syncline.sandbox.qbo.limits import RateLimiter
from syncline.sandbox.qbo.query import Condition, Ordering, parse_query


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with running_sandbox() as running:
        yield running


@pytest.fixture
def api(server: SandboxServer) -> Iterator[ApiSession]:
    session = ApiSession(server)
    yield session
    session.close()


def fault_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"Fault", "time"}, body
    error = body["Fault"]["Error"][0]
    assert set(error) >= {"Message", "Detail", "code"}
    return {"type": body["Fault"]["type"], **error}


def customer(api: ApiSession, name: str, **extra: Any) -> dict[str, Any]:
    response = api.post("/customer", {"DisplayName": name, **extra})
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()["Customer"]
    return created


def invoice_body(customer_id: str, quantity: int = 2) -> dict[str, Any]:
    return {"CustomerRef": {"value": customer_id}, "Line": [{
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "13"}, "Qty": quantity,
                                "UnitPrice": 100, "TaxCodeRef": {"value": "9"}}}]}


# -- the query parser --------------------------------------------------------------------------
def test_parser_reads_the_whole_subset() -> None:
    query = parse_query("select * FROM Customer WHERE MetaData.LastUpdatedTime > "
                        "'2026-11-01T00:00:00-07:00' AND Id IN ('1', '2') AND "
                        "DisplayName LIKE 'Ac%' AND Active = true ORDER BY DisplayName DESC, "
                        "Id STARTPOSITION 11 MAXRESULTS 10")
    assert query.entity == "Customer" and not query.count
    assert query.conditions == [
        Condition(("MetaData", "LastUpdatedTime"), ">", "2026-11-01T00:00:00-07:00"),
        Condition(("Id",), "in", ["1", "2"]), Condition(("DisplayName",), "like", "Ac%"),
        Condition(("Active",), "=", True)]
    assert query.ordering == [Ordering(("DisplayName",), True), Ordering(("Id",), False)]
    assert (query.start, query.max_results) == (11, 10)
    assert parse_query("SELECT COUNT(*) FROM Invoice").count
    assert parse_query(r"select * from Customer where DisplayName = 'O\'Brien'") \
        .conditions[0].value == "O'Brien"


@pytest.mark.parametrize(("text", "where"), [
    ("SELECT * Customer", "column 10"),
    ("SELECT * FROM Customer WHERE Id = '1' OR Id = '2'", "OR is not supported"),
    ("SELECT * FROM Customer WHERE", "<PROPERTY>"),
    ("SELECT * FROM Customer STARTPOSITION x", "<INTEGER>"),
    ("SELECT * FROM Customer WHERE Id = '1' garbage", "<EOF>"),
    ("SELECT * FROM Customer WHERE Id ~ 1", "Lexical error"),
    ("", "empty"),
])
def test_parser_refuses_with_a_query_parser_fault(text: str, where: str) -> None:
    with pytest.raises(QboFault) as caught:
        parse_query(text)
    assert caught.value.code.value == "4000"
    assert caught.value.detail.startswith("QueryParserError")
    assert where in caught.value.detail


# -- queries over HTTP -------------------------------------------------------------------------
def test_query_pages_and_leaves_out_inactive_objects(api: ApiSession) -> None:
    made = [customer(api, f"Customer {n:02d}") for n in range(5)]
    gone = made[0]
    response = api.post("/customer", {"Id": gone["Id"], "SyncToken": gone["SyncToken"],
                                      "sparse": True, "Active": False})
    assert response.status_code == 200 and response.json()["Customer"]["Active"] is False
    first = api.query("SELECT * FROM Customer ORDERBY Id STARTPOSITION 1 MAXRESULTS 3")
    second = api.query("SELECT * FROM Customer ORDERBY Id STARTPOSITION 4 MAXRESULTS 3")
    page1, page2 = first.json()["QueryResponse"], second.json()["QueryResponse"]
    assert (page1["startPosition"], page1["maxResults"]) == (1, 3)
    names = [c["DisplayName"] for c in page1["Customer"] + page2.get("Customer", [])]
    assert names == [f"Customer {n:02d}" for n in range(1, 5)]
    everyone = api.query("SELECT * FROM Customer WHERE Active IN (true, false)").json()
    assert len(everyone["QueryResponse"]["Customer"]) == 5
    counted = api.query("SELECT COUNT(*) FROM Customer").json()["QueryResponse"]
    assert counted == {"totalCount": 4}
    empty = api.query("SELECT * FROM Customer WHERE DisplayName = 'nobody'").json()
    assert empty["QueryResponse"] == {}


def test_query_faults(api: ApiSession) -> None:
    bad = api.query("SELECT * FROM Customer WHERE Id = '1' OR Id = '2'")
    assert bad.status_code == 400
    assert fault_of(bad)["code"] == "4000" and fault_of(bad)["type"] == "ValidationFault"
    unknown = api.query("SELECT * FROM Customer WHERE Colour = 'red'")
    assert fault_of(unknown)["code"] == "4001" and "Colour" in fault_of(unknown)["Detail"]
    assert fault_of(api.query("SELECT * FROM Spaceship"))["code"] == "4001"


def test_query_filters_by_change_time(api: ApiSession) -> None:
    first = customer(api, "Early")
    api.company.clock.advance(timedelta(hours=1))
    customer(api, "Late")
    since = first["MetaData"]["LastUpdatedTime"]
    found = api.query(f"SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > '{since}'")
    assert [c["DisplayName"] for c in found.json()["QueryResponse"]["Customer"]] == ["Late"]


# -- SyncToken, sparse updates, deletes --------------------------------------------------------
def test_stale_sync_token_is_fault_5010(api: ApiSession) -> None:
    made = customer(api, "Acme", Notes="first", PrimaryPhone={"FreeFormNumber": "1"})
    update = api.post("/customer", {"Id": made["Id"], "SyncToken": "0", "sparse": True,
                                    "Notes": "second"})
    assert update.status_code == 200
    updated = update.json()["Customer"]
    assert updated["SyncToken"] == "1" and updated["Notes"] == "second"
    assert updated["PrimaryPhone"] == {"FreeFormNumber": "1"}, "a sparse update keeps the rest"
    stale = api.post("/customer", {"Id": made["Id"], "SyncToken": "0", "sparse": True,
                                   "Notes": "third"})
    assert stale.status_code == 400
    fault = fault_of(stale)
    assert (fault["code"], fault["Message"], fault["type"]) \
        == ("5010", "Stale Object Error", "ValidationFault")
    assert api.company.read("Customer", made["Id"])["Notes"] == "second"
    full = api.post("/customer", {"Id": made["Id"], "SyncToken": "1", "DisplayName": "Acme"})
    assert "Notes" not in full.json()["Customer"], "a full update replaces every property"
    missing = api.post("/customer", {"Id": made["Id"], "sparse": True, "Notes": "x"})
    assert fault_of(missing)["code"] == "2020"


def test_delete_transactions_and_inactivate_lists(api: ApiSession) -> None:
    buyer = customer(api, "Buyer")
    created = api.post("/invoice", invoice_body(buyer["Id"])).json()["Invoice"]
    assert (created["TotalAmt"], created["TxnTaxDetail"]["TotalTax"]) == (240.0, 40.0)
    deleted = api.post("/invoice", {"Id": created["Id"], "SyncToken": "0"},
                       operation="delete")
    assert deleted.json()["Invoice"] == {"domain": "QBO", "status": "Deleted",
                                         "Id": created["Id"]}
    assert fault_of(api.get(f"/invoice/{created['Id']}"))["code"] == "610"
    refused = api.post("/customer", {"Id": buyer["Id"], "SyncToken": "0"}, operation="delete")
    assert fault_of(refused)["code"] == "500"
    assert fault_of(api.post("/taxcode", {"Name": "new"}))["code"] == "500"


def test_validation_faults(api: ApiSession) -> None:
    buyer = customer(api, "Buyer")
    assert fault_of(api.post("/customer", {"DisplayName": "buyer"}))["code"] == "6240"
    wrong_ref = invoice_body("999")
    assert fault_of(api.post("/invoice", wrong_ref))["code"] == "2500"
    mismatch = invoice_body(buyer["Id"])
    mismatch["Line"][0]["Amount"] = 150
    assert fault_of(api.post("/invoice", mismatch))["code"] == "6070"


def test_payment_updates_the_invoice_balance(api: ApiSession) -> None:
    buyer = customer(api, "Buyer")
    invoice = api.post("/invoice", invoice_body(buyer["Id"])).json()["Invoice"]
    payment = api.post("/payment", {"CustomerRef": {"value": buyer["Id"]}, "TotalAmt": 240,
                                    "Line": [{"Amount": 240, "LinkedTxn": [
                                        {"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})
    assert payment.status_code == 200, payment.text
    after = api.get(f"/invoice/{invoice['Id']}").json()["Invoice"]
    assert after["Balance"] == 0 and after["SyncToken"] == "1"
    bigger = api.post("/invoice", {**invoice_body(buyer["Id"], quantity=3), "Id": invoice["Id"],
                                   "SyncToken": "1", "sparse": True}).json()["Invoice"]
    assert (bigger["TotalAmt"], bigger["Balance"]) == (360.0, 120.0)


# -- change data capture -----------------------------------------------------------------------
def test_cdc_reports_changes_and_deletions_within_30_days(api: ApiSession) -> None:
    since = api.company.now().isoformat()
    kept = customer(api, "Kept")
    buyer = customer(api, "Buyer")
    invoice = api.post("/invoice", invoice_body(buyer["Id"])).json()["Invoice"]
    api.post("/invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="delete")
    answer = api.get("/cdc", entities="Customer,Invoice", changedSince=since)
    assert answer.status_code == 200, answer.text
    responses = answer.json()["CDCResponse"][0]["QueryResponse"]
    assert {c["Id"] for c in responses[0]["Customer"]} == {kept["Id"], buyer["Id"]}
    assert responses[1]["Invoice"] == [{"domain": "QBO", "status": "Deleted",
                                        "Id": invoice["Id"], "MetaData": {
                                            "LastUpdatedTime": responses[1]["Invoice"][0][
                                                "MetaData"]["LastUpdatedTime"]}}]
    api.company.clock.advance(timedelta(days=31))
    old = api.get("/cdc", entities="Customer", changedSince=since)
    assert old.status_code == 400
    assert fault_of(old)["code"] == "2010" and "30 days" in fault_of(old)["Detail"]
    assert fault_of(api.get("/cdc", entities="Customer", changedSince="yesterday"))[
        "code"] == "2010"
    recent = api.company.now().isoformat()
    refused = api.get("/cdc", entities="TaxCode", changedSince=recent)
    assert "does not cover 'TaxCode'" in fault_of(refused)["Detail"]


# -- batch -------------------------------------------------------------------------------------
def test_batch_answers_per_item_with_bid(api: ApiSession) -> None:
    made = customer(api, "Existing")
    body = {"BatchItemRequest": [
        {"bId": "a", "operation": "create", "Customer": {"DisplayName": "New one"}},
        {"bId": "b", "operation": "update", "Customer": {"Id": made["Id"], "SyncToken": "7",
                                                         "sparse": True, "Notes": "x"}},
        {"bId": "c", "operation": "create", "Customer": {"DisplayName": "Existing"}},
        {"bId": "d", "Query": "SELECT COUNT(*) FROM Customer"},
    ]}
    answer = api.post("/batch", body)
    assert answer.status_code == 200
    items = {item["bId"]: item for item in answer.json()["BatchItemResponse"]}
    assert items["a"]["Customer"]["DisplayName"] == "New one"
    assert items["b"]["Fault"]["Error"][0]["code"] == "5010"
    assert items["c"]["Fault"]["Error"][0]["code"] == "6240"
    assert items["d"]["QueryResponse"] == {"totalCount": 2}


def test_batch_limits(api: ApiSession) -> None:
    many = {"BatchItemRequest": [{"bId": str(n), "operation": "create",
                                  "Customer": {"DisplayName": f"C{n}"}} for n in range(31)]}
    refused = api.post("/batch", many)
    assert refused.status_code == 400 and fault_of(refused)["code"] == "1040"
    assert api.company.query(parse_query("SELECT COUNT(*) FROM Customer")) == {"totalCount": 0}
    long_bid = {"BatchItemRequest": [{"bId": "x" * 11, "operation": "create",
                                      "Customer": {"DisplayName": "C"}}]}
    answer = api.post("/batch", long_bid, requestid="r-1").json()["BatchItemResponse"]
    assert answer[0]["Fault"]["Error"][0]["code"] == "2010"


def test_request_id_replays_the_first_answer(api: ApiSession) -> None:
    body = {"BatchItemRequest": [{"bId": "1", "operation": "create",
                                  "Customer": {"DisplayName": "Once"}}]}
    first = api.post("/batch", body, requestid="same-request")
    again = api.post("/batch", body, requestid="same-request")
    assert first.json() == again.json()
    found = api.query("SELECT * FROM Customer WHERE DisplayName = 'Once'").json()
    assert len(found["QueryResponse"]["Customer"]) == 1


# -- protocol checks ---------------------------------------------------------------------------
def test_minorversion_defaults_and_token_is_required(server: SandboxServer,
                                                     api: ApiSession) -> None:
    without = api.http.get("/query", params={"query": "SELECT * FROM Item"})
    assert without.status_code == 200 and without.json()["QueryResponse"]["Item"]
    wrong = api.http.get("/query", params={"query": "SELECT * FROM Customer",
                                           "minorversion": "latest"})
    assert wrong.status_code == 400 and "minorversion 'latest'" in fault_of(wrong)["Detail"]
    anonymous = httpx.get(f"{server.base_url}/v3/company/{DEFAULT_REALM}/query",
                          params={"query": "SELECT * FROM Customer", "minorversion": "75"})
    assert anonymous.status_code == 401
    assert fault_of(anonymous)["type"] == "AuthenticationFault"


def test_oauth_code_and_rotating_refresh_tokens(server: SandboxServer) -> None:
    with httpx.Client(base_url=server.base_url, trust_env=False) as http:
        redirect = http.get("/oauth2/v1/authorize", params={
            "client_id": SANDBOX_CLIENT_ID, "redirect_uri": "http://localhost/cb",
            "response_type": "code", "scope": "com.intuit.quickbooks.accounting",
            "state": "xyz"})
        assert redirect.status_code == 302
        query = parse_qs(urlparse(redirect.headers["location"]).query)
        assert query["state"] == ["xyz"] and query["realmId"] == [DEFAULT_REALM]
        auth = (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
        first = http.post("/oauth2/v1/tokens/bearer", auth=auth, data={
            "grant_type": "authorization_code", "code": query["code"][0],
            "redirect_uri": "http://localhost/cb"}).json()
        assert first["token_type"] == "bearer" and first["expires_in"] == 3600
        rotated = http.post("/oauth2/v1/tokens/bearer", auth=auth, data={
            "grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
        assert rotated.status_code == 200
        assert rotated.json()["refresh_token"] != first["refresh_token"]
        reused = http.post("/oauth2/v1/tokens/bearer", auth=auth, data={
            "grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        wrong = http.post("/oauth2/v1/tokens/bearer", auth=(SANDBOX_CLIENT_ID, "nope"),
                          data={"grant_type": "refresh_token", "refresh_token": "x"})
        assert wrong.status_code == 401
        answer = http.get(f"/v3/company/{DEFAULT_REALM}/account/1", params={
            "minorversion": "75"}, headers={
            "Authorization": f"Bearer {rotated.json()['access_token']}"})
        assert answer.status_code == 200 and answer.json()["Account"]["Id"] == "1"


def test_sandbox_is_labelled(server: SandboxServer) -> None:
    banner = httpx.get(f"{server.base_url}/").json()
    assert banner["sandbox"] is True and "SANDBOX" in banner["message"]
    schema = httpx.get(f"{server.base_url}/openapi.json").json()
    assert "SANDBOX" in schema["info"]["title"]


# -- rate limits -------------------------------------------------------------------------------
def test_rate_limit_answers_429_with_retry_after() -> None:
    with running_sandbox(Limits(per_minute=3, concurrent=10, minute_seconds=0.5)) as server:
        api = ApiSession(server)
        answers = [api.query("SELECT COUNT(*) FROM Account") for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        refused = answers[3]
        wait = float(refused.headers["Retry-After"])
        assert 0 < wait <= 0.5
        fault = fault_of(refused)
        assert fault["code"] == "3001" and "ThrottleExceeded" in fault["Message"]
        time.sleep(wait)
        assert api.query("SELECT COUNT(*) FROM Account").status_code == 200
        statuses = [record.status for record in server.state.log.snapshot()]
        assert statuses.count(429) == 2
        api.close()


def test_concurrency_limit_per_company() -> None:
    limiter = RateLimiter(Limits(per_minute=100, concurrent=2))
    assert limiter.acquire("r") is None and limiter.acquire("r") is None
    assert limiter.acquire("r") is not None, "a third request at once is refused"
    assert limiter.acquire("other") is None, "limits are per company"
    limiter.release("r")
    assert limiter.acquire("r") is None


def test_cli_starts_a_labelled_sandbox() -> None:
    import subprocess
    import sys

    from syncline.sandbox import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from syncline.cli.main import main; main()", "sandbox", "qbo",
         "--port", str(port), "--rate-scale", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        banner = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                banner = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert banner is not None, "the sandbox did not start"
        assert banner["sandbox"] is True and banner["realms"] == [DEFAULT_REALM]
        assert banner["limits"]["minute_seconds"] == 1
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "SANDBOX" in output and "refresh_token" in output and DEFAULT_REALM in output


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_quoted_literals_survive_the_parser(value: str) -> None:
    """Whatever text the connector quotes, the parser reads back unchanged."""
    from syncline.connectors.qbo.reading import quote

    parsed = parse_query(f"SELECT * FROM Customer WHERE DisplayName = {quote(value)}")
    assert parsed.conditions == [Condition(("DisplayName",), "=", value)]
