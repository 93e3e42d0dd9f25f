"""What the DAV connector knows of one stream's collection and of the items it fetched.

Terms: a stream's **site** (:class:`StreamSite`) is where the stream lives on the server
(its collection, codec, reading mode and the state kept for it); an **item** (:class:`Item`)
is one fetched resource (ETag, text, modification time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from syncline.connectors.dav.discovery import Collection
from syncline.connectors.dav.items import Codec
from syncline.connectors.dav.state import CollectionState

__all__ = ["Fetched", "Item", "StreamSite", "http_date"]


def http_date(text: str | None) -> datetime | None:
    """An HTTP date (RFC 9110, as getlastmodified holds it) as an aware datetime; ``None``
    when absent or unreadable."""
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Item:
    """One fetched item: its ETag, text (``""`` when only the ETag was asked for) and the
    server's modification time (DAV:getlastmodified) when the server gives it in multiget
    answers (Radicale does not)."""

    etag: str
    text: str
    modified: datetime | None = None


@dataclass(slots=True)
class Fetched:
    """Items fetched by multiget, by key; ``missing`` keys are gone."""

    items: dict[str, Item] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)


@dataclass(slots=True)
class StreamSite:
    """Where one stream lives: its collection, codec, reading mode and state files."""

    stream: str
    collection: Collection
    codec: Codec
    path: str
    """The collection's URL path, encoded, ending with ``/``."""
    sync_collection: bool
    state: CollectionState
