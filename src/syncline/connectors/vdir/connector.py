"""The ``vdir`` connector: a local folder with one ``.vcf`` or ``.ics`` file per item.

The layout is vdirsyncer's filesystem storage (and khard's, khal's, Evolution's): every file
``<name><fileext>`` directly in the folder is one item; its key is the name without the
extension; hidden files are not items. One folder holds one stream.

Settings:

``path``
    The folder, relative to the configuration file's folder (created when missing).
``fileext``
    ``".vcf"`` (default) or ``".ics"``.
``streams``
    The stream the folder holds: ``contact`` (default for ``.vcf``) or ``organisation``;
    ``event`` (default for ``.ics``) or ``task``. A name, a list of one name, or a table
    with one key (``[endpoints.x.streams.contact]``) are all accepted.
``page_size``
    Records per page when reading (default 500).
``state_dir``
    Where the connector keeps its snapshots and batch receipts (default:
    ``.syncline/vdir/<endpoint>-<folder hash>`` in the configuration folder).

Versions are ``"<mtime_ns>:<size>"``. Incremental reading (INCREMENTAL) is honest: the
cursor names a snapshot of the folder's listing kept in the state folder (a cursor holding
10,000 names would be too big), and a read lists the folder (names and ``stat`` only),
parses only the files whose version differs from the snapshot (or whose bytes differ, for
files written in the snapshot's clock tick), and reports the keys the snapshot has and the
folder no longer has as deleted. The last four snapshots are kept; a cursor whose snapshot is
gone (the state folder was removed, several runs read without storing their cursor, another
link reads the same folder) raises :class:`~syncline.errors.ProtocolError`, and the engine
reads everything instead. The connector's own writes are added to the current snapshot, so
they do not come back as changes. A file created and deleted between two reads leaves no
trace and is not reported. Full reads detect deletions too (DETECT_DELETES).

Writes are atomic (a temporary file in the folder, then a hard link or ``os.replace``; on
Linux a create's temporary file is an unnamed one, ``O_TMPFILE``, linked into place). A
create derives the file name from the new item's UID (for contacts the UID comes from the
operation's idempotency token) and never overwrites a file; updates and deletes check
``expected_version`` when given. Each batch leaves a receipt in the state folder before its
first file is written, from which :meth:`VdirConnector.recover` tells what was applied.

A malformed file is a per-item problem: it is left out of the page read and appended to
:attr:`VdirConnector.item_errors` (naming the file and the parse problem, also logged as a
warning; :meth:`VdirConnector.take_item_errors` hands them over once, for the engine to
journal), it is neither a change nor a deletion, and every later
read reports it again until it is fixed. The base interface has no slot for such items yet,
and the engine takes a mapped key missing from a full listing for a deletion; until it does,
:meth:`VdirConnector.streams` withdraws DETECT_DELETES while the folder holds malformed
files, and :meth:`VdirConnector.in_key_range` puts them in no key range.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from syncline.connectors.base import (
    Capability,
    ChangeFeed,
    Connector,
    ReadScope,
    WriteBatch,
    WriteResult,
)
from syncline.connectors.vdir.changes import CURSOR_PREFIX, read_changes
from syncline.connectors.vdir.folder import VdirFolder, in_dates
from syncline.connectors.vdir.items import CODECS, Codec
from syncline.connectors.vdir.settings import DEFAULT_STREAM, check_settings, stream_names
from syncline.connectors.vdir.state import (
    Entry,
    Snapshot,
    StateFolder,
    now_ns,
)
from syncline.connectors.vdir.writing import recover_batch, write_batch
from syncline.errors import (
    ConnectorNotOpen,
    EndpointUnavailable,
    ItemError,
    MalformedRecord,
    ProtocolError,
)
from syncline.model import Record

__all__ = ["VdirConnector"]

logger = logging.getLogger("syncline.connectors.vdir")

_REUSE_NS = 60_000_000_000
"""A listing :meth:`VdirConnector.count` took serves the next cursor this long (60 s)."""


class VdirConnector(Connector):
    """See the module docstring."""

    type_name: ClassVar[str] = "vdir"
    description: ClassVar[str] = "a folder of .vcf / .ics files, one item per file (vdir)"

    def __init__(self, endpoint: str, settings: Mapping[str, Any], base_dir: Path) -> None:
        super().__init__(endpoint, settings, base_dir)
        self.validate_settings(endpoint, settings)
        self.fileext = str(settings.get("fileext", ".vcf"))
        names = stream_names(settings.get("streams")) or [DEFAULT_STREAM[self.fileext]]
        self.stream_name = names[0]
        self.codec: Codec = CODECS[self.fileext](self.stream_name)
        folder = Path(str(settings["path"])).expanduser()
        self.folder = folder if folder.is_absolute() else base_dir / folder
        self.page_size = int(settings.get("page_size", 500))
        state_dir = settings.get("state_dir")
        if state_dir is None:
            tag = hashlib.sha1(str(self.folder.resolve()).encode()).hexdigest()[:10]
            self.state = StateFolder(base_dir / ".syncline" / "vdir" / f"{endpoint}-{tag}")
        else:
            path = Path(str(state_dir)).expanduser()
            self.state = StateFolder(path if path.is_absolute() else base_dir / path)
        self.files = VdirFolder(endpoint, self.folder, self.fileext, self.stream_name,
                                self.codec, self.page_size, self.state, lambda: self.context)
        """The folder context :mod:`.changes` and :mod:`.writing` work on (no connection to
        make: it is built with the connector, and :meth:`open` makes it usable)."""
        self.item_errors: list[MalformedRecord] = self.files.item_errors
        """Items that could not be read, since the connector was made (see the module
        docstring): the base interface has no place for them in a page yet."""
        self._opened = False
        self._warm: dict[str, tuple[str, Record | None]] = {}  # parsed ahead by streams()
        self._listed: tuple[int, dict[str, Entry]] | None = None
        """A listing taken by :meth:`count` (with the moment just before it), for the
        :meth:`current_cursor` that follows: a first sync lists the folder twice, not three
        times."""
        self._unparsed: dict[str, Entry] | None = None
        """The listing of the snapshot :meth:`current_cursor` just took, while its files are
        not parsed yet (see :meth:`streams`)."""
        self._read_ahead: dict[str, tuple[bytes, Entry]] = {}
        """Files :meth:`current_cursor` read for the snapshot's digests (bytes and entry),
        for the parse that follows: a first sync reads each file once."""

    # -- settings and description ------------------------------------------------------------
    @classmethod
    def validate_settings(cls, endpoint: str, settings: Mapping[str, Any]) -> None:
        """Raises: ConfigError naming the offending key (see :mod:`.settings`)."""
        check_settings(endpoint, settings)

    @classmethod
    def capability_matrix(cls) -> dict[str, Capability]:
        return dict.fromkeys(("contact", "organisation", "event", "task"), Capability.all())

    def open(self) -> None:
        """Create the folder (on first use) and the state folder when missing.

        Raises:
            EndpointUnavailable: the folder cannot be created or listed, or it is gone
                although it held items when last read (a missing folder is never taken for
                an empty one: that would delete everything on the other side).
        """
        if not self.folder.is_dir():
            known = self.state.current()
            if known is not None and known.entries:
                raise EndpointUnavailable(self.endpoint, f"the folder {self.folder} is gone (moved,"
                                          f" renamed, on a disk not mounted?); it held "
                                          f"{len(known.entries)} items when last read")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.state.ensure()
            os.scandir(self.folder).close()
        except OSError as error:
            raise EndpointUnavailable(self.endpoint, f"{self.folder}: {error}") from None
        self._opened = True

    def close(self) -> None:
        """Nothing to release: later reads and writes raise ConnectorNotOpen until
        :meth:`open` is called again. Safe to call twice."""
        self._opened = False
        self._listed = self._unparsed = None
        self._warm, self._read_ahead = {}, {}

    def _open_files(self) -> VdirFolder:
        """The folder context, for a read or write.

        Raises:
            ConnectorNotOpen: :meth:`open` was not called, or :meth:`close` was since.
        """
        if not self._opened:
            raise ConnectorNotOpen(self.endpoint)
        return self.files

    def streams(self) -> dict[str, Capability]:
        """All capabilities; but no DETECT_DELETES while the folder holds malformed files
        (see :meth:`in_key_range` for why). Asked right after :meth:`current_cursor`, this
        parses the whole folder first (kept for the :meth:`read_all` that follows), so that
        every malformed file is known."""
        if self._unparsed is not None:
            self._parse_ahead(self._unparsed)
        if self.files.malformed_keys():
            return {self.stream_name: Capability.all() & ~Capability.DETECT_DELETES}
        return {self.stream_name: Capability.all()}

    def in_key_range(self, stream: str, key: str, scope: ReadScope) -> bool:
        """Text order, except that malformed files are in no range.

        This is a stopgap for a gap in the interface: a page has no slot for an item that
        exists but cannot be read, so a full read leaves it out, and the engine takes a mapped
        key missing from a full listing for a deletion. The engine asks this method about
        such keys in a ranged full read, and plans no deletion for a key outside the range.
        For a full read of everything it does not ask; there :meth:`streams` withdraws
        DETECT_DELETES while malformed files exist (asked right after
        :meth:`current_cursor`, which the engine calls first, it parses the folder and so
        knows). Incremental reads are exact.
        """
        return scope.covers_key(key) and key not in self.files.malformed_keys()

    def field_names(self, stream: str) -> frozenset[str]:
        self._check_stream(stream)
        return self.codec.field_names

    def display_references(self, stream: str) -> dict[str, str]:
        """See :meth:`~syncline.formats.item_codecs.ItemCodec.display_references`."""
        self._check_stream(stream)
        return self.codec.display_references

    def _check_stream(self, stream: str) -> None:
        if stream != self.stream_name:
            raise ProtocolError(self.endpoint, f"this folder holds {self.stream_name}, "
                                               f"not {stream}")

    # -- files ------------------------------------------------------------------------------
    def _listing(self) -> dict[str, Entry]:
        """The folder's items now (see :meth:`VdirFolder.listing`); a listing kept for the
        next cursor is dropped.

        Raises:
            ConnectorNotOpen: the connector is not open.
            EndpointUnavailable: the folder cannot be listed.
        """
        self._listed = self._unparsed = None
        return self._open_files().listing()

    def take_item_errors(self, stream: str) -> list[ItemError]:
        """The malformed files noted since the last call (each names the file and the parse
        problem), handed over once: for the engine to journal and report in the run's
        messages."""
        if stream != self.stream_name:
            return []
        taken: list[ItemError] = list(self.item_errors)
        self.item_errors.clear()
        return taken

    def load_file(self, key: str) -> tuple[bytes, Entry] | None:
        """See :meth:`VdirFolder.load_file`.

        Raises:
            ConnectorNotOpen: the connector is not open.
            EndpointUnavailable: the file exists but cannot be read.
        """
        return self._open_files().load_file(key)

    # -- reading ----------------------------------------------------------------------------
    def current_cursor(self, stream: str) -> str | None:
        """A cursor naming a new snapshot of the folder (see the module docstring).

        No file is parsed here: the :meth:`read_all` that follows parses them page by page,
        so the engine writes the first pages while later ones are still being read. When
        the capabilities are asked for in between, :meth:`streams` parses them all first (to
        know every malformed file, see :meth:`in_key_range`) and keeps the records for
        :meth:`read_all`: each file is parsed once either way. Malformed files are marked
        in the snapshot once found.

        Raises:
            ConnectorNotOpen: the connector is not open.
            EndpointUnavailable: the folder or the state folder cannot be used.
        """
        self._check_stream(stream)
        self._open_files()
        taken, listing = self._take_listing()
        # the files the snapshot keeps a digest of are read once, for it and for the parse
        recent = self.files.load_recent(listing, taken)
        snapshot = Snapshot.of(listing, taken, self.folder, self.fileext,
                               {key: data for key, (data, _) in recent.items()})
        try:
            self.state.save(snapshot)
        except OSError as error:
            raise EndpointUnavailable(self.endpoint, f"{self.state.path}: {error}") from None
        self._warm = {}
        self._unparsed = listing
        self._read_ahead = recent
        return f"{CURSOR_PREFIX}{snapshot.token}"

    def _take_listing(self) -> tuple[int, dict[str, Entry]]:
        """The listing :meth:`count` just took (handed over once), else a new one; with the
        moment just before it was taken.

        Raises:
            EndpointUnavailable: the folder cannot be listed.
        """
        if self._listed is not None:
            listed, self._listed = self._listed, None
            if now_ns() - listed[0] < _REUSE_NS:
                return listed
        taken = now_ns()
        return taken, self._listing()

    def _parse_ahead(self, listing: dict[str, Entry]) -> None:
        """Parse every file of ``listing`` for the :meth:`read_all` that follows; mark the
        malformed ones in the current snapshot.

        Raises:
            EndpointUnavailable: a file exists but cannot be read.
        """
        self._unparsed = None
        files = self._open_files()
        malformed: list[str] = []  # noted and marked: the read_all skips them
        ahead, self._read_ahead = self._read_ahead, {}
        for key, version, record in files.read_files(listing, malformed, ahead):
            self._warm[key] = (version, record)
        files.remember_malformed(malformed)

    def read_changes(self, stream: str, cursor: str, scope: ReadScope) -> ChangeFeed:
        """The items created, changed or deleted since the snapshot ``cursor`` names (see
        :func:`~syncline.connectors.vdir.changes.read_changes`).

        Raises:
            ProtocolError: the cursor's snapshot is gone (read everything instead).
            ConnectorNotOpen: the connector is not open.
            EndpointUnavailable: the folder or the state folder cannot be used.
        """
        self._check_stream(stream)
        self._listed = self._unparsed = None
        return read_changes(self._open_files(), cursor, scope)

    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        """Every item of the folder within ``scope`` (key range by file name; dates by the
        files' modification times), in pages ordered by key. Malformed files are left out
        and recorded in :attr:`item_errors`.

        Raises:
            ConnectorNotOpen: the connector is not open.
            EndpointUnavailable: the folder cannot be read.
        """
        self._check_stream(stream)
        listing = self._listing()  # again: the folder may have changed since the cursor
        files = self.files
        keys = sorted(key for key, entry in listing.items()
                      if scope.covers_key(key) and in_dates(entry, scope))
        warm, self._warm = self._warm, {}
        ahead, self._read_ahead = self._read_ahead, {}
        page: list[Record] = []
        malformed: list[str] = []
        for key in keys:
            cached = warm.get(key)
            if cached is not None and cached[0] == listing[key].version:
                record = cached[1]
            else:
                loaded = ahead.pop(key, None)
                if loaded is None or loaded[1] != listing[key]:
                    loaded = files.load_file(key)
                if loaded is None:
                    continue
                record, bad = files.parse(key, *loaded)
                if bad:
                    malformed.append(key)
            if record is None:
                continue
            page.append(record)
            if len(page) >= self.page_size:
                yield page
                page = []
        if page:
            yield page
        files.remember_malformed(malformed)

    def read_keys(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        """Raises: ConnectorNotOpen (the connector is not open), EndpointUnavailable (the
        folder cannot be read)."""
        self._check_stream(stream)
        files = self._open_files()
        malformed: list[str] = []
        found = {record.key: record for record in files.records(keys, malformed)}
        files.remember_malformed(malformed)
        return found

    def count(self, stream: str) -> int | None:
        """The number of files; the listing is kept for a :meth:`current_cursor` that
        follows soon (a first or full sync counts, then reads).

        Raises:
            ConnectorNotOpen: the connector is not open.
            EndpointUnavailable: the folder cannot be listed.
        """
        self._check_stream(stream)
        taken = now_ns()
        listing = self._listing()
        self._listed = (taken, listing)
        return len(listing)

    # -- writing ----------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> list[WriteResult]:
        """Apply ``batch`` (see :func:`~syncline.connectors.vdir.writing.write_batch`).

        Raises:
            ConnectorNotOpen: the connector is not open.
            EndpointUnavailable: the folder or the state folder cannot be written.
        """
        self._check_stream(batch.stream)
        return write_batch(self._open_files(), batch)

    def recover(self, batch: WriteBatch) -> list[WriteResult] | None:
        """What became of ``batch`` (see
        :func:`~syncline.connectors.vdir.writing.recover_batch`).

        Raises:
            ConnectorNotOpen: the connector is not open.
            EndpointUnavailable: the folder cannot be read.
        """
        return recover_batch(self._open_files(), batch)
