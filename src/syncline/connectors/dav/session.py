"""What reading and writing a DAV endpoint need, in one object: the session.

Terms:

session
    A :class:`DavSession`, built by
    :meth:`~syncline.connectors.dav.connector.DavConnector.open` once the server answered
    and each stream's collection (its **site**, :class:`~.site.StreamSite`) was found, and
    dropped by ``close()``: the endpoint's name, the HTTP client, the sites, how items are
    fetched (multiget kind, data property, batch size), the run context, the malformed items
    found, and the read caches below. :mod:`.reading` and :mod:`.writing` work on it and
    use nothing of the connector.
warm read
    What a full read's cursor fetched, kept for the read that follows (see
    :mod:`.reading`).
known count
    Items per stream, from the last full listing, kept up to date by our own writes and
    forgotten by incremental reads (others may have changed the collection).
pre-listing
    A listing a count made and its cursor, for the cursor that follows (no write in
    between), so that a full read lists the collection once.

The caches belong to the connector (they outlive a close and an open, as they did before
there was a session); the session holds them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from syncline.connectors.dav.client import DavClient
from syncline.connectors.dav.protocol import DAV, Response, clark
from syncline.connectors.dav.site import Fetched, Item, StreamSite, http_date
from syncline.errors import MalformedRecord, ProtocolError
from syncline.model import Record
from syncline.run_context import RunContext

__all__ = ["DavSession", "ReadCaches", "Warm"]

logger = logging.getLogger("syncline.connectors.dav")

_LISTING_PROPERTIES = (clark(DAV, "getetag"), clark(DAV, "resourcetype"))
_MODIFIED = clark(DAV, "getlastmodified")

Warm = tuple[dict[str, str], dict[str, Record | None]]
"""A warm read: key -> ETag listing, and key -> record (``None``: not of the stream)."""


class ReadCaches:
    """The read caches of a connector (see the module docstring), by stream."""

    __slots__ = ("known_counts", "pre_listings", "warm_reads")

    def __init__(self) -> None:
        self.warm_reads: dict[str, Warm] = {}
        self.known_counts: dict[str, int] = {}
        self.pre_listings: dict[str, tuple[dict[str, str], str]] = {}


class DavSession:
    """The session of one opened DAV endpoint (see the module docstring)."""

    __slots__ = ("batch_size", "caches", "data_property", "endpoint", "http", "item_errors",
                 "multiget_kind", "run_context", "sites", "type_name")

    def __init__(self, endpoint: str, type_name: str, http: DavClient,
                 sites: dict[str, StreamSite], *, multiget_kind: str, data_property: str,
                 batch_size: int, item_errors: list[MalformedRecord], caches: ReadCaches,
                 run_context: Callable[[], RunContext]) -> None:
        self.endpoint = endpoint
        self.type_name = type_name
        """``carddav`` or ``caldav`` (named in messages)."""
        self.http = http
        self.sites = sites
        self.multiget_kind = multiget_kind
        """``addressbook`` or ``calendar`` (names the multiget REPORT)."""
        self.data_property = data_property
        """The Clark name of the property holding an item's text in multiget answers."""
        self.batch_size = batch_size
        self.item_errors = item_errors
        """The connector's list of malformed items (see
        :attr:`~syncline.connectors.dav.connector.DavConnector.item_errors`)."""
        self.caches = caches
        self.run_context = run_context
        """The run context now (the engine sets the run's own on the connector)."""

    # -- hrefs and keys ---------------------------------------------------------------------
    @staticmethod
    def href(site: StreamSite, key: str) -> str:
        """The href (encoded path) of item ``key``."""
        return site.path + quote(key, safe="~@+!$&'()*,;=:")

    def url_of(self, site: StreamSite, key: str) -> str:
        return self.http.url(site.collection.url, self.href(site, key))

    def key_of(self, site: StreamSite, href: str) -> str | None:
        """The key of the member ``href`` of the collection; ``None`` for the collection
        itself, sub-collections and hrefs outside it."""
        path = urlsplit(self.http.url(site.collection.url, href)).path
        if not path.startswith(site.path):
            decoded = unquote(path)
            if not decoded.startswith(unquote(site.path)):
                return None
            rest = decoded[len(unquote(site.path)):]
            return rest if rest and "/" not in rest else None
        rest = path[len(site.path):]
        if not rest or "/" in rest:
            return None
        return unquote(rest)

    def source(self, site: StreamSite, key: str) -> str:
        """How messages name an item: its URL."""
        return self.url_of(site, key)

    # -- fetching and parsing -----------------------------------------------------------------
    def listing(self, site: StreamSite) -> dict[str, str]:
        """Key -> ETag of every item of the collection (PROPFIND, depth 1).

        Raises:
            ProtocolError: the answer is not a multistatus, or an item has no ETag.
        """
        found: dict[str, str] = {}
        for response in self.http.propfind(site.collection.url, _LISTING_PROPERTIES, 1):
            key = self.member(site, response)
            if key is not None:
                found[key] = self.etag(site, response)
        return found

    def member(self, site: StreamSite, response: Response) -> str | None:
        """The key of an item response (``None``: the collection or a sub-collection)."""
        if clark(DAV, "collection") in response.children(clark(DAV, "resourcetype")):
            return None
        return self.key_of(site, response.href)

    def etag(self, site: StreamSite, response: Response) -> str:
        """Raises: ProtocolError when the response has no ETag."""
        etag = response.text(clark(DAV, "getetag"))
        if etag is None:
            where = self.http.url(site.collection.url, response.href)
            raise ProtocolError(self.endpoint, f"{where}: no ETag (getetag) given")
        return etag

    def fetch(self, site: StreamSite, keys: Sequence[str], *, with_data: bool = True) \
            -> Fetched:
        """The ETags (and texts) of ``keys`` by multiget, in batches.

        Raises:
            ProtocolError: the answers are not multistatus documents, or lack ETags.
        """
        fetched = Fetched()
        data_name = self.data_property
        for start in range(0, len(keys), self.batch_size):
            chunk = list(keys[start:start + self.batch_size])
            responses = self.http.multiget(site.collection.url, self.multiget_kind,
                                           [self.href(site, key) for key in chunk],
                                           with_data=with_data)
            seen: set[str] = set()
            for response in responses:
                key = self.key_of(site, response.href)
                if key is None:
                    continue
                seen.add(key)
                if (response.status is not None and response.status >= 300) \
                        or not response.properties:
                    fetched.missing.add(key)
                    continue
                found = response.properties.get(data_name)
                text = (found.text or "") if found is not None else None
                if with_data and not text:
                    self.note(site, MalformedRecord(
                        f"{self.url_of(site, key)}: the server sent the item without its "
                        f"data", stream=site.stream, key=key))
                    continue
                fetched.items[key] = Item(self.etag(site, response), text or "",
                                          http_date(response.text(_MODIFIED)))
            fetched.missing.update(key for key in chunk if key not in seen)
        return fetched

    def parse(self, site: StreamSite, key: str, item: Item) -> Record | None:
        """The record of item ``key``; ``None`` when it belongs to another stream or is
        malformed (then noted in :attr:`item_errors` and the state's malformed keys). Its
        modification time is the item's own (REV, LAST-MODIFIED), else the server's."""
        source = self.source(site, key)
        try:
            parsed = site.codec.read(item.text, source)
        except MalformedRecord as error:
            error.stream, error.key = site.stream, key
            self.note(site, error)
            return None
        if key in site.state.malformed():
            self.mark(site, good=[key])
        if parsed is None:
            return None
        extra: dict[str, Any] = {"href": self.href(site, key)}
        if parsed.uid:
            extra["uid"] = parsed.uid
        return Record(key, parsed.fields, item.etag, parsed.updated_at or item.modified, extra)

    def note(self, site: StreamSite, error: MalformedRecord) -> None:
        """Record a malformed item (once per connector)."""
        if error.key is not None:
            self.mark(site, bad=[error.key])
        if not any(str(known) == str(error) for known in self.item_errors[-50:]):
            self.item_errors.append(error)
            logger.warning("%s: %s", self.endpoint, error)

    def mark(self, site: StreamSite, bad: Sequence[str] = (), good: Sequence[str] = ()) \
            -> None:
        """Add ``bad`` keys to the collection's malformed ones and remove ``good`` ones (a
        state folder that cannot be written only loses the memory of them)."""
        with contextlib.suppress(OSError):
            site.state.mark_malformed(bad, good)

    def records(self, site: StreamSite, fetched: Fetched, keys: Sequence[str]) \
            -> Iterator[tuple[str, Record | None]]:
        """``(key, record)`` for the fetched ``keys`` (record ``None``: another stream or
        malformed); missing keys are left out."""
        for key in keys:
            item = fetched.items.get(key)
            if item is not None:
                yield key, self.parse(site, key, item)
