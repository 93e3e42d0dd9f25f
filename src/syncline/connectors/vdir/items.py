"""Item codecs of the vdir connector: file text <-> canonical fields for one stream.

Terms:

codec
    Knows one stream's item format: :class:`VCardCodec` (``.vcf``: contact, organisation)
    and :class:`CalendarCodec` (``.ics``: event, task).
parsed item
    What :meth:`Codec.read` returns: the canonical fields, the item's UID and its own
    modification time (REV, LAST-MODIFIED), or ``None`` when the item belongs to another
    stream of the same format (an organisation card in a contact folder, a VTODO among
    events).
file name
    ``<uid-safe name><fileext>``: the UID itself when it is made of safe characters only
    (the layout vdirsyncer's filesystem storage uses), else the SHA-1 of the UID.
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

__all__ = ["CODECS", "CalendarCodec", "Codec", "Parsed", "VCardCodec", "safe_name"]

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-+@")
_NAMESPACE = uuid.UUID("6f5c4c57-8a4e-4a53-9d0e-2f7c1e4b9a10")
_NAMESPACE_BYTES = _NAMESPACE.bytes


def safe_name(uid: str) -> str:
    """The file name (without extension) of the item with ``uid`` (see the module
    docstring)."""
    if uid and len(uid) <= 128 and not uid.startswith(".") and set(uid) <= _SAFE:
        return uid
    return hashlib.sha1(uid.encode()).hexdigest()


def uid_for(token: str) -> str:
    """A UID for a new item created by the operation with idempotency ``token``: the same
    token always gives the same UID, so a crashed create can be recognised later.

    It is ``str(uuid.uuid5(namespace, token))``, computed without the :class:`uuid.UUID`
    object (a first sync creates thousands)."""
    raw = bytearray(hashlib.sha1(_NAMESPACE_BYTES + token.encode()).digest()[:16])
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


class Codec(ABC):
    """Reads and writes the items of one stream."""

    streams: ClassVar[tuple[str, ...]]
    fileext: ClassVar[str]

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
    def create(self, fields: Mapping[str, Any], token: str) -> tuple[str, str]:
        """The UID and text of a new item holding ``fields``; the UID comes from the
        fields where the stream has one, else from the operation's ``token``.

        Raises:
            ValueError: a value cannot be written.
        """


class VCardCodec(Codec):
    """Contacts and organisations in vCard files (:mod:`syncline.formats.vcard`)."""

    streams = ("contact", "organisation")
    fileext = ".vcf"

    @property
    def field_names(self) -> frozenset[str]:
        return vcard.CONTACT_FIELDS if self.stream == "contact" else vcard.ORGANISATION_FIELDS

    def _mine(self, card: vcard.VCard) -> bool:
        return vcard.is_organisation(card) == (self.stream == "organisation")

    def read(self, text: str, source: str) -> Parsed | None:
        found = vcard.read_card(text, self.stream, source=source)
        return Parsed(*found) if found is not None else None

    def update(self, text: str, fields: Mapping[str, Any], source: str) -> str:
        card = vcard.parse_vcard(text, source=source)
        if not self._mine(card):
            raise MalformedRecord(f"{source}: is not a {self.stream} card")
        return vcard.update_vcard(card, self.stream, fields).to_text()

    def create(self, fields: Mapping[str, Any], token: str) -> tuple[str, str]:
        uid = uid_for(token)
        return uid, vcard.new_vcard_text(self.stream, fields, uid=uid)


class CalendarCodec(Codec):
    """Events and tasks in iCalendar files (:mod:`syncline.formats.icalendar`, imported on
    first use: it loads the icalendar library, which a folder of contacts never needs, and
    start-up time counts)."""

    streams = ("event", "task")
    fileext = ".ics"

    @property
    def field_names(self) -> frozenset[str]:
        from syncline.formats import icalendar as ical

        return ical.EVENT_FIELDS if self.stream == "event" else ical.TASK_FIELDS

    def read(self, text: str, source: str) -> Parsed | None:
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
            raise MalformedRecord(f"{source}: holds no {self.stream}")
        from syncline.formats.icalendar_splice import update_text

        return update_text(text, calendar, self.stream, fields)

    def create(self, fields: Mapping[str, Any], token: str) -> tuple[str, str]:
        from syncline.formats import icalendar as ical

        uid = str(fields.get("uid") or f"{uid_for(token)}@syncline")
        calendar = ical.new_calendar(self.stream, {**fields, "uid": uid})
        return uid, ical.calendar_text(calendar)


CODECS: dict[str, type[Codec]] = {".vcf": VCardCodec, ".ics": CalendarCodec}
"""File extension -> codec class."""
