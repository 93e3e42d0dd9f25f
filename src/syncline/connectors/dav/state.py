"""What a DAV connector keeps on local disk about one collection, between runs.

Terms:

own writes
    Key -> ETag (``None`` for a delete) of the items this connector wrote. A change the
    server reports with exactly that ETag (or a removal of a key we deleted) is our own
    write coming back, and is left out of the changes. Kept in the file ``own-writes``,
    one ``key<TAB>etag`` line per write: each batch *appends* its lines (a later line for
    a key takes the place of the earlier one; ``key<TAB><TAB>-`` forgets a key), so
    remembering a batch costs what the batch wrote, not what the collection holds. The
    file is written whole again (compacted) only when it holds twice as many lines as
    entries (and more than :data:`_COMPACT_AT`). The newest :data:`_OWN_WRITES_KEPT`
    writes are kept; a last line cut short by a crash is left out (that write then comes
    back once as a change).
malformed keys
    Items found unparseable. Every incremental read fetches them again (and reports them
    again, or as changes once fixed); while there are any, full reads do not detect
    deletions (see :mod:`syncline.connectors.dav.connector`).
snapshot
    For ``ctag`` incremental reading: the collection's ctag and ETag listing at a cursor.
receipt
    Per write batch, written before its first request: token, kind, key and the ETag the
    item had before (or the error that kept the operation from being sent). Recovery after
    a crash compares it with what the server holds (:mod:`syncline.connectors.receipts`;
    the receipt line's evidence is the ETag before).

All files are written atomically (:func:`~syncline.connectors.receipts.atomic_write`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from syncline.connectors.receipts import ReceiptFolder, atomic_write

__all__ = ["CollectionState"]

_OWN_WRITES_KEPT = 20_000
_COMPACT_AT = 1_000
"""The own-writes file is compacted when it holds more lines than this and than twice its
entries."""
_FORGET = "-"
"""The third field of an own-writes line that forgets its key."""


class CollectionState:
    """The state files of one collection (see the module docstring). Methods writing files
    raise OSError."""

    keep_snapshots = 4

    def __init__(self, path: Path) -> None:
        self.path = path
        self.receipts = ReceiptFolder(path / "batches")
        """The batch receipts (see :mod:`syncline.connectors.receipts`)."""
        self._own: dict[str, str | None] | None = None
        self._own_lines = 0
        """The lines the own-writes file holds (entries and appended amendments)."""
        self._malformed: set[str] | None = None

    def ensure(self) -> None:
        (self.path / "batches").mkdir(parents=True, exist_ok=True)
        (self.path / "snapshots").mkdir(exist_ok=True)

    def _write(self, relative: str, text: str) -> None:
        target = self.path / relative
        atomic_write(target.parent, target.name, text.encode("utf-8"))

    def _read(self, relative: str) -> str | None:
        try:
            return (self.path / relative).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    # -- own writes -------------------------------------------------------------------------
    def own_writes(self) -> dict[str, str | None]:
        """Key -> ETag (``None``: deleted) of our writes, the oldest first (see the module
        docstring)."""
        if self._own is None:
            self._own = {}
            lines = (self._read("own-writes") or "").split("\n")
            lines.pop()  # "" after the last line's end, or a line cut short
            self._own_lines = len(lines)
            own = self._own
            for line in lines:
                key, _, rest = line.partition("\t")
                etag, _, mark = rest.partition("\t")
                own.pop(key, None)  # re-insert: the newest last
                if mark != _FORGET:
                    own[key] = etag or None
            _trim(own)
        return self._own

    def remember(self, written: Mapping[str, str | None]) -> None:
        """Add our writes (key -> new ETag, ``None``: deleted)."""
        if not written:
            return
        own = self.own_writes()
        for key, etag in written.items():
            own.pop(key, None)  # re-insert: the newest last, the oldest dropped first
            own[key] = etag
        _trim(own)
        self._append_own([f"{key}\t{etag or ''}\n" for key, etag in written.items()])

    def forget(self, keys: Iterable[str]) -> None:
        """Drop our writes of ``keys`` (someone else changed them since)."""
        own = self.own_writes()
        dropped = [key for key in keys if own.pop(key, "absent") != "absent"]
        if dropped:
            self._append_own([f"{key}\t\t{_FORGET}\n" for key in dropped])

    def _append_own(self, lines: list[str]) -> None:
        """Append ``lines`` to the own-writes file, or write it whole when it has grown to
        twice its entries (see the module docstring)."""
        total = self._own_lines + len(lines)
        own = self.own_writes()
        if total > _COMPACT_AT and total > 2 * len(own):
            self._write("own-writes", "".join(f"{key}\t{etag or ''}\n"
                                              for key, etag in own.items()))
            self._own_lines = len(own)
            return
        with open(self.path / "own-writes", "a", encoding="utf-8") as handle:
            handle.write("".join(lines))
        self._own_lines = total

    # -- malformed keys ---------------------------------------------------------------------
    def malformed(self) -> set[str]:
        if self._malformed is None:
            self._malformed = set((self._read("malformed") or "").splitlines()) - {""}
        return self._malformed

    def mark_malformed(self, bad: Iterable[str], good: Iterable[str] = ()) -> None:
        """Add ``bad`` keys to the malformed ones and remove ``good`` ones."""
        current = self.malformed()
        updated = (current | set(bad)) - set(good)
        if updated != current:
            self._malformed = updated
            self._write("malformed", "".join(f"{key}\n" for key in sorted(updated)))

    # -- snapshots (ctag reading) -----------------------------------------------------------
    def save_snapshot(self, ctag: str | None, listing: Mapping[str, str]) -> str:
        """Store a snapshot; return its id. The oldest beyond :attr:`keep_snapshots` go."""
        name = secrets.token_hex(8)
        lines = [f"ctag\t{ctag or ''}\n", *(f"{key}\t{etag}\n" for key, etag in listing.items())]
        self._write(f"snapshots/{name}", "".join(lines))
        folder = self.path / "snapshots"
        kept = sorted((p for p in folder.iterdir() if not p.name.startswith(".")),
                      key=lambda p: p.stat().st_mtime_ns)
        for old in kept[:-self.keep_snapshots]:
            if old.name != name:
                old.unlink(missing_ok=True)
        return name

    def snapshot(self, name: str) -> tuple[str | None, dict[str, str]] | None:
        """The ctag and listing of snapshot ``name``, ``None`` when it is gone."""
        if not name.isalnum():
            return None
        text = self._read(f"snapshots/{name}")
        if text is None or not text.startswith("ctag\t"):
            return None
        head, *rows = text.splitlines()
        listing = {}
        for row in rows:
            key, _, etag = row.partition("\t")
            listing[key] = etag
        return head.partition("\t")[2] or None, listing


def _trim(own: dict[str, str | None]) -> None:
    """Drop the oldest of ``own`` beyond :data:`_OWN_WRITES_KEPT`."""
    while len(own) > _OWN_WRITES_KEPT:
        own.pop(next(iter(own)))
