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

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

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
from syncline.connectors.dav.protocol import DAV, clark
from syncline.connectors.dav.reading import count, current_cursor, read_all, read_changes
from syncline.connectors.dav.session import DavSession, ReadCaches
from syncline.connectors.dav.settings import DavSettings, IncrementalMode, parse_settings
from syncline.connectors.dav.site import StreamSite
from syncline.connectors.dav.state import CollectionState
from syncline.connectors.dav.writing import recover_batch, write_batch
from syncline.errors import (
    ConfigError,
    ConnectorNotOpen,
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
        self.caches = ReadCaches()
        """Warm reads, known counts and pre-listings (see :mod:`.session`)."""
        self.session: DavSession | None = None
        """What :mod:`.reading` and :mod:`.writing` work on, while open (see
        :mod:`.session`)."""

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
        self.session = DavSession(self.endpoint, self.type_name, self.client, self.sites,
                                  multiget_kind=self.multiget_kind,
                                  data_property=self.data_property,
                                  batch_size=self.batch_size, item_errors=self.item_errors,
                                  caches=self.caches, run_context=lambda: self.context)

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
        """Close the HTTP client; later reads and writes raise ConnectorNotOpen until
        :meth:`open` is called again. Safe to call twice."""
        self.session = None
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
        """The HTTP client.

        Raises:
            ConnectorNotOpen: the connector is not open.
        """
        if self.client is None:
            raise ConnectorNotOpen(self.endpoint)
        return self.client

    def _opened(self, stream: str) -> tuple[DavSession, StreamSite]:
        """The session and ``stream``'s site, for a read or write.

        Raises:
            ConnectorNotOpen: the connector is not open.
            ProtocolError: the endpoint does not serve ``stream``.
        """
        if self.session is None:
            raise ConnectorNotOpen(self.endpoint)
        return self.session, self.site(stream)

    def take_item_errors(self, stream: str) -> list[ItemError]:
        """The malformed items of ``stream`` noted since the last call (each names the
        item's URL and the parse problem), handed over once: for the engine to journal
        and report in the run's messages."""
        taken: list[ItemError] = [error for error in self.item_errors
                                  if error.stream == stream]
        self.item_errors[:] = [error for error in self.item_errors if error.stream != stream]
        return taken

    # -- reading ----------------------------------------------------------------------------
    def current_cursor(self, stream: str) -> str | None:
        """Raises: ConnectorNotOpen (not open), ProtocolError, EndpointUnavailable,
        AuthenticationFailed (the server cannot be read)."""
        return current_cursor(*self._opened(stream))

    def read_changes(self, stream: str, cursor: str, scope: ReadScope) -> ChangeFeed:
        """Raises: ConnectorNotOpen (not open), ProtocolError (the cursor is no longer
        valid), EndpointUnavailable, AuthenticationFailed (the server cannot be read)."""
        session, site = self._opened(stream)
        caches = self.caches
        caches.warm_reads.pop(stream, None)
        caches.known_counts.pop(stream, None)
        caches.pre_listings.pop(stream, None)
        return read_changes(session, site, cursor, scope)

    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        """Raises: ConnectorNotOpen (not open), ProtocolError, EndpointUnavailable,
        AuthenticationFailed (the server cannot be read)."""
        session, site = self._opened(stream)
        return read_all(session, site, scope, self.caches.warm_reads.pop(stream, None))

    def read_keys(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        """Raises: ConnectorNotOpen (not open), ProtocolError, EndpointUnavailable,
        AuthenticationFailed (the server cannot be read)."""
        session, site = self._opened(stream)
        self.caches.warm_reads.pop(stream, None)
        wanted = [key for key in dict.fromkeys(keys) if key and "/" not in key]
        fetched = session.fetch(site, wanted)
        return {key: record for key, record in session.records(site, fetched, wanted)
                if record is not None}

    def count(self, stream: str) -> int | None:
        """How many items the stream holds: known from the last full read (and our writes
        since), else from a listing of the collection, which the :meth:`current_cursor` of
        the full read that usually follows then uses instead of listing again. ``None``
        when the collection is shared with another stream (events and tasks in one
        calendar) and no full read told them apart.

        Raises:
            ConnectorNotOpen: the connector is not open.
            ProtocolError, EndpointUnavailable, AuthenticationFailed: the server cannot be
                read.
        """
        return count(*self._opened(stream))

    # -- writing ----------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> list[WriteResult]:
        """Raises: ConnectorNotOpen (not open); see
        :func:`~syncline.connectors.dav.writing.write_batch`."""
        session, site = self._opened(batch.stream)
        caches = self.caches
        caches.warm_reads.clear()
        caches.pre_listings.clear()
        results = write_batch(session, site, batch)
        if batch.stream in caches.known_counts:
            change = {WriteKind.CREATE: 1, WriteKind.DELETE: -1}
            caches.known_counts[batch.stream] += sum(
                change.get(operation.kind, 0) for operation, result
                in zip(batch.operations, results, strict=True) if result.ok)
        return results

    def recover(self, batch: WriteBatch) -> list[WriteResult] | None:
        """Raises: ConnectorNotOpen (not open); see
        :func:`~syncline.connectors.dav.writing.recover_batch`."""
        return recover_batch(*self._opened(batch.stream), batch)
