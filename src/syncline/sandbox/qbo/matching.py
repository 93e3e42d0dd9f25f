"""Evaluating a parsed QBO query against a company's objects: conditions, order, field
lists, and the time text QBO accepts in queries and ``changedSince``.

Terms: a *stored value* is what an object holds at a property path (a reference or an
amount object counts by its ``value``); a *literal* is what the query compares it with.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from syncline.sandbox.qbo.entities import to_decimal
from syncline.sandbox.qbo.faults import QboFault
from syncline.sandbox.qbo.query import Condition

__all__ = ["lookup_path", "matches", "parse_time", "projected", "sort_key"]


def parse_time(text: str) -> datetime:
    """Parse an ISO date or date-time as QBO accepts it (a date means its midnight UTC,
    a time without offset is UTC).

    Raises:
        ValueError: the text is no ISO date or date-time.
    """
    value = text.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def lookup_path(value: Any, path: tuple[str, ...]) -> Any:
    """The stored value at ``path`` (property names in any case)."""
    for part in path:
        if not isinstance(value, dict):
            return None
        lowered = part.lower()
        value = next((item for key, item in value.items() if key.lower() == lowered), None)
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


def _comparable(stored: Any, literal: Any) -> tuple[Any, Any]:
    """Make a stored value and a query literal comparable: numbers as Decimal (a quoted
    number too), times as datetimes, Ids numerically, text as text."""
    if isinstance(literal, bool) or isinstance(stored, bool):
        return stored, literal
    if isinstance(literal, Decimal):
        try:
            return to_decimal(stored, "query"), literal
        except QboFault:
            return str(stored), str(literal)
    if isinstance(literal, str) and isinstance(stored, int | float | Decimal):
        try:  # QBO compares a quoted number with an amount as numbers: TotalAmt > '300'
            return to_decimal(stored, "query"), to_decimal(literal, "query")
        except QboFault:
            return str(stored), literal
    if isinstance(literal, str) and isinstance(stored, str):
        if stored.isdigit() and literal.isdigit():
            return int(stored), int(literal)
        if len(literal) >= 10 and literal[4:5] == "-" and len(stored) >= 10 \
                and stored[4:5] == "-":
            try:
                return parse_time(stored), parse_time(literal)
            except ValueError:  # they only looked like moments: compared as text
                return stored, literal
    return stored, literal


def matches(item: dict[str, Any], condition: Condition) -> bool:
    """Whether ``item`` meets ``condition``."""
    stored = lookup_path(item, condition.path)
    if condition.operator == "in":
        return any(_equal(stored, value) for value in condition.value)
    if stored is None:
        return False
    if condition.operator == "like":
        pattern = ".*".join(re.escape(part) for part in str(condition.value).split("%"))
        return re.fullmatch(pattern, str(stored), re.IGNORECASE | re.DOTALL) is not None
    left, right = _comparable(stored, condition.value)
    try:
        return bool({"=": left == right, "<": left < right, ">": left > right,
                     "<=": left <= right, ">=": left >= right}[condition.operator])
    except TypeError:
        return False


def _equal(stored: Any, literal: Any) -> bool:
    left, right = _comparable(stored, literal)
    return bool(left == right)


def projected(item: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    """A copy of ``item``, or of only the top-level ``fields`` it holds (marked sparse, as
    QBO answers a query with a field list)."""
    if fields is None:
        return copy.deepcopy(item)
    wanted = {name.split(".")[0].lower() for name in fields}
    out: dict[str, Any] = {"domain": item.get("domain", "QBO"), "sparse": True}
    out.update({key: copy.deepcopy(value) for key, value in item.items()
                if key.lower() in wanted})
    return out


def sort_key(value: Any) -> tuple[int, Any]:
    """A key that orders missing values first, then numbers (and numeric Ids), then text."""
    if value is None:
        return (0, "")
    if isinstance(value, str) and value.isdigit():
        return (1, int(value))
    if isinstance(value, int | float | Decimal):
        return (1, Decimal(str(value)))
    return (2, str(value))
