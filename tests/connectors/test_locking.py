"""What goes of an update of a locked document (:mod:`syncline.connectors.locking`): only
the editable fields that differ; otherwise nothing, with a message naming the document."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from syncline.connectors.locking import Lock, differing_fields, locked_update
from syncline.errors import RecordLocked

PAID = Lock("paid", "Xero", frozenset({"reference", "due_date"}))
HELD = {"number": "INV-2001", "date": date(2026, 11, 2), "due_date": date(2026, 12, 2),
        "reference": "PO-1", "status": "PAID",
        "lines": [{"description": "Widget", "item": None, "quantity": Decimal("2.0000"),
                   "unit_price": Decimal("12.5"), "line_amount": Decimal("25.00"),
                   "tax_amount": Decimal("5.00"), "ledger_account": "200"}]}


def _update(**changes: object) -> dict[str, object]:
    lines = [{"description": "Widget", "quantity": Decimal(2), "unit_price": Decimal("12.50"),
              "ledger_account": "200"}]
    return {"number": "INV-2001", "date": "2026-11-02", "due_date": "2026-12-02",
            "reference": "PO-1", "status": "PAID", "lines": lines, **changes}


def test_equal_values_in_other_forms_do_not_differ() -> None:
    assert differing_fields(HELD, _update(), list(_update())) == []


def test_lines_differ_by_count_or_by_a_value_the_update_gives() -> None:
    more = _update(lines=[*_update()["lines"], {"description": "Rounding"}])  # type: ignore[misc]
    assert differing_fields(HELD, more, ["lines"]) == ["lines"]
    cheaper = _update(lines=[{"description": "Widget", "unit_price": Decimal("12.00")}])
    assert differing_fields(HELD, cheaper, ["lines"]) == ["lines"]
    # a line value the books do not keep (a cost code here) is no difference
    coded = _update(lines=[{"description": "Widget", "cost_code": "North"}])
    assert differing_fields(HELD, coded, ["lines"]) == []


def test_only_editable_fields_differ_then_they_go() -> None:
    wanted = _update(reference="PO-7781", due_date=date(2026, 12, 31))
    assert locked_update(PAID, stream="invoice", label="INV-2001", key="k", current=HELD,
                         wanted=wanted, names=list(wanted)) == {
        "due_date": date(2026, 12, 31), "reference": "PO-7781"}


def test_a_locked_field_that_differs_keeps_the_whole_change_back() -> None:
    wanted = _update(reference="PO-7781", date="2026-11-05", status="AUTHORISED")
    with pytest.raises(RecordLocked) as caught:
        locked_update(PAID, stream="invoice", label="INV-2001", key="k", current=HELD,
                      wanted=wanted, names=list(wanted))
    assert str(caught.value) == (
        "invoice INV-2001: INV-2001 is paid in Xero; the change was not sent (date, status "
        "can no longer change; due date, reference still can)")
    cause = caught.value.cause
    assert (cause.kind, cause.field, cause.value, cause.document) == (
        "RecordLocked", "status", "paid in Xero", "INV-2001")
    assert not caught.value.retriable


def test_nothing_differs_then_nothing_goes() -> None:
    with pytest.raises(RecordLocked, match=r"the change was not sent \(Xero holds it as it "
                                           r"is\)$"):
        locked_update(PAID, stream="invoice", label="INV-2001", key="k", current=HELD,
                      wanted=_update(), names=list(_update()))
    voided = Lock("voided", "Xero")
    with pytest.raises(RecordLocked, match=r"reference can no longer change\)$"):
        locked_update(voided, stream="invoice", label="INV-2001", key="k", current=HELD,
                      wanted=_update(reference="PO-2"), names=["reference"])


@pytest.mark.parametrize(("stream", "held", "state"), [
    ("invoice", {"Status": "PAID", "AmountPaid": 30.0}, "paid"),
    ("invoice", {"Status": "AUTHORISED", "AmountPaid": 10.0}, "part-paid"),
    ("bill", {"Status": "AUTHORISED", "AmountCredited": 5.0}, "part-paid"),
    ("invoice", {"Status": "AUTHORISED", "Payments": [{"PaymentID": "p"}]}, "part-paid"),
    ("credit_note", {"Status": "AUTHORISED", "Total": 50.0, "RemainingCredit": 20.0},
     "partly allocated"),
    ("invoice", {"Status": "AUTHORISED", "AmountPaid": 0.0, "Payments": []}, None),
    ("invoice", {"Status": "DRAFT"}, None),
    ("invoice", {"Status": "VOIDED"}, None),  # deleted as far as the connector goes
    ("contact", {"ContactStatus": "ACTIVE"}, None),
])
def test_when_a_xero_document_is_locked(stream: str, held: dict[str, object],
                                        state: str | None) -> None:
    from syncline.connectors.xero.locks import PAID_EDITABLE, lock_of

    lock = lock_of(stream, held)
    assert (lock.state if lock else None) == state
    assert lock is None or lock.editable == PAID_EDITABLE


@pytest.mark.parametrize(("stream", "held", "state"), [
    ("invoice", {"TotalAmt": 240.0, "Balance": 0}, "paid"),
    ("invoice", {"TotalAmt": 240.0, "Balance": 140.0}, "part-paid"),
    ("bill", {"TotalAmt": 80.0, "Balance": 80.0,
              "LinkedTxn": [{"TxnId": "9", "TxnType": "BillPayment"}]}, "part-paid"),
    ("invoice", {"TotalAmt": 240.0, "Balance": 240.0}, None),
    ("invoice", {"TotalAmt": 0, "Balance": 0}, None),
    ("invoice", {"TotalAmt": 240.0, "Balance": 240.0,
                 "LinkedTxn": [{"TxnId": "3", "TxnType": "Estimate"}]}, None),
])
def test_when_a_quickbooks_document_is_locked(stream: str, held: dict[str, object],
                                              state: str | None) -> None:
    from syncline.connectors.qbo.documents import lock_of
    from syncline.connectors.qbo.mapping import STREAMS

    lock = lock_of(STREAMS[stream], held)
    assert (lock.state if lock else None) == state


def test_a_locked_result_survives_the_receipt_of_its_batch() -> None:
    """After a crash the result is read back from the receipt as the same kind of error, so
    the engine skips it the same way."""
    from syncline.connectors.base import WriteResult
    from syncline.connectors.receipts import (
        format_receipt,
        line_of_result,
        parse_receipt,
        result_of_line,
    )

    error = RecordLocked("invoice INV-2001: INV-2001 is paid in Xero; the change was not sent",
                         stream="invoice", key="k", field="status", value="paid in Xero")
    (line,) = parse_receipt(format_receipt([line_of_result(WriteResult("t", error=error))]))
    back = result_of_line(line, "invoice").error
    assert isinstance(back, RecordLocked) and str(back) == str(error)
    assert back.cause.document == "INV-2001"
