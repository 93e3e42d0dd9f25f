"""DAV items <-> canonical fields, per stream, with the formats of :mod:`syncline.formats`
(which keep every property they do not map, so updates lose nothing).

Terms:

codec
    Knows one stream's item format: :class:`CardCodec` (vCard: contact, organisation) and
    :class:`CalendarCodec` (iCalendar: event = VEVENT, task = VTODO).
parsed item
    :class:`Parsed`: canonical fields, UID and the item's own modification time; ``None``
    when the item belongs to another stream of the same collection (an organisation card
    among contacts, a VTODO or VJOURNAL among events).
resource name
    The last segment of a new item's href: derived from the write operation's idempotency
    token (so recovery after a crash finds it) plus ``.vcf`` / ``.ics``.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from syncline.errors import MalformedRecord
from syncline.formats import vcard

__all__ = ["CalendarCodec", "CardCodec", "Codec", "Parsed", "resource_name", "uid_for"]

_NAMESPACE = uuid.UUID("0d7c2f3e-5a0b-4d8e-9f41-3c6b8e2a7d15")


def uid_for(token: str) -> str:
    """The UID (and resource name stem) of an item created by the operation with
    idempotency ``token``: the same token always gives the same one."""
    return str(uuid.uuid5(_NAMESPACE, token))


def resource_name(token: str, extension: str) -> str:
    """The resource name of the item created by the operation with ``token``."""
    return f"{uid_for(token)}{extension}"


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed item (see the module docstring)."""

    fields: dict[str, Any]
    uid: str | None
    updated_at: datetime | None


class Codec(ABC):
    """Reads and writes the items of one stream."""

    extension: ClassVar[str]
    content_type: ClassVar[str]

    def __init__(self, stream: str) -> None:
        self.stream = stream

    @property
    @abstractmethod
    def field_names(self) -> frozenset[str]:
        """The canonical fields the codec maps."""

    @abstractmethod
    def read(self, text: str, source: str) -> Parsed | None:
        """The parsed item, ``None`` when it belongs to another stream.

        Raises:
            MalformedRecord: naming ``source`` and the parse problem.
        """

    @abstractmethod
    def update(self, text: str, fields: Mapping[str, Any], source: str) -> str:
        """``text`` with the canonical ``fields`` written into it, all else kept.

        Raises:
            MalformedRecord: ``text`` does not parse or belongs to another stream.
            ValueError: a value cannot be written.
        """

    @abstractmethod
    def create(self, fields: Mapping[str, Any], token: str) -> str:
        """The text of a new item holding ``fields``; its UID is the stream's ``uid``
        field where it has one, else :func:`uid_for` ``token``.

        Raises:
            ValueError: a value cannot be written.
        """


class CardCodec(Codec):
    """Contacts and organisations as vCards."""

    extension = ".vcf"
    content_type = "text/vcard; charset=utf-8"

    @property
    def field_names(self) -> frozenset[str]:
        return vcard.CONTACT_FIELDS if self.stream == "contact" else vcard.ORGANISATION_FIELDS

    def _mine(self, card: vcard.VCard) -> bool:
        return vcard.is_organisation(card) == (self.stream == "organisation")

    def read(self, text: str, source: str) -> Parsed | None:
        found = vcard.read_card(text, self.stream, source=source)  # one pass, same result
        return Parsed(*found) if found is not None else None

    def update(self, text: str, fields: Mapping[str, Any], source: str) -> str:
        card = vcard.parse_vcard(text, source=source)
        if not self._mine(card):
            raise MalformedRecord(f"{source}: is not a {self.stream} card")
        return vcard.update_vcard(card, self.stream, fields).to_text()

    def create(self, fields: Mapping[str, Any], token: str) -> str:
        return vcard.new_vcard_text(self.stream, fields, uid=uid_for(token))  # same text


class CalendarCodec(Codec):
    """Events (VEVENT) and tasks (VTODO) as iCalendar objects. :mod:`syncline.formats.icalendar`
    is imported when a calendar is first used: the ``icalendar`` library it needs would cost
    every address book's sync a fifth of its start-up."""

    extension = ".ics"
    content_type = "text/calendar; charset=utf-8"
    components: ClassVar[dict[str, str]] = {"event": "VEVENT", "task": "VTODO"}

    @property
    def field_names(self) -> frozenset[str]:
        from syncline.formats import icalendar as ical

        return ical.EVENT_FIELDS if self.stream == "event" else ical.TASK_FIELDS

    @property
    def component(self) -> str:
        """The iCalendar component of the stream (``VEVENT``, ``VTODO``)."""
        return self.components[self.stream]

    def read(self, text: str, source: str) -> Parsed | None:
        upper = text.upper()
        if "BEGIN:VEVENT" not in upper and "BEGIN:VTODO" not in upper \
                and "BEGIN:VCALENDAR" in upper:
            return None  # a journal entry, free/busy data...: no stream of ours
        from syncline.formats import icalendar as ical

        calendar = ical.parse_calendar(text, source=source)
        if ical.component_kind(calendar) != self.stream:
            return None
        return Parsed(ical.calendar_fields(calendar, self.stream), ical.calendar_uid(calendar),
                      ical.last_modified(calendar))

    def update(self, text: str, fields: Mapping[str, Any], source: str) -> str:
        from syncline.formats import icalendar as ical

        calendar = ical.parse_calendar(text, source=source)
        if ical.component_kind(calendar) != self.stream:
            raise MalformedRecord(f"{source}: holds no {self.component}")
        from syncline.formats.icalendar_splice import update_text

        return update_text(text, calendar, self.stream, fields)

    def create(self, fields: Mapping[str, Any], token: str) -> str:
        uid = str(fields.get("uid") or f"{uid_for(token)}@syncline")
        from syncline.formats import icalendar as ical

        return ical.calendar_text(ical.new_calendar(self.stream, {**fields, "uid": uid}))
