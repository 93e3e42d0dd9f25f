"""Value formats of the Xero Accounting API: Microsoft JSON dates and money.

Terms:

MS date
    Xero's JSON date form, ``/Date(1706659200000+0000)/``: milliseconds since the epoch
    (UTC) and an offset. Dates (``Date``, ``DueDate``) are midnight UTC; timestamps
    (``UpdatedDateUTC``) carry milliseconds. Xero accepts ISO dates (``2024-01-31``) and
    timestamps in requests.
money
    Amounts are decimals rounded half-up to 2 places (unit amounts to 4 with ``unitdp=4``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

__all__ = [
    "CENT",
    "from_ms_date",
    "money",
    "ms_date",
    "ms_timestamp",
    "parse_date",
    "parse_http_date",
    "to_number",
]

CENT = Decimal("0.01")
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_timestamp(moment: datetime) -> str:
    """``moment`` (timezone-aware) as an MS date with milliseconds."""
    millis = (moment - _EPOCH) // timedelta(milliseconds=1)
    return f"/Date({millis}+0000)/"


def ms_date(day: date) -> str:
    """A calendar day as an MS date (midnight UTC)."""
    return ms_timestamp(datetime.combine(day, time(), UTC))


def from_ms_date(text: str) -> datetime:
    """The UTC moment of an MS date (the offset only says where it was shown).

    Raises:
        ValueError: ``text`` is not an MS date.
    """
    found = _MS_DATE.match(text.strip())
    if found is None:
        raise ValueError(f"not a Xero date: {text!r}")
    return _EPOCH + timedelta(milliseconds=int(found.group(1)))


def parse_date(value: Any) -> date:
    """A request's date: ISO (``2024-01-31``, ``2024-01-31T00:00:00``) or an MS date.

    Raises:
        ValueError: none of these.
    """
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    text = value.strip()
    if text.startswith("/Date("):
        return from_ms_date(text).date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None


def parse_http_date(text: str) -> datetime:
    """An ``If-Modified-Since`` value: ISO 8601 (what Xero's SDKs send, naive = UTC) or an
    RFC 7231 HTTP date.

    Raises:
        ValueError: neither form.
    """
    from email.utils import parsedate_to_datetime

    stripped = text.strip()
    try:
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(stripped)
        except (TypeError, ValueError):
            raise ValueError(f"not a date-time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_number(value: Any) -> Decimal:
    """A JSON number as a decimal (floats through their shortest text).

    Raises:
        ValueError: not a number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"not a number: {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def money(value: Decimal, places: Decimal = CENT) -> Decimal:
    """``value`` rounded half-up to cents (or ``places``)."""
    return value.quantize(places, rounding=ROUND_HALF_UP)
