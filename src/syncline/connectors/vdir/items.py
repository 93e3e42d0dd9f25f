"""Item codecs of the vdir connector: file text <-> canonical fields for one stream.

Terms:

codec
    Knows one stream's item format: :class:`VCardCodec` (``.vcf``: contact, organisation)
    and :class:`CalendarCodec` (``.ics``: event, task).
parsed item
    What :meth:`Codec.read` returns (see :mod:`syncline.formats.item_codecs`, which does
    the reading and writing for both this connector and the DAV ones).
file name
    ``<uid-safe name><fileext>``: the UID itself when it is made of safe characters only
    (the layout vdirsyncer's filesystem storage uses), else the SHA-1 of the UID.
"""

from __future__ import annotations

import hashlib
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

__all__ = ["CODECS", "CalendarCodec", "Codec", "Parsed", "VCardCodec", "safe_name", "uid_for"]

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-+@")
_NAMESPACE = uuid.UUID("6f5c4c57-8a4e-4a53-9d0e-2f7c1e4b9a10")


def safe_name(uid: str) -> str:
    """The file name (without extension) of the item with ``uid`` (see the module
    docstring)."""
    if uid and len(uid) <= 128 and not uid.startswith(".") and set(uid) <= _SAFE:
        return uid
    return hashlib.sha1(uid.encode()).hexdigest()


def uid_for(token: str) -> str:
    """A UID for a new item created by the operation with idempotency ``token``: the same
    token always gives the same UID, so a crashed create can be recognised later."""
    return uid_from_token(_NAMESPACE, token)


class Codec(ItemCodec):
    """Reads and writes the items of one stream in files."""

    streams: ClassVar[tuple[str, ...]]
    fileext: ClassVar[str]

    def create(self, fields: Mapping[str, Any], token: str) -> tuple[str, str]:
        """The UID and text of a new item holding ``fields``; the UID comes from the
        fields where the stream has one, else from the operation's ``token``.

        Raises:
            ValueError: a value cannot be written.
        """
        return self.new_item(fields, uid_for(token))


class VCardCodec(Codec, VCardItems):
    """Contacts and organisations in vCard files."""

    streams = ("contact", "organisation")
    fileext = ".vcf"


class CalendarCodec(Codec, ICalendarItems):
    """Events and tasks in iCalendar files."""

    streams = ("event", "task")
    fileext = ".ics"


CODECS: dict[str, type[Codec]] = {".vcf": VCardCodec, ".ics": CalendarCodec}
"""File extension -> codec class."""
