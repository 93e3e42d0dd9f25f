"""The ``carddav`` and ``caldav`` connectors: address books and calendars on a WebDAV
server (Radicale, Nextcloud, iCloud, Fastmail, SOGo, Baïkal...).

- :class:`CardDavConnector`: streams ``contact`` and ``organisation`` (vCard ``KIND:org``)
  from one address book;
- :class:`CalDavConnector`: streams ``event`` (VEVENT) and ``task`` (VTODO) from one calendar
  (or one per stream).

Settings are described in :mod:`syncline.connectors.dav.settings`. A record's key is the
item's resource name in its collection (the last segment of its href, decoded); its version
is the item's ETag.

Reading. Full reads list the collection (PROPFIND, ETags only) and fetch the items with
``addressbook-multiget`` / ``calendar-multiget`` in batches, never one GET per item.
Incremental reads (:mod:`syncline.connectors.dav.reading`) use RFC 6578 ``sync-collection``
with the sync-token as cursor, or, where the collection does not offer it, the getctag and an
ETag listing compared with the one kept at the cursor. A token the server no longer accepts
(Radicale: 403 ``DAV:valid-sync-token``) raises :class:`~syncline.errors.ProtocolError`
from :meth:`read_changes`, and the engine reads that stream in full instead and notes so in
the run's messages. The connector's own writes do not come back as changes.

Writing (:mod:`syncline.connectors.dav.writing`). Creates PUT a new resource named after
the operation's idempotency token with ``If-None-Match: *``; updates fetch the item, change
only the mapped properties (everything else, X- properties, photos, alarms, recurrence
exceptions, is written back as it was) and PUT it with ``If-Match: <etag>``; deletes send
``If-Match`` too. A 412 becomes :class:`~syncline.errors.VersionConflict`: the engine reads
the item again and applies the link's conflict policy.

Malformed items. An item that cannot be parsed is a per-item problem: it is left out of the
page, appended to :attr:`DavConnector.item_errors` (a
:class:`~syncline.errors.MalformedRecord` naming its href and the parse problem, also
logged as a warning; :meth:`DavConnector.take_item_errors` hands them over once, for the
engine to journal), neither a change nor a deletion, and fetched and reported again by every
incremental read until it is fixed. As with ``vdir``, while a collection holds malformed
items :meth:`streams` withdraws DETECT_DELETES and :meth:`in_key_range` puts them in no key
range, so the engine never takes
one for a deleted record; :meth:`current_cursor` (which the engine calls before a full read)
fetches every item for that reason, and the full read that follows uses what it fetched.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

from syncline.connectors.base import (
    Capability,
    ChangeFeed,
    Connector,
    ReadScope,
    WriteBatch,
    WriteKind,
    WriteResult,
)
from syncline.connectors.dav.client import DavClient, NotMultistatus
from syncline.connectors.dav.discovery import Collection, describe, discover
from syncline.connectors.dav.items import Codec
from syncline.connectors.dav.protocol import DAV, Response, clark
from syncline.connectors.dav.settings import DavSettings, IncrementalMode, parse_settings
from syncline.connectors.dav.site import Fetched, Item, StreamSite, http_date
from syncline.connectors.dav.state import CollectionState
from syncline.errors import (
    ConfigError,
    EndpointUnavailable,
    ItemError,
    MalformedRecord,
    ProtocolError,
)
from syncline.model import Record

__all__ = ["DavConnector"]

logger = logging.getLogger("syncline.connectors.dav")

_LISTING_PROPERTIES = (clark(DAV, "getetag"), clark(DAV, "resourcetype"))
_MODIFIED = clark(DAV, "getlastmodified")


class DavConnector(Connector):
    """What CardDAV and CalDAV share (see the module docstring)."""

    service: ClassVar[str]
    """``carddav`` or ``caldav``."""
    multiget_kind: ClassVar[str]
    """``addressbook`` or ``calendar`` (names the multiget REPORT)."""
    data_property: ClassVar[str]
    """The Clark name of the property holding an item's text in multiget answers."""
    codec_class: ClassVar[type[Codec]]
    stream_names: ClassVar[tuple[str, ...]]
    default_streams: ClassVar[tuple[str, ...]]

    def __init__(self, endpoint: str, settings: Mapping[str, Any], base_dir: Path) -> None:
        super().__init__(endpoint, settings, base_dir)
        self.options: DavSettings = parse_settings(endpoint, settings, self.stream_names)
        self.batch_size = self.options.multiget_batch_size
        self.client: DavClient | None = None
        self.sites: dict[str, StreamSite] = {}
        self.item_errors: list[MalformedRecord] = []
        """Items that could not be parsed, since the connector was opened (see the module
        docstring): the base interface has no place for them in a page yet."""
        self.warm_reads: dict[str, tuple[dict[str, str], dict[str, Record | None]]] = {}
        self.known_counts: dict[str, int] = {}
        """Items per stream, from the last full listing, kept up to date by our own writes
        and forgotten by incremental reads (others may have changed the collection)."""
        self.pre_listings: dict[str, tuple[dict[str, str], str]] = {}
        """A listing :meth:`count` made and its cursor, for the :meth:`current_cursor` that
        follows (no write in between), so that a full read lists the collection once."""

    # -- settings and description ------------------------------------------------------------
    @classmethod
    def validate_settings(cls, endpoint: str, settings: Mapping[str, Any]) -> None:
        """Raises: ConfigError naming the offending key (see :mod:`.settings`)."""
        parse_settings(endpoint, settings, cls.stream_names)

    @classmethod
    def capability_matrix(cls) -> dict[str, Capability]:
        return dict.fromkeys(cls.stream_names, Capability.all())

    def component(self, stream: str) -> str | None:
        """The calendar component a stream needs from its collection (``None``: any)."""
        return None

    def open(self) -> None:
        """Connect, find each stream's collection (discovering it from a principal or server
        root where ``url`` is not one) and prepare the state folders.

        Raises:
            ConfigError: the password's environment variable is missing, or ``url`` leads to
                no collection or to several.
            AuthenticationFailed: the server refused the credentials.
            EndpointUnavailable: the server cannot be reached, or the state folder cannot be
                written.
            ProtocolError: the server does not answer like a DAV server.
        """
        options = self.options
        self.client = DavClient(self.endpoint, username=options.username,
                                password=options.resolved_password(self.endpoint),
                                verify_tls=options.verify_tls,
                                ca_file=options.ca_path(self.base_dir), timeout=options.timeout,
                                context=lambda: self.context,
                                retries=options.retry_policy(self.endpoint))
        try:
            self._find_sites()
        except BaseException:
            self.close()  # the caller never gets an opened connector to close
            raise

    def _find_sites(self) -> None:
        """Find each stream's collection and prepare its state (see :meth:`open`)."""
        options = self.options
        wanted = options.stream_options(self.default_streams)
        found: dict[str, Collection] = {}
        for stream, stream_options in wanted.items():
            url = stream_options.url or options.url
            component = self.component(stream)
            collection = self._collection(url, component)
            if component is not None and not collection.takes(component):
                if options.streams is None:
                    continue  # a default stream the calendar does not hold: left out
                raise ConfigError(f"the calendar {collection.url} holds no {component} "
                                  f"(it takes {', '.join(collection.components)})",
                                  key=f"endpoints.{self.endpoint}.streams")
            found[stream] = collection
        if not found:
            raise ConfigError(f"the collection {options.url} holds none of the streams "
                              f"{', '.join(wanted)}", key=f"endpoints.{self.endpoint}.url")
        states: dict[str, CollectionState] = {}  # streams sharing a collection share these
        for stream, collection in found.items():
            self.sites[stream] = self._site(stream, collection, states)

    def _collection(self, url: str, component: str | None) -> Collection:
        """The collection ``url`` names, or the one discovered from it (a URL that does not
        exist is an error, except the server root: discovery goes on with the well-known
        URL there).

        Raises:
            ProtocolError: ``url`` answers garbage, or nothing can be discovered from it (the
                first problem is the one reported).
            ConfigError: ``url`` does not exist, or discovery finds none or several.
        """
        try:
            found = describe(self.http, url, self.service)
            first_problem: ProtocolError | None = None
        except ProtocolError as problem:
            found, first_problem = None, problem
        if found is not None:
            return found
        if isinstance(first_problem, NotMultistatus) and first_problem.status == 404 \
                and urlsplit(url).path not in ("", "/"):
            raise ConfigError(f"{url} does not exist on the server (404); the address books "
                              f"and calendars there are listed by: syncline discover "
                              f"{self.endpoint}", key=f"endpoints.{self.endpoint}.url")
        try:
            return discover(self.http, url, self.service, component)
        except ProtocolError:
            if first_problem is not None:
                raise first_problem from None
            raise

    def _site(self, stream: str, collection: Collection,
              states: dict[str, CollectionState]) -> StreamSite:
        mode = self.options.incremental
        uses_sync = mode is IncrementalMode.SYNC_COLLECTION or (
            mode is IncrementalMode.AUTO and collection.sync_collection)
        if self.options.state_dir is not None:
            root = Path(self.options.state_dir).expanduser()
            root = root if root.is_absolute() else self.base_dir / root
        else:
            root = self.base_dir / ".syncline" / "dav"
        state = states.get(collection.url)
        if state is None:
            tag = hashlib.sha1(collection.url.encode()).hexdigest()[:10]
            state = states[collection.url] = CollectionState(root / f"{self.endpoint}-{tag}")
            try:
                state.ensure()
            except OSError as error:
                raise EndpointUnavailable(self.endpoint, f"state folder {state.path}: "
                                          f"{error}") from None
        path = urlsplit(collection.url).path
        return StreamSite(stream, collection, self.codec_class(stream),
                          path if path.endswith("/") else f"{path}/", uses_sync, state)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def streams(self) -> dict[str, Capability]:
        """All capabilities; but no DETECT_DELETES while the stream's collection holds
        malformed items (see the module docstring)."""
        return {stream: Capability.all() & ~Capability.DETECT_DELETES
                if site.state.malformed() else Capability.all()
                for stream, site in self.sites.items()}

    def field_names(self, stream: str) -> frozenset[str]:
        """The canonical fields of ``stream`` (known from the settings, before opening).

        Raises:
            ProtocolError: the endpoint does not serve ``stream``.
        """
        if stream in self.sites:
            return self.sites[stream].codec.field_names
        if stream in self.options.stream_options(self.default_streams):
            return self.codec_class(stream).field_names
        return self.site(stream).codec.field_names

    def display_references(self, stream: str) -> dict[str, str]:
        """See :meth:`~syncline.formats.item_codecs.ItemCodec.display_references`."""
        if stream in self.sites:
            return self.sites[stream].codec.display_references
        return self.codec_class(stream).display_references

    def in_key_range(self, stream: str, key: str, scope: ReadScope) -> bool:
        """Text order, except that malformed items are in no range (see the module
        docstring)."""
        return scope.covers_key(key) and key not in self.site(stream).state.malformed()

    def site(self, stream: str) -> StreamSite:
        """Raises: ProtocolError when the endpoint does not serve ``stream``."""
        found = self.sites.get(stream)
        if found is None:
            raise ProtocolError(self.endpoint, f"this endpoint serves "
                                f"{', '.join(self.sites) or 'nothing yet (not opened)'}, "
                                f"not {stream}")
        return found

    @property
    def http(self) -> DavClient:
        if self.client is None:
            raise EndpointUnavailable(self.endpoint, "the connector is not open")
        return self.client

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

    def take_item_errors(self, stream: str) -> list[ItemError]:
        """The malformed items of ``stream`` noted since the last call (each names the
        item's URL and the parse problem), handed over once: for the engine to journal
        and report in the run's messages."""
        taken: list[ItemError] = [error for error in self.item_errors
                                  if error.stream == stream]
        self.item_errors[:] = [error for error in self.item_errors if error.stream != stream]
        return taken

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

    # -- reading ----------------------------------------------------------------------------
    def current_cursor(self, stream: str) -> str | None:
        from syncline.connectors.dav.reading import current_cursor

        return current_cursor(self, self.site(stream))

    def read_changes(self, stream: str, cursor: str, scope: ReadScope) -> ChangeFeed:
        from syncline.connectors.dav.reading import read_changes

        self.warm_reads.pop(stream, None)
        self.known_counts.pop(stream, None)
        self.pre_listings.pop(stream, None)
        return read_changes(self, self.site(stream), cursor, scope)

    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        from syncline.connectors.dav.reading import read_all

        return read_all(self, self.site(stream), scope, self.warm_reads.pop(stream, None))

    def read_keys(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        site = self.site(stream)
        self.warm_reads.pop(stream, None)
        wanted = [key for key in dict.fromkeys(keys) if key and "/" not in key]
        fetched = self.fetch(site, wanted)
        return {key: record for key, record in self.records(site, fetched, wanted)
                if record is not None}

    def count(self, stream: str) -> int | None:
        """How many items the stream holds: known from the last full read (and our writes
        since), else from a listing of the collection, which the :meth:`current_cursor` of
        the full read that usually follows then uses instead of listing again. ``None``
        when the collection is shared with another stream (events and tasks in one
        calendar) and no full read told them apart.

        Raises:
            ProtocolError, EndpointUnavailable, AuthenticationFailed: the server cannot be
                read.
        """
        from syncline.connectors.dav.reading import count

        return count(self, self.site(stream))

    # -- writing ----------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> list[WriteResult]:
        from syncline.connectors.dav.writing import write_batch

        self.warm_reads.clear()
        self.pre_listings.clear()
        results = write_batch(self, self.site(batch.stream), batch)
        if batch.stream in self.known_counts:
            change = {WriteKind.CREATE: 1, WriteKind.DELETE: -1}
            self.known_counts[batch.stream] += sum(
                change.get(operation.kind, 0) for operation, result
                in zip(batch.operations, results, strict=True) if result.ok)
        return results

    def recover(self, batch: WriteBatch) -> list[WriteResult] | None:
        from syncline.connectors.dav.writing import recover_batch

        return recover_batch(self, self.site(batch.stream), batch)
