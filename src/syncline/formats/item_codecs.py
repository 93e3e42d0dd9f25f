"""Item codecs: the text of one vCard or iCalendar item <-> the canonical fields of one
stream, shared by the connectors that keep items as text (``vdir`` files, CardDAV and
CalDAV resources).

Terms:

codec
    Knows one stream's item format: :class:`VCardItems` (contact, organisation) and
    :class:`ICalendarItems` (event = VEVENT, task = VTODO).
parsed item
    What :meth:`ItemCodec.read` returns (:class:`Parsed`): the canonical fields, the item's
    UID and its own modification time (REV, LAST-MODIFIED); ``None`` when the item belongs
    to another stream of the same format (an organisation card among contacts, a VTODO or
    a VJOURNAL among events).
token UID
    The UID a connector derives from a create's idempotency token
    (:func:`uid_from_token`): the same token always gives the same UID, so that a create
    interrupted by a crash is recognised later.

Updates change only the mapped properties of the item's text; everything else is kept.
:mod:`syncline.formats.icalendar` is imported when a calendar is first used: it loads the
``icalendar`` library, which contacts never need, and start-up time counts.
"""

from __future__ import annotations

import hashlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from syncline.errors import MalformedRecord
from syncline.formats import vcard

__all__ = ["ICalendarItems", "ItemCodec", "Parsed", "VCardItems", "uid_from_token"]


def uid_from_token(namespace: uuid.UUID, token: str) -> str:
    """The token UID (see the module docstring) of ``token`` in ``namespace``:
    ``str(uuid.uuid5(namespace, token))``, computed without a :class:`uuid.UUID` object (a
    first sync creates thousands)."""
    raw = bytearray(hashlib.sha1(namespace.bytes + token.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed item (see the module docstring)."""

    fields: dict[str, Any]
    uid: str | None
    updated_at: datetime | None


class ItemCodec(ABC):
    """Reads and writes the items of one stream."""

    def __init__(self, stream: str) -> None:
        self.stream = stream

    @property
    @abstractmethod
    def field_names(self) -> frozenset[str]:
        """The canonical fields the codec maps."""

    @property
    def display_references(self) -> dict[str, str]:
        """Reference fields the items hold as a display value of the referenced record:
        field -> that record's field (see :meth:`~syncline.connectors.base.Connector.
        display_references`). Default: none."""
        return {}

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
    def new_item(self, fields: Mapping[str, Any], token_uid: str) -> tuple[str, str]:
        """The UID and text of a new item holding ``fields``: the UID is the stream's
        ``uid`` field where it has one, else made from ``token_uid`` (see the module
        docstring).

        Raises:
            ValueError: a value cannot be written.
        """


class VCardItems(ItemCodec):
    """Contacts and organisations as vCards (:mod:`syncline.formats.vcard`)."""

    @property
    def field_names(self) -> frozenset[str]:
        return vcard.CONTACT_FIELDS if self.stream == "contact" else vcard.ORGANISATION_FIELDS

    @property
    def display_references(self) -> dict[str, str]:
        """A person's ``ORG`` holds the organisation's name, never its key."""
        return {"organisation": "name"} if self.stream == "contact" else {}

    def read(self, text: str, source: str) -> Parsed | None:
        found = vcard.read_card(text, self.stream, source=source)  # one pass
        return Parsed(*found) if found is not None else None

    def update(self, text: str, fields: Mapping[str, Any], source: str) -> str:
        card = vcard.parse_vcard(text, source=source)
        if vcard.is_organisation(card) != (self.stream == "organisation"):
            raise MalformedRecord(f"{source}: is not a {self.stream} card")
        return vcard.update_vcard(card, self.stream, fields).to_text()

    def new_item(self, fields: Mapping[str, Any], token_uid: str) -> tuple[str, str]:
        return token_uid, vcard.new_vcard_text(self.stream, fields, uid=token_uid)


class ICalendarItems(ItemCodec):
    """Events (VEVENT) and tasks (VTODO) as iCalendar objects
    (:mod:`syncline.formats.icalendar`, imported on first use)."""

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
        from syncline.formats.icalendar_splice import update_text

        calendar = ical.parse_calendar(text, source=source)
        if ical.component_kind(calendar) != self.stream:
            raise MalformedRecord(f"{source}: holds no {self.component}")
        return update_text(text, calendar, self.stream, fields)

    def new_item(self, fields: Mapping[str, Any], token_uid: str) -> tuple[str, str]:
        from syncline.formats import icalendar as ical

        uid = str(fields.get("uid") or f"{token_uid}@syncline")
        return uid, ical.calendar_text(ical.new_calendar(self.stream, {**fields, "uid": uid}))
