"""iCalendar items (RFC 5545) <-> canonical ``event`` (VEVENT) and ``task`` (VTODO) fields.

Terms:

item
    One VCALENDAR object holding one calendar component: a VEVENT or VTODO together with its
    recurrence exceptions (more components with the same UID and a RECURRENCE-ID) and the
    VTIMEZONE definitions they use. One item is one file of a vdir, one resource of CalDAV.
master
    The component of an item without RECURRENCE-ID: the one the canonical fields map.

Event mapping: SUMMARY -> summary, DESCRIPTION -> description, DTSTART -> start, DTEND (or
DTSTART + DURATION) -> end, DATE values -> ``all_day`` true with ``date`` start and end (the
end exclusive, as in iCalendar), the TZID of DTSTART -> timezone (``None`` for UTC times and
for floating times, which stay naive; a time written with no time zone is written in UTC),
LOCATION -> location, ATTENDEE -> attendees (the addresses of ``mailto:`` URIs joined with
``", "``), RRULE -> recurrence (its text, such as ``FREQ=WEEKLY;BYDAY=MO``), CATEGORIES ->
categories (joined with ``", "``), UID -> uid.
Times with a TZID come back timezone-aware.

Task mapping: SUMMARY, DESCRIPTION, DUE -> due, STATUS -> status (``NEEDS-ACTION``,
``IN-PROCESS``, ``COMPLETED``, ``CANCELLED``), PRIORITY -> priority (0-9), COMPLETED ->
completed, CATEGORIES, UID.

Updating starts from the item's own text: only the properties of the fields given are
replaced, so alarms (VALARM), recurrence exceptions, X- properties and parameters (CN and
PARTSTAT of attendees that stay) survive. The item is written back through the ``icalendar``
library, which keeps every property but may reorder them and refold lines.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar

from syncline.errors import MalformedRecord

__all__ = [
    "EVENT_FIELDS",
    "TASK_FIELDS",
    "calendar_fields",
    "calendar_text",
    "calendar_uid",
    "component_kind",
    "last_modified",
    "master",
    "new_calendar",
    "parse_calendar",
    "update_calendar",
]

EVENT_FIELDS = frozenset({"uid", "summary", "description", "start", "end", "all_day",
                          "timezone", "location", "attendees", "recurrence", "categories"})
"""The canonical event fields a VEVENT maps."""
TASK_FIELDS = frozenset({"uid", "summary", "description", "due", "status", "priority",
                         "completed", "categories"})
"""The canonical task fields a VTODO maps."""

_COMPONENT = {"event": "VEVENT", "task": "VTODO"}


def _component_name(stream: str) -> str:
    try:
        return _COMPONENT[stream]
    except KeyError:
        raise ValueError(f"an iCalendar item holds no '{stream}'") from None


def parse_calendar(text: str, *, source: str) -> icalendar.Calendar:
    """Parse one iCalendar item.

    Raises:
        MalformedRecord: naming ``source`` and the problem: not a VCALENDAR, a line that is
            not a content line, no VEVENT / VTODO, a master without UID, a property value
            that does not parse (such as a DTSTART that is no date).
    """
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as error:
        where = _locate(text)
        raise MalformedRecord(f"{source}: {where + ': ' if where else ''}{error}") from None
    if not isinstance(calendar, icalendar.Calendar):
        raise MalformedRecord(f"{source}: not a VCALENDAR")
    items = [c for c in calendar.subcomponents if c.name in ("VEVENT", "VTODO", "VJOURNAL")]
    if not items:
        raise MalformedRecord(f"{source}: holds no VEVENT or VTODO")
    for component in items:
        if component.errors:
            problems = "; ".join(f"{name}: {problem}" for name, problem in component.errors)
            raise MalformedRecord(f"{source}: {component.name}: {problems}")
    main = master(calendar)
    if main is None:
        raise MalformedRecord(f"{source}: every component has a RECURRENCE-ID")
    if not str(main.get("UID", "")).strip():
        raise MalformedRecord(f"{source}: {main.name} without UID")
    return calendar


def _locate(text: str) -> str | None:
    """Where the first problem of ``text`` is, for messages: ``line N: NAME`` of the first
    content line icalendar cannot split or whose value it cannot read (``None``: not found).
    Only called for items that failed to parse."""
    factory = icalendar.Calendar.types_factory
    unfolded = text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "")
    for number, line in enumerate(unfolded.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        try:
            content_line = icalendar.parser.Contentline(line)  # type: ignore[no-untyped-call]
            name, params, value = content_line.parts()
        except (ValueError, IndexError, KeyError):
            return f"line {number}"
        if name in ("BEGIN", "END"):
            continue
        kind: Any = factory.for_property(name, str(params.get("VALUE", "")) or None)
        try:
            kind.from_ical(value)
        except (ValueError, IndexError, KeyError, TypeError):
            return f"line {number}: {name}"
    return None


def master(calendar: icalendar.Calendar) -> icalendar.cal.Component | None:
    """The item's VEVENT / VTODO without RECURRENCE-ID (see the module docstring)."""
    for component in calendar.subcomponents:
        if component.name in ("VEVENT", "VTODO", "VJOURNAL") \
                and "RECURRENCE-ID" not in component:
            return component
    return None


def component_kind(calendar: icalendar.Calendar) -> str | None:
    """``"event"`` or ``"task"``: what the item's master is (``None`` for a VJOURNAL)."""
    main = master(calendar)
    if main is None:
        return None
    return {"VEVENT": "event", "VTODO": "task"}.get(str(main.name))


# -- reading -------------------------------------------------------------------------------
def _text(component: icalendar.cal.Component, name: str) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    return str(value).strip() or None


def _moment(component: icalendar.cal.Component, name: str) -> date | datetime | None:
    if name not in component:
        return None
    value = component.decoded(name)
    return value if isinstance(value, date) else None


def _timezone_name(component: icalendar.cal.Component, name: str) -> str | None:
    prop = component.get(name)
    if prop is None:
        return None
    tzid = prop.params.get("TZID")
    return str(tzid) if tzid else None


def _categories(component: icalendar.cal.Component) -> str | None:
    found = component.get("CATEGORIES")
    if found is None:
        return None
    lists = found if isinstance(found, list) else [found]
    names = [str(category).strip() for entry in lists for category in entry.cats]
    return ", ".join(name for name in names if name) or None


def _addresses(component: icalendar.cal.Component) -> list[str]:
    found = component.get("ATTENDEE")
    if found is None:
        return []
    attendees = found if isinstance(found, list) else [found]
    return [_address(str(attendee)) for attendee in attendees if str(attendee).strip()]


def _address(uri: str) -> str:
    text = uri.strip()
    return text[7:] if text.lower().startswith("mailto:") else text


def _event_fields(event: icalendar.cal.Component) -> dict[str, Any]:
    start = _moment(event, "DTSTART")
    end = _moment(event, "DTEND")
    if end is None and start is not None:
        if "DURATION" in event:
            end = start + event.decoded("DURATION")
        elif not isinstance(start, datetime):
            end = start + timedelta(days=1)
    rrule = event.get("RRULE")
    if isinstance(rrule, list):
        rrule = rrule[0]
    return {
        "uid": _text(event, "UID"),
        "summary": _text(event, "SUMMARY"),
        "description": _text(event, "DESCRIPTION"),
        "start": start,
        "end": end,
        "all_day": start is not None and not isinstance(start, datetime),
        "timezone": _timezone_name(event, "DTSTART"),
        "location": _text(event, "LOCATION"),
        "attendees": ", ".join(_addresses(event)) or None,
        "recurrence": rrule.to_ical().decode() if rrule is not None else None,
        "categories": _categories(event),
    }


def _task_fields(task: icalendar.cal.Component) -> dict[str, Any]:
    priority = task.get("PRIORITY")
    status = _text(task, "STATUS")
    return {
        "uid": _text(task, "UID"),
        "summary": _text(task, "SUMMARY"),
        "description": _text(task, "DESCRIPTION"),
        "due": _moment(task, "DUE"),
        "status": status.upper() if status else None,
        "priority": int(priority) if priority is not None else None,
        "completed": _moment(task, "COMPLETED"),
        "categories": _categories(task),
    }


def calendar_fields(calendar: icalendar.Calendar, stream: str) -> dict[str, Any]:
    """The canonical fields of the item's master for ``stream`` (``event`` or ``task``).

    Raises:
        ValueError: ``stream`` is neither, or the item's master is of the other kind.
    """
    name = _component_name(stream)
    main = master(calendar)
    if main is None or main.name != name:
        raise ValueError(f"the item holds no {name}")
    return _event_fields(main) if stream == "event" else _task_fields(main)


def last_modified(calendar: icalendar.Calendar) -> datetime | None:
    """LAST-MODIFIED (else DTSTAMP) of the master, as an aware datetime, or ``None``."""
    main = master(calendar)
    if main is None:
        return None
    for name in ("LAST-MODIFIED", "DTSTAMP"):
        value = _moment(main, name)
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None


# -- writing -------------------------------------------------------------------------------
def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    if name.upper() in ("UTC", "Z", "ETC/UTC", "GMT"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _as_value(value: Any, *, all_day: bool, zone_name: str | None) -> date | datetime | None:
    """A DTSTART / DTEND / DUE value for canonical ``value``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str | date):
        raise ValueError(f"not a date or time: {value!r}")
    moment: date
    if isinstance(value, str):
        moment = datetime.fromisoformat(value) if "T" in value or " " in value \
            else date.fromisoformat(value)
    else:
        moment = value
    if all_day:
        return moment.date() if isinstance(moment, datetime) else moment
    stamp = moment if isinstance(moment, datetime) \
        else datetime(moment.year, moment.month, moment.day)
    zone = _zone(zone_name)
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=zone) if zone is not None else stamp
    return stamp.astimezone(zone) if zone is not None else stamp.astimezone(UTC)


def _replace(component: icalendar.cal.Component, name: str, value: Any) -> None:
    component.pop(name, None)
    if value is not None and value != "":
        component.add(name, value)


def _same(current: Any, wanted: Any) -> bool:
    from syncline.model import canonical_value

    return bool(canonical_value(current) == canonical_value(wanted))


def _set_attendees(event: icalendar.cal.Component, value: Any) -> None:
    wanted = [part.strip() for part in str(value or "").split(",") if part.strip()]
    found = event.get("ATTENDEE")
    current = [] if found is None else found if isinstance(found, list) else [found]
    if [_address(str(a)) for a in current] == wanted:
        return
    keep = {_address(str(attendee)).lower(): attendee for attendee in current}
    event.pop("ATTENDEE", None)
    for address in wanted:
        existing = keep.get(address.lower())
        event.add("ATTENDEE", existing if existing is not None
                  else icalendar.vCalAddress(f"mailto:{address}"))


def _set_categories(component: icalendar.cal.Component, value: Any) -> None:
    wanted = [part.strip() for part in str(value or "").split(",") if part.strip()]
    if (_categories(component) or "") == ", ".join(wanted):
        return
    _replace(component, "CATEGORIES", wanted or None)


def _update_times(event: icalendar.cal.Component, current: Mapping[str, Any],
                  fields: Mapping[str, Any]) -> None:
    merged = {**current, **{k: v for k, v in fields.items()
                            if k in ("start", "end", "all_day", "timezone")}}
    all_day = bool(merged.get("all_day"))
    zone_name = merged.get("timezone")
    start = _as_value(merged.get("start"), all_day=all_day, zone_name=zone_name)
    end = _as_value(merged.get("end"), all_day=all_day, zone_name=zone_name)
    zone_changed = (merged.get("timezone") or None) != (current.get("timezone") or None)
    if zone_changed or all_day != bool(current.get("all_day")) \
            or not _same(current.get("start"), start):
        _replace(event, "DTSTART", start)
    if zone_changed or all_day != bool(current.get("all_day")) \
            or not _same(current.get("end"), end):
        event.pop("DURATION", None)
        _replace(event, "DTEND", end)


def _update_event(event: icalendar.cal.Component, fields: Mapping[str, Any]) -> None:
    current = _event_fields(event)
    if fields.keys() & {"start", "end", "all_day", "timezone"}:
        _update_times(event, current, fields)
    for name, prop in (("summary", "SUMMARY"), ("description", "DESCRIPTION"),
                       ("location", "LOCATION")):
        if name in fields and not _same(current[name], fields[name]):
            _replace(event, prop, fields[name])
    if "attendees" in fields:
        _set_attendees(event, fields["attendees"])
    if "recurrence" in fields and not _same(current["recurrence"], fields["recurrence"]):
        text = str(fields["recurrence"] or "").strip()
        _replace(event, "RRULE", icalendar.vRecur.from_ical(text) if text else None)
    if "categories" in fields:
        _set_categories(event, fields["categories"])


def _update_task(task: icalendar.cal.Component, fields: Mapping[str, Any]) -> None:
    current = _task_fields(task)
    for name, prop in (("summary", "SUMMARY"), ("description", "DESCRIPTION"),
                       ("status", "STATUS")):
        if name in fields and not _same(current[name], fields[name]):
            _replace(task, prop, fields[name])
    if "priority" in fields and not _same(current["priority"], fields["priority"]):
        priority = fields["priority"]
        _replace(task, "PRIORITY", int(priority) if priority not in (None, "") else None)
    for name, prop in (("due", "DUE"), ("completed", "COMPLETED")):
        if name in fields and not _same(current[name], fields[name]):
            value = fields[name]
            moment = _as_value(value, all_day=isinstance(value, date)
                               and not isinstance(value, datetime), zone_name=None)
            if prop == "COMPLETED" and isinstance(moment, datetime):
                moment = moment.astimezone(UTC)  # RFC 5545: COMPLETED is in UTC
            _replace(task, prop, moment)
    if "categories" in fields:
        _set_categories(task, fields["categories"])


def update_calendar(calendar: icalendar.Calendar, stream: str, fields: Mapping[str, Any], *,
                    now: datetime | None = None) -> icalendar.Calendar:
    """Write canonical ``fields`` of ``stream`` into the item's master in place; return it.

    Only properties of the fields given change (``None`` removes one); DTSTAMP and
    LAST-MODIFIED are set to ``now`` and SEQUENCE goes up by one when times change, as RFC
    5545 asks. VTIMEZONE definitions for new time zones are added.

    Raises:
        ValueError: ``stream`` is neither ``event`` nor ``task`` or does not match the item,
            or a value cannot be written (a recurrence rule that does not parse).
    """
    name = _component_name(stream)
    main = master(calendar)
    if main is None or main.name != name:
        raise ValueError(f"the item holds no {name}")
    before = main.get("DTSTART"), main.get("DTEND"), main.get("DUE")
    if stream == "event":
        _update_event(main, fields)
    else:
        _update_task(main, fields)
    if "uid" in fields and fields["uid"] and str(main.get("UID")) != str(fields["uid"]):
        _replace(main, "UID", str(fields["uid"]))
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    _replace(main, "DTSTAMP", moment)
    _replace(main, "LAST-MODIFIED", moment)
    if (main.get("DTSTART"), main.get("DTEND"), main.get("DUE")) != before \
            and "SEQUENCE" in main:
        _replace(main, "SEQUENCE", int(str(main["SEQUENCE"])) + 1)
    calendar.add_missing_timezones()
    return calendar


def new_calendar(stream: str, fields: Mapping[str, Any], *,
                 now: datetime | None = None) -> icalendar.Calendar:
    """A new VCALENDAR holding one VEVENT or VTODO with ``fields`` and their UID (a random
    one when ``fields`` has none).

    Raises:
        ValueError: as :func:`update_calendar`.
    """
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//syncline//vdir//EN")
    calendar.add("VERSION", "2.0")
    component = icalendar.Event() if _component_name(stream) == "VEVENT" else icalendar.Todo()
    component.add("UID", str(fields.get("uid") or f"{uuid.uuid4()}@syncline"))
    calendar.add_component(component)
    return update_calendar(calendar, stream,
                           {k: v for k, v in fields.items() if v not in (None, "")}, now=now)


def calendar_text(calendar: icalendar.Calendar) -> str:
    """The item's text (CRLF line ends, folded)."""
    return bytes(calendar.to_ical()).decode()


def calendar_uid(calendar: icalendar.Calendar) -> str | None:
    """The UID of the item's master."""
    main = master(calendar)
    return _text(main, "UID") if main is not None else None
