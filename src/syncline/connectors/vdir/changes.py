"""The ``vdir`` connector's incremental read: what changed in the folder since a snapshot.

A read lists the folder (``stat`` only) and parses only the files whose version differs from
the snapshot the cursor names (or whose bytes differ from the digest kept for files written
in the snapshot's clock tick); the keys the snapshot has and the folder no longer has are
deletions. A malformed file is neither a change nor a deletion: it is noted (see
:class:`~syncline.connectors.vdir.connector.VdirConnector`) and marked in the new snapshot,
so every later read reads it again until it is fixed. When nothing changed, the snapshot
stays the cursor. It works on the folder context
(:class:`~syncline.connectors.vdir.folder.VdirFolder`), never on the connector.
"""

from __future__ import annotations

from syncline.connectors.base import Change, ChangeFeed, ReadScope
from syncline.connectors.vdir.folder import VdirFolder, in_dates
from syncline.connectors.vdir.state import (
    MALFORMED,
    MARGIN_NS,
    Entry,
    Snapshot,
    digest,
    now_ns,
)
from syncline.errors import EndpointUnavailable, ProtocolError

__all__ = ["CURSOR_PREFIX", "read_changes"]

CURSOR_PREFIX = "snap:"
"""A vdir cursor is this prefix and the token of a snapshot."""


def read_changes(files: VdirFolder, cursor: str, scope: ReadScope) -> ChangeFeed:
    """The items of the folder created, changed or deleted since the snapshot
    ``cursor`` names (see the module docstring), in pages ordered by key; the feed's cursor
    names the new snapshot.

    Raises:
        ProtocolError: the cursor's snapshot is gone (read everything instead).
        EndpointUnavailable: the folder or the state folder cannot be used.
    """
    token = cursor.removeprefix(CURSOR_PREFIX)
    before = files.state.find(token) if cursor.startswith(CURSOR_PREFIX) else None
    if before is None:
        raise ProtocolError(files.endpoint, f"the folder snapshot of cursor {cursor!r} "
                                            f"is no longer kept; a full read is needed")
    taken = now_ns()
    listing = files.listing()
    changed: dict[str, tuple[bytes, Entry]] = {}
    read: dict[str, bytes] = {}  # recent files read here: the new snapshot reads none again
    recent = taken - MARGIN_NS
    versions, digests = before.entries, before.digests
    for key, entry in listing.items():
        version = versions.get(key)
        known_digest = digests.get(key)
        if known_digest is None and version == f"{entry[0]}:{entry[1]}":
            continue
        loaded = files.load_file(key)
        if loaded is None:
            continue  # deleted meanwhile: reported as deleted below
        if entry.mtime_ns >= recent:  # the new snapshot keeps its digest
            read[key] = loaded[0]
        if version == loaded[1].version and known_digest == digest(loaded[0]):
            continue
        changed[key] = loaded
    gone = [key for key in before.entries if key not in listing]
    files.malformed_keys().difference_update(gone)
    changes: dict[str, Change] = {key: Change(key, None) for key in gone
                                  if scope.covers_key(key)}
    malformed: list[str] = []
    for key, (data, entry) in changed.items():
        if not scope.covers_key(key) or not in_dates(entry, scope):
            continue
        record, bad = files.parse(key, data, entry)
        if bad:
            malformed.append(key)  # left out: neither a change nor a deletion
        else:
            changes[key] = Change(key, record)  # None: an item of another stream
    if not changed and not gone and not before.digests:
        snapshot = before  # nothing to remember that it does not hold: it stays the cursor
    else:
        snapshot = Snapshot.of(listing, taken, files.folder, files.fileext, read)
        for key in malformed:
            snapshot.entries[key], snapshot.digests[key] = MALFORMED, ""
        try:
            files.state.save(snapshot)
        except OSError as error:
            raise EndpointUnavailable(files.endpoint, f"{files.state.path}: {error}") from None
    ordered = [changes[key] for key in sorted(changes)]
    size = files.page_size
    feed = ChangeFeed(iter([ordered[i:i + size] for i in range(0, len(ordered), size)]))
    feed.cursor_holder[0] = f"{CURSOR_PREFIX}{snapshot.token}"
    return feed
