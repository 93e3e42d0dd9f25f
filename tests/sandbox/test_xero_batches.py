"""Writing batches through the xero connector to the Xero SANDBOX over real HTTP: requests
refused as a whole are split so only the offending element fails (and recover after a
crash from the recorded answers), and the requests of a batch run concurrently within the
tenant's limit."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox.xero_support import ApiUser, make_connector, running_sandbox
from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation
from syncline.errors import ValidationFailed
from syncline.sandbox.xero import Limits

TENANT = "Sandbox Company A (UK)"


@pytest.fixture
def sandbox() -> Any:
    with running_sandbox() as running:
        yield running


def tenant_id(sandbox: Any) -> str:
    return next(t.tenant_id for t in sandbox.store.tenants.values() if t.name == TENANT)


def _op(kind: WriteKind, fields: dict[str, Any] | None = None) -> WriteOperation:
    return WriteOperation(uuid.uuid4().hex, kind, None, fields)


def test_a_request_refused_as_a_whole_is_split_so_only_the_bad_element_fails(
        sandbox: Any, tmp_path: Path) -> None:
    xero, server = sandbox
    connector = make_connector(server.url, tmp_path, TENANT)
    user = ApiUser(server.url, tenant_id(xero))
    customer = user.call("PUT", "/Contacts", json={"Contacts": [{"Name": "Buyer"}]}) \
        .json()["Contacts"][0]["ContactID"]

    def invoice(number: str, status: str) -> dict[str, Any]:
        return {"number": number, "contact": customer, "status": status,
                "lines": [{"description": "x", "quantity": Decimal(1),
                           "unit_price": Decimal(10), "ledger_account": "200"}]}
    # 'SHIPPED' is no status of Xero's schema: the whole request is refused (400)
    batch = WriteBatch("split", "invoice", [
        _op(WriteKind.CREATE, invoice(f"SP-{n}", "SHIPPED" if n == 2 else "AUTHORISED"))
        for n in range(4)])
    state = connector.state
    keep = state.store_receipt

    def crash(*_: Any) -> None:
        raise RuntimeError("killed before the receipt was stored")
    state.store_receipt = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        connector.write(batch)
    state.store_receipt = keep  # type: ignore[method-assign]
    # after the crash, the results come from the recorded answers: nothing is sent again
    results = connector.recover(batch)
    assert results is not None
    assert [r.ok for r in results] == [True, True, False, True]
    assert isinstance(results[2].error, ValidationFailed)
    assert "invoice SP-2" in str(results[2].error) and "SHIPPED" in str(results[2].error)
    numbers = sorted(i["InvoiceNumber"] for i in xero.store.snapshot()[tenant_id(xero)][
        "Invoices"])
    assert numbers == ["SP-0", "SP-1", "SP-3"]
    writes = [e for e in xero.store.log_entries() if e["path"].endswith("/Invoices")
              and e["method"] == "POST"]
    assert [e["status"] for e in writes] == [400, 200, 200, 400, 200]
    assert [e["elements"] for e in writes if e["status"] == 200] == [1, 1, 1]
    connector.close()


def test_the_requests_of_a_batch_run_concurrently_within_the_limit(tmp_path: Path) -> None:
    with running_sandbox(latency=0.25, limits=Limits(concurrent=3, scale=600.0)) \
            as (xero, server):
        connector = make_connector(server.url, tmp_path, TENANT, batch_size=2,
                                   limits={"time_scale": 600.0, "concurrent": 3})
        results = connector.write(WriteBatch("many", "contact", [
            _op(WriteKind.CREATE, {"name": f"Parallel {n:02d}"}) for n in range(12)]))
        assert all(r.ok for r in results)
        assert len({r.key for r in results}) == 12
        writes = [e for e in xero.store.log_entries() if e["method"] == "POST"]
        assert len(writes) == 6 and all(e["status"] == 200 for e in writes)
        events = sorted([(e["arrived"], 1) for e in writes] + [(e["finished"], -1)
                                                               for e in writes])
        in_flight, most = 0, 0
        for _, step in events:
            in_flight += step
            most = max(most, in_flight)
        assert most == 3  # three in flight at once, never more (and no 429)
        names = sorted(c["Name"] for c in xero.store.snapshot()[tenant_id(xero)]["Contacts"])
        assert names == [f"Parallel {n:02d}" for n in range(12)]
        connector.close()
