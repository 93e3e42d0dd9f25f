"""DAV items <-> canonical fields, per stream: the item codecs of
:mod:`syncline.formats.item_codecs` (which keep every property they do not map, so updates
lose nothing), with what a DAV collection adds.

Terms:

codec
    Knows one stream's item format: :class:`CardCodec` (vCard: contact, organisation) and
    :class:`CalendarCodec` (iCalendar: event = VEVENT, task = VTODO); each also knows the
    item's file extension and content type.
resource name
    The last segment of a new item's href: derived from the write operation's idempotency
    token (so recovery after a crash finds it) plus ``.vcf`` / ``.ics``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from syncline.formats.item_codecs import (
    ICalendarItems,
    ItemCodec,
    Parsed,
    VCardItems,
    uid_from_token,
)

__all__ = ["CalendarCodec", "CardCodec", "Codec", "Parsed", "resource_name", "uid_for"]

_NAMESPACE = uuid.UUID("0d7c2f3e-5a0b-4d8e-9f41-3c6b8e2a7d15")


def uid_for(token: str) -> str:
    """The UID (and resource name stem) of an item created by the operation with
    idempotency ``token``: the same token always gives the same one."""
    return uid_from_token(_NAMESPACE, token)


def resource_name(token: str, extension: str) -> str:
    """The resource name of the item created by the operation with ``token``."""
    return f"{uid_for(token)}{extension}"


class Codec(ItemCodec):
    """Reads and writes the items of one stream in a DAV collection."""

    extension: ClassVar[str]
    content_type: ClassVar[str]

    def create(self, fields: Mapping[str, Any], token: str) -> str:
        """The text of a new item holding ``fields``; its UID is the stream's ``uid``
        field where it has one, else :func:`uid_for` ``token``.

        Raises:
            ValueError: a value cannot be written.
        """
        return self.new_item(fields, uid_for(token))[1]


class CardCodec(Codec, VCardItems):
    """Contacts and organisations as vCards."""

    extension = ".vcf"
    content_type = "text/vcard; charset=utf-8"


class CalendarCodec(Codec, ICalendarItems):
    """Events (VEVENT) and tasks (VTODO) as iCalendar objects."""

    extension = ".ics"
    content_type = "text/calendar; charset=utf-8"
