"""Updating an iCalendar item so that only the changed properties change, byte for byte.

:func:`~syncline.formats.icalendar.update_calendar` changes the mapped properties of an
item's master (the VEVENT / VTODO without RECURRENCE-ID) on the parsed calendar; serializing
that whole calendar again would rewrite everything else the way the ``icalendar`` library
writes it (property order, parameter quoting, RRULE part order). :func:`update_text` instead
splices: it compares the master's properties before and after the update and, in the
item's original text, replaces only the lines of properties whose values changed, adds new
ones at the end of the master's own properties, drops removed ones and adds VTIMEZONE
definitions the update needed. Every other line (other components, alarms, recurrence
exceptions, X- properties, parameters, folding, line ends) is written back exactly as read.

Terms:

logical line
    One content line after unfolding, with the physical text it was read from (folds and
    all), so an untouched line is written back as it was.
own properties
    The properties of a component itself, not those of the components nested in it (a
    VALARM's TRIGGER is not the VEVENT's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import icalendar

from syncline.formats.icalendar import master, update_calendar

__all__ = ["update_text"]


@dataclass(slots=True)
class _Component:
    """Where one component lies in the logical lines: its BEGIN and END line numbers and
    the line numbers of its own properties."""

    name: str
    begin: int
    end: int = -1
    own: list[int] = field(default_factory=list)


def _logical_lines(text: str) -> tuple[list[str], list[str], str]:
    """The unfolded lines, the physical text of each, and the line end the text uses."""
    newline = "\r\n" if "\r\n" in text else "\n"
    unfolded: list[str] = []
    physical: list[str] = []
    for piece in text.split("\n"):
        raw = piece[:-1] if piece.endswith("\r") else piece
        if raw[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += raw[1:]
            physical[-1] += newline + raw
        elif raw.strip():
            unfolded.append(raw)
            physical.append(raw)
    return unfolded, physical, newline


def _name(line: str) -> str:
    """The property name of a content line (upper-case)."""
    cut = len(line)
    for mark in (";", ":"):
        found = line.find(mark)
        if 0 <= found < cut:
            cut = found
    return line[:cut].strip().upper()


def _components(lines: list[str]) -> list[_Component]:
    """Every component (outermost first in order of BEGIN) with its own property lines."""
    found: list[_Component] = []
    stack: list[_Component] = []
    for number, line in enumerate(lines):
        name = _name(line)
        if name == "BEGIN":
            component = _Component(line.partition(":")[2].strip().upper(), number)
            found.append(component)
            stack.append(component)
        elif name == "END" and stack:
            stack.pop().end = number
        elif stack:
            stack[-1].own.append(number)
    return found


def _property_lines(component: icalendar.cal.Component) -> dict[str, list[str]]:
    """The component's own properties as content lines, by name (in the library's form:
    what counts is whether they differ before and after an update)."""
    found: dict[str, list[str]] = {}
    for name, value in component.property_items(recursive=False, sorted=False):
        if name in ("BEGIN", "END"):
            continue
        line = component.content_line(name, value, sorted=False)  # unfolded
        found.setdefault(name.upper(), []).append(str(line))
    return found


def _timezone_ids(calendar: icalendar.Calendar) -> list[str]:
    return [str(part.get("TZID")) for part in calendar.subcomponents if part.name == "VTIMEZONE"]


def _fold(line: str, newline: str) -> str:
    """``line`` folded at 75 octets (never inside a UTF-8 sequence) with ``newline``."""
    encoded = line.encode()
    pieces: list[str] = []
    start, limit = 0, 75
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1
        pieces.append(encoded[start:end].decode())
        start, limit = end, 74
    return f"{newline} ".join(pieces)


def update_text(text: str, calendar: icalendar.Calendar, stream: str,
                fields: Mapping[str, Any]) -> str:
    """``text`` with canonical ``fields`` of ``stream`` written into its master, changing
    nothing else (see the module docstring); ``calendar`` is ``text`` parsed (by
    :func:`~syncline.formats.icalendar.parse_calendar`), and is updated in place.

    Raises:
        ValueError: as :func:`~syncline.formats.icalendar.update_calendar`.
    """
    main = master(calendar)
    before = _property_lines(main) if main is not None else {}
    zones_before = set(_timezone_ids(calendar))
    update_calendar(calendar, stream, fields)
    main = master(calendar)
    assert main is not None  # update_calendar raised otherwise
    after = _property_lines(main)
    changed = {name for name in set(before) | set(after) if before.get(name) != after.get(name)}
    new_zones = [part for part in calendar.subcomponents if part.name == "VTIMEZONE"
                 and str(part.get("TZID")) not in zones_before]
    lines, physical, newline = _logical_lines(text)
    components = _components(lines)
    target = _original_master(components, lines, str(main.name))
    if target is None or not components or components[0].name != "VCALENDAR":
        return bytes(calendar.to_ical()).decode()  # nothing to splice into: write it whole
    return _splice(physical, newline, target, changed, before, after, new_zones)


def _original_master(components: list[_Component], lines: list[str],
                     kind: str) -> _Component | None:
    """The master component in the original lines: the first ``kind`` directly inside the
    VCALENDAR without a RECURRENCE-ID of its own."""
    if not components:
        return None
    outer = components[0]
    for component in components[1:]:
        if component.name != kind or not outer.begin < component.begin < outer.end:
            continue
        if any(_name(lines[number]) == "RECURRENCE-ID" for number in component.own):
            continue
        return component
    return None


def _splice(physical: list[str], newline: str, target: _Component, changed: set[str],
            before: dict[str, list[str]], after: dict[str, list[str]],
            new_zones: list[icalendar.cal.Component]) -> str:
    """The original lines with the master's ``changed`` properties replaced by their lines
    in ``after`` and ``new_zones`` added before the master (see :func:`update_text`). A
    value of a changed property that was there before (one attendee of several) keeps its
    original text."""
    originals: dict[str, str] = {}  # a property line as the library writes it -> as read
    by_name: dict[str, list[str]] = {}
    for number in target.own:
        by_name.setdefault(_name(physical[number].split(newline, 1)[0]), []).append(
            physical[number])
    for name in changed:
        old_forms, old_texts = before.get(name, []), by_name.get(name, [])
        if len(old_forms) == len(old_texts):
            originals.update(zip(old_forms, old_texts, strict=True))

    def rendered(name: str) -> list[str]:
        return [originals.get(line) or _fold(line, newline) for line in after.get(name, [])]

    own = set(target.own)
    placed: set[str] = set()
    first_nested = next((number for number in range(target.begin + 1, target.end)
                         if number not in own), target.end)
    out: list[str] = []
    for number, text in enumerate(physical):
        if number == target.begin and new_zones:
            for zone in new_zones:
                zone_text = bytes(zone.to_ical()).decode()
                out.extend(zone_text.replace("\r\n", newline).rstrip(newline).split(newline))
        if number == first_nested:  # new properties go after the master's own ones
            added = sorted(changed - set(by_name))
            for name in added:
                out.extend(rendered(name))
            placed.update(added)
        if number in own:
            name = _name(text.split(newline, 1)[0])
            if name in changed:
                if name not in placed:
                    out.extend(rendered(name))
                    placed.add(name)
                continue
        out.append(text)
    return newline.join(out) + newline
