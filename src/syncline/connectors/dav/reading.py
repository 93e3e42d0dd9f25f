"""Reading a DAV collection: cursors, changes since a cursor, full reads.

Terms:

cursor
    ``sync:<sync-token>`` (RFC 6578) or ``ctag:<snapshot>``: the name of a snapshot of the
    collection's ETag listing and ctag kept in the state folder
    (:class:`~syncline.connectors.dav.state.CollectionState`).
warm read
    What :func:`current_cursor` fetched (it fetches every item to find malformed ones before
    a full read, see :mod:`syncline.connectors.dav.connector`), handed to the
    :func:`read_all` that follows so that each item is fetched once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from syncline.connectors.base import Change, ChangeFeed, ReadScope
from syncline.connectors.dav.client import SyncTokenInvalid
from syncline.connectors.dav.protocol import CALENDARSERVER, DAV, clark
from syncline.connectors.dav.session import Warm
from syncline.errors import EndpointUnavailable, ProtocolError
from syncline.model import Record

if TYPE_CHECKING:
    from syncline.connectors.dav.session import DavSession
    from syncline.connectors.dav.site import StreamSite

__all__ = ["count", "current_cursor", "read_all", "read_changes"]

logger = logging.getLogger("syncline.connectors.dav")

_SYNC = "sync:"
_CTAG = "ctag:"
_ETAG = clark(DAV, "getetag")


def _sync_listing(session: DavSession, site: StreamSite, token: str | None) \
        -> tuple[dict[str, str], set[str], str]:
    """Changed keys -> ETag, removed keys and the new token since ``token`` (``None``:
    every member), following truncated answers (RFC 6578 §3.6: a 507 for the collection
    itself means "ask again from the token given").

    Raises:
        SyncTokenInvalid: the server refuses ``token``.
    """
    changed: dict[str, str] = {}
    removed: set[str] = set()
    for _ in range(1_000):  # a thousand truncated answers in a row: something is wrong
        responses, token_after = session.http.sync_collection(
            site.collection.url, token, [_ETAG, clark(DAV, "resourcetype")])
        truncated = False
        for response in responses:
            key = session.key_of(site, response.href)
            if key is None:
                truncated = truncated or response.status == 507
                continue
            if response.status == 404:
                removed.add(key)
                changed.pop(key, None)
            elif session.member(site, response) is not None:
                changed[key] = session.etag(site, response)
                removed.discard(key)
        token = token_after
        if not truncated:
            return changed, removed, token_after
    raise ProtocolError(session.endpoint, f"{site.collection.url}: sync-collection kept "
                        "answering truncated results")


def _ctag(session: DavSession, site: StreamSite) -> str | None:
    for response in session.http.propfind(site.collection.url,
                                            [clark(CALENDARSERVER, "getctag")], 0):
        return response.text(clark(CALENDARSERVER, "getctag"))
    return None


def _save_snapshot(session: DavSession, site: StreamSite, ctag: str | None,
                   listing: dict[str, str]) -> str:
    try:
        return site.state.save_snapshot(ctag, listing)
    except OSError as error:
        raise EndpointUnavailable(session.endpoint,
                                  f"state folder {site.state.path}: {error}") from None


def _fetch_everything(session: DavSession, site: StreamSite, listing: dict[str, str]) -> Warm:
    records: dict[str, Record | None] = {}
    keys = sorted(listing)
    fetched = session.fetch(site, keys)
    for key, record in session.records(site, fetched, keys):
        records[key] = record
    return listing, records


def current_cursor(session: DavSession, site: StreamSite) -> str:
    """A cursor for "now" (see the module docstring); every item is fetched and parsed
    (malformed ones noted) and kept for the full read that follows.

    Raises:
        ProtocolError, EndpointUnavailable, AuthenticationFailed: the server cannot be read.
    """
    listed = session.caches.pre_listings.pop(site.stream, None)
    listing, cursor = listed if listed is not None else _list(session, site)
    _forget_vanished(session, site, listing)
    warm = session.caches.warm_reads[site.stream] = _fetch_everything(session, site, listing)
    session.caches.known_counts[site.stream] = sum(1 for record in warm[1].values()
                                              if record is not None)
    return cursor


def _list(session: DavSession, site: StreamSite) -> tuple[dict[str, str], str]:
    """Every item's key -> ETag, and a cursor for "now" (one request, or two for ctag)."""
    if site.sync_collection:
        listing, _, token = _sync_listing(session, site, None)
        return listing, _SYNC + token
    ctag = _ctag(session, site)
    listing = session.listing(site)
    return listing, _CTAG + _save_snapshot(session, site, ctag, listing)


def count(session: DavSession, site: StreamSite) -> int | None:
    """How many items of ``site``'s stream there are (see
    :meth:`~syncline.connectors.dav.connector.DavConnector.count`).

    Raises:
        ProtocolError, EndpointUnavailable, AuthenticationFailed: the server cannot be read.
    """
    known = session.caches.known_counts.get(site.stream)
    if known is not None:
        return known
    if any(other.collection.url == site.collection.url
           for other in session.sites.values() if other.stream != site.stream):
        return None
    found = session.caches.pre_listings[site.stream] = _list(session, site)
    session.caches.known_counts[site.stream] = len(found[0])
    return len(found[0])


def _forget_vanished(session: DavSession, site: StreamSite,
                     listing: dict[str, str]) -> None:
    """Malformed keys no longer in a complete ``listing`` are malformed no more."""
    vanished = site.state.malformed() - set(listing)
    if vanished:
        session.mark(site, good=sorted(vanished))


def _in_dates(record: Record, scope: ReadScope) -> bool:
    """Whether ``record`` was modified within ``scope``'s dates (a record that does not say
    when it was modified is always in)."""
    moment = record.updated_at
    if moment is None:
        return True
    if scope.since is not None and _before(moment, scope.since):
        return False
    return not (scope.until is not None and _before(scope.until, moment))


def _before(first: datetime, second: datetime) -> bool:
    if (first.tzinfo is None) != (second.tzinfo is None):
        first, second = first.replace(tzinfo=None), second.replace(tzinfo=None)
    return first < second


def read_all(session: DavSession, site: StreamSite, scope: ReadScope,
             warm: Warm | None) -> Iterator[list[Record]]:
    """Every record of the stream within ``scope``, in pages of at most the multiget batch
    size, in key order; from ``warm`` when given.

    Raises:
        ProtocolError, EndpointUnavailable, AuthenticationFailed: the server cannot be read.
    """
    listing = warm[0] if warm is not None else session.listing(site)
    _forget_vanished(session, site, listing)
    keys = sorted(key for key in listing if scope.covers_key(key))
    for start in range(0, len(keys), session.batch_size):
        chunk = keys[start:start + session.batch_size]
        if warm is not None:
            found = [warm[1].get(key) for key in chunk]
        else:
            fetched = session.fetch(site, chunk)
            found = [record for _, record in session.records(site, fetched, chunk)]
        page = [record for record in found if record is not None and _in_dates(record, scope)]
        if page:
            yield page


def _changes_since(session: DavSession, site: StreamSite, cursor: str) \
        -> tuple[dict[str, str], set[str], str]:
    """Changed keys -> ETag, removed keys and the cursor after them.

    Raises:
        ProtocolError: the cursor is not one of ours or no longer valid.
    """
    if cursor.startswith(_SYNC):
        try:
            return _prefixed(_sync_listing(session, site, cursor[len(_SYNC):]), _SYNC)
        except SyncTokenInvalid as error:
            message = (f"the sync-token of {site.collection.url} is no longer valid ({error});"
                       f" the collection must be read in full")
            logger.warning("%s: %s", session.endpoint, message)
            raise ProtocolError(session.endpoint, message) from None
    if cursor.startswith(_CTAG):
        snapshot = site.state.snapshot(cursor[len(_CTAG):])
        if snapshot is None:
            message = (f"the listing of {site.collection.url} kept for this cursor is gone "
                       f"({site.state.path}); the collection must be read in full")
            logger.warning("%s: %s", session.endpoint, message)
            raise ProtocolError(session.endpoint, message)
        old_ctag, old = snapshot
        ctag = _ctag(session, site)
        if ctag is not None and ctag == old_ctag:
            return {}, set(), cursor
        listing = session.listing(site)
        changed = {key: etag for key, etag in listing.items() if old.get(key) != etag}
        removed = set(old) - set(listing)
        return changed, removed, _CTAG + _save_snapshot(session, site, ctag, listing)
    raise ProtocolError(session.endpoint, f"'{cursor[:40]}' is not a cursor of a "
                        f"{session.type_name} endpoint; the collection must be read in full")


def _prefixed(found: tuple[dict[str, str], set[str], str], prefix: str) \
        -> tuple[dict[str, str], set[str], str]:
    return found[0], found[1], prefix + found[2]


def _without_own_writes(site: StreamSite, changed: dict[str, str], removed: set[str]) \
        -> tuple[dict[str, str], set[str]]:
    """The changes less our own writes coming back (see
    :class:`~syncline.connectors.dav.state.CollectionState`)."""
    own = site.state.own_writes()
    if not own:
        return changed, removed
    theirs = {key: etag for key, etag in changed.items() if own.get(key, "-") != etag}
    gone = {key for key in removed if not (key in own and own[key] is None)}
    stale = [key for key in (*theirs, *gone) if key in own]
    if stale:
        with contextlib.suppress(OSError):
            site.state.forget(stale)
    return theirs, gone


def read_changes(session: DavSession, site: StreamSite, cursor: str,
                 scope: ReadScope) -> ChangeFeed:
    """Changes since ``cursor``: the REPORT (or listing) is sent now, the bodies are fetched
    by multiget while the pages are consumed; known malformed items are fetched again.

    Raises:
        ProtocolError: the cursor is no longer valid (the engine then reads in full).
        EndpointUnavailable, AuthenticationFailed: the server cannot be read.
    """
    changed, removed, after = _changes_since(session, site, cursor)
    changed, removed = _without_own_writes(site, changed, removed)
    malformed = site.state.malformed()
    wanted = sorted(key for key in set(changed) | (malformed - removed)
                    if scope.covers_key(key))
    gone = sorted(key for key in removed if scope.covers_key(key))
    feed = ChangeFeed(iter(()))
    feed.pages = _pages(session, site, wanted, gone, scope, after, feed)
    return feed


def _pages(session: DavSession, site: StreamSite, wanted: Sequence[str],
           gone: Sequence[str], scope: ReadScope, after: str, feed: ChangeFeed) \
        -> Iterator[list[Change]]:
    malformed = site.state.malformed()
    for start in range(0, len(wanted), session.batch_size):
        chunk = wanted[start:start + session.batch_size]
        fetched = session.fetch(site, chunk)
        page = [Change(key, record) for key, record in session.records(site, fetched, chunk)
                if record is not None and _in_dates(record, scope)]
        page.extend(Change(key, None) for key in chunk if key in fetched.missing)
        if malformed & fetched.missing:
            session.mark(site, good=list(fetched.missing))
        if page:
            yield page
    if gone:
        if malformed & set(gone):
            session.mark(site, good=gone)
        yield [Change(key, None) for key in gone]
    feed.cursor_holder[0] = after
