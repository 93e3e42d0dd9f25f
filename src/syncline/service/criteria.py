"""Which records a forced resynchronisation selects: the criteria and the pure filter.

Terms:

record date
    The date a record is about: ``date`` for documents, payments and expenses, ``start``
    for events; streams without one (contacts, organisations, code lists, tasks) use the
    record's modification time (``updated_at``). ``--since`` / ``--until`` filter on it.
due date
    ``due_date`` of invoices, bills and credit notes, ``due`` of tasks. Streams without one
    select nothing when a due-date criterion is given.
owner
    The ``owner`` field (the sales representative or user a record belongs to), compared
    without regard to case or outer spaces. Streams without it select nothing when an owner
    criterion is given.

Dates compare inclusively. A date-only field (``date``, ``due_date``) compares by calendar
day against the day of the bound (in the bound's own timezone); date-times compare as
instants (a naive one is taken as UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from syncline.model import ENTITY_TYPES, Record, Side

__all__ = [
    "DUE_DATE_FIELDS",
    "RECORD_DATE_FIELDS",
    "ForceCriteria",
    "due_date",
    "has_due_date",
    "has_owner",
    "in_window",
    "matches",
    "record_date",
]

RECORD_DATE_FIELDS = {name: "date" for name, spec in ENTITY_TYPES.items() if "date" in spec.fields}
RECORD_DATE_FIELDS["event"] = "start"
DUE_DATE_FIELDS = {name: field for name, spec in ENTITY_TYPES.items()
                   for field in ("due_date", "due") if field in spec.fields}


@dataclass(frozen=True)
class ForceCriteria:
    """What ``syncline force`` selects (all given criteria must hold). Empty ``streams``:
    all of the link's. ``source``: the authoritative side (``None``: the link's default)."""

    streams: tuple[str, ...] = ()
    from_key: str | None = None
    to_key: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None
    owner: str | None = None
    with_related: bool = False
    source: Side | None = None

    @property
    def wants_due(self) -> bool:
        return self.due_from is not None or self.due_to is not None

    def to_json(self) -> dict[str, Any]:
        def text(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {"streams": list(self.streams), "from_key": self.from_key,
                "to_key": self.to_key, "since": text(self.since), "until": text(self.until),
                "due_from": text(self.due_from), "due_to": text(self.due_to),
                "owner": self.owner, "with_related": self.with_related,
                "source": self.source.value if self.source is not None else None}


def has_due_date(stream: str) -> bool:
    return stream in DUE_DATE_FIELDS


def has_owner(stream: str) -> bool:
    spec = ENTITY_TYPES.get(stream)
    return spec is not None and "owner" in spec.fields


def record_date(stream: str, record: Record) -> date | datetime | None:
    """The record date (see the module docstring)."""
    name = RECORD_DATE_FIELDS.get(stream)
    if name is None:
        return record.updated_at
    value = record.fields.get(name)
    return value if isinstance(value, date) else None


def due_date(stream: str, record: Record) -> date | datetime | None:
    """The due date, or ``None`` (no such field, or empty)."""
    name = DUE_DATE_FIELDS.get(stream)
    value = record.fields.get(name) if name is not None else None
    return value if isinstance(value, date) else None


def in_window(value: date | datetime | None, start: datetime | None,
              end: datetime | None) -> bool:
    """Whether ``value`` lies within ``[start, end]`` (see the module docstring); an empty
    value lies in no window, and any value in the window without bounds."""
    if start is None and end is None:
        return True
    if value is None:
        return False
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (start is None or moment >= start) and (end is None or moment <= end)
    return (start is None or value >= start.date()) and (end is None or value <= end.date())


def matches(criteria: ForceCriteria, stream: str, record: Record,
            in_key_range: Callable[[str], bool] | None = None) -> bool:
    """Whether ``record`` of ``stream`` meets every criterion. ``in_key_range`` decides the
    key range as the endpoint orders keys (default: as text)."""
    if criteria.from_key is not None or criteria.to_key is not None:
        if in_key_range is not None:
            if not in_key_range(record.key):
                return False
        elif (criteria.from_key is not None and record.key < criteria.from_key) or \
                (criteria.to_key is not None and record.key > criteria.to_key):
            return False
    if not in_window(record_date(stream, record), criteria.since, criteria.until):
        return False
    if criteria.wants_due and not in_window(due_date(stream, record), criteria.due_from,
                                            criteria.due_to):
        return False
    if criteria.owner is not None:
        owner = record.fields.get("owner")
        if not isinstance(owner, str) or \
                owner.strip().casefold() != criteria.owner.strip().casefold():
            return False
    return True
