"""The Xero sandbox's ``where`` parser on its own: every form the grammar allows, and a clear
message naming the column of what it cannot read."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from syncline.sandbox.xero.where import WhereInvalid, parse_where

RECORD: dict[str, Any] = {
    "Name": "Acme Trading", "Type": "ACCREC", "Total": Decimal("360.00"), "AmountDue": 0.0,
    "Date": "/Date(1768003200000+0000)/", "IsSupplier": False, "Reference": "",
    "Contact": {"ContactID": "3F2504E0-4F89-11D3-9A0C-0305E82C3301", "Name": "Dunmore"},
    "_updated": datetime(2026, 1, 10, 12, 0, tzinfo=UTC)}


@pytest.mark.parametrize(("text", "expected"), [
    ('Name == "acme trading"', True),
    ('Name != "Acme Trading"', False),
    ("Total >= 360 AND Total <= 360.00", True),
    ("Total > 360 OR AmountDue < 0", False),
    ("Date >= DateTime(2026, 01, 10) && Date < DateTime(2026, 01, 10, 0, 0, 1)", True),
    ("UpdatedDateUTC > DateTime(2026, 1, 10, 11, 59, 59)", True),
    ('Name.StartsWith("ACME") AND Name.EndsWith("ing") AND Name.Contains("e t")', True),
    ('Contact.Name.Contains("x") || (Type == "ACCREC" AND IsSupplier == false)', True),
    ('Contact.ContactID == Guid("3f2504e0-4f89-11d3-9a0c-0305e82c3301")', True),
    ("Reference == null AND Missing == null AND Name != null", True),
    ('Missing == "x" OR Missing > 3 OR Missing.StartsWith("x")', False),
    ('Type == "ACCPAY" OR (Total > 100 AND (AmountDue == 0 OR Name == "x"))', True),
])
def test_where_forms(text: str, expected: bool) -> None:
    assert parse_where(text)(RECORD) is expected


@pytest.mark.parametrize(("text", "message"), [
    ("Total ~ 5", "column 7"),
    ("Total >", "the end"),
    ('Name == "x" AND', "a field name"),
    ('(Name == "x"', "')'"),
    ("Date > DateTime(2026, 13, 1)", "is not a date"),
    ("Date > DateTime(2026, 1)", "year, month, day"),
    ('Name.Contains(5)', "quoted text for contains"),
    ('Name == "x" Total > 1', "AND, OR or the end"),
])
def test_where_refusals_name_the_place(text: str, message: str) -> None:
    with pytest.raises(WhereInvalid) as refused:
        parse_where(text)
    assert message in str(refused.value)
