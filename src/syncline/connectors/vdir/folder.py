"""What reading and writing one vdir folder need, in one object: the folder context.

Terms:

folder context
    A :class:`VdirFolder`: the endpoint's name, the folder, its file extension, stream and
    codec, the page size, the state folder, the run context, and what the connector learns
    while it reads (the malformed files). The connector builds one from its settings and
    hands it to :mod:`.changes` and :mod:`.writing`, which use nothing else of the
    connector.
malformed key
    The key of a file that cannot be parsed (see
    :class:`~syncline.connectors.vdir.connector.VdirConnector`): noted once in
    :attr:`VdirFolder.item_errors`, known to :meth:`VdirFolder.malformed_keys` (this run's
    findings and, through the current snapshot, earlier runs') until it is fixed or removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from syncline.connectors.base import ReadScope
from syncline.connectors.vdir.items import Codec
from syncline.connectors.vdir.state import MALFORMED, MARGIN_NS, Entry, StateFolder, scan
from syncline.errors import EndpointUnavailable, MalformedRecord
from syncline.model import Record
from syncline.run_context import RunContext

__all__ = ["VdirFolder", "in_dates"]

logger = logging.getLogger("syncline.connectors.vdir")


class VdirFolder:
    """The folder context of one vdir endpoint (see the module docstring)."""

    __slots__ = ("_bad", "codec", "endpoint", "fileext", "folder", "item_errors",
                 "page_size", "prefix", "run_context", "state", "stream")

    def __init__(self, endpoint: str, folder: Path, fileext: str, stream: str, codec: Codec,
                 page_size: int, state: StateFolder,
                 run_context: Callable[[], RunContext]) -> None:
        self.endpoint = endpoint
        self.folder = folder
        self.prefix = os.path.join(folder, "")
        """The folder, ending with a separator."""
        self.fileext = fileext
        self.stream = stream
        self.codec = codec
        self.page_size = page_size
        self.state = state
        self.run_context = run_context
        """The run context now (the engine sets the run's own on the connector)."""
        self.item_errors: list[MalformedRecord] = []
        """Items that could not be read, since the connector was made (see the module
        docstring): the base interface has no place for them in a page yet."""
        self._bad: set[str] | None = None  # malformed keys, loaded lazily

    # -- malformed files ---------------------------------------------------------------------
    def malformed_keys(self) -> set[str]:
        """The keys of the files found malformed, by this connector or (through the
        snapshot) by an earlier run; the caller may change the set."""
        if self._bad is None:
            snapshot = self.state.current()
            self._bad = {key for key, version in snapshot.entries.items()
                         if version == MALFORMED} if snapshot is not None else set()
        return self._bad

    def note(self, error: MalformedRecord) -> None:
        """Record a malformed item once (a full read may meet it twice)."""
        if error.key is not None:
            self.malformed_keys().add(error.key)
        if not any(str(known) == str(error) for known in self.item_errors[-50:]):
            self.item_errors.append(error)
            logger.warning("%s: %s", self.endpoint, error)

    def remember_malformed(self, keys: list[str]) -> None:
        """Mark malformed files in the current snapshot, so that every incremental read
        reads (and reports) them again until they are fixed or removed."""
        if keys:
            with contextlib.suppress(OSError):
                self.state.amend(dict.fromkeys(keys, (MALFORMED, "")))

    # -- files -------------------------------------------------------------------------------
    def file(self, key: str) -> str | None:
        """The file of ``key``, ``None`` for a key that cannot name an item file."""
        if not key or "/" in key or "\\" in key or "\0" in key or key.startswith("."):
            return None
        return f"{self.prefix}{key}{self.fileext}"

    def listing(self) -> dict[str, Entry]:
        """The folder's items now; malformed files no longer in it are malformed no more.

        Raises:
            EndpointUnavailable: the folder cannot be listed.
        """
        try:
            listing, odd = scan(self.folder, self.fileext)
        except OSError as error:
            raise EndpointUnavailable(self.endpoint, f"{self.folder}: {error}") from None
        bad = self.malformed_keys()
        if bad:
            bad.intersection_update(listing)
        for name in odd:
            self.note(MalformedRecord(f"{self.folder / name}: the file name holds control "
                                      f"characters", stream=self.stream, key=name))
        return listing

    def load_file(self, key: str) -> tuple[bytes, Entry] | None:
        """The bytes and entry of the file of item ``key``; ``None`` when there is no such
        file (or ``key`` cannot name one).

        Raises:
            EndpointUnavailable: the file exists but cannot be read.
        """
        path = self.file(key)
        if path is None:
            return None
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as error:
            raise EndpointUnavailable(self.endpoint, f"{path}: {error}") from None
        try:
            info = os.fstat(descriptor)
            data = os.read(descriptor, info.st_size + 1)
            if len(data) > info.st_size:  # it grew meanwhile: read on to the end
                chunks = [data]
                while chunk := os.read(descriptor, 65536):
                    chunks.append(chunk)
                data = b"".join(chunks)
        except IsADirectoryError:
            return None
        except OSError as error:
            raise EndpointUnavailable(self.endpoint, f"{path}: {error}") from None
        finally:
            os.close(descriptor)
        return data, Entry(info.st_mtime_ns, info.st_size)

    def parse(self, key: str, data: bytes, entry: Entry) -> tuple[Record | None, bool]:
        """The record of file ``key`` holding ``data`` (``None`` for an item of another
        stream), and whether the file is malformed (then it is noted, see :meth:`note`,
        and the record is ``None``)."""
        source = f"{self.prefix}{key}{self.fileext}"
        try:
            parsed = self.codec.read(data.decode("utf-8-sig"), source)
        except UnicodeDecodeError as error:
            self.note(MalformedRecord(f"{source}: not UTF-8 text ({error})",
                                      stream=self.stream, key=key))
            return None, True
        except MalformedRecord as error:
            error.stream, error.key = self.stream, key
            self.note(error)
            return None, True
        self.malformed_keys().discard(key)
        if parsed is None:
            return None, False
        updated = parsed.updated_at or datetime.fromtimestamp(entry.mtime_ns / 1e9, UTC)
        extra = {"uid": parsed.uid} if parsed.uid else {}
        return Record(key, parsed.fields, entry.version, updated, extra), False

    def load_recent(self, listing: dict[str, Entry], taken_ns: int) \
            -> dict[str, tuple[bytes, Entry]]:
        """The bytes and entry of the files of ``listing`` modified within
        :data:`~syncline.connectors.vdir.state.MARGIN_NS` of ``taken_ns``: the ones a
        snapshot taken then keeps a digest of (see :meth:`Snapshot.of`), read once for it
        and for the parse that follows. A file that cannot be read is left out (the snapshot
        then tries it itself)."""
        recent = taken_ns - MARGIN_NS
        found: dict[str, tuple[bytes, Entry]] = {}
        for key, entry in listing.items():
            if entry.mtime_ns >= recent:
                try:
                    loaded = self.load_file(key)
                except EndpointUnavailable:
                    continue
                if loaded is not None:
                    found[key] = loaded
        return found

    def read_files(self, keys: Iterable[str], malformed: list[str],
                   loaded_ahead: dict[str, tuple[bytes, Entry]] | None = None) \
            -> Iterator[tuple[str, str, Record | None]]:
        """``(key, version, record)`` for each of ``keys`` whose file exists (record
        ``None``: an item of another stream, or a malformed file, whose key is then appended
        to ``malformed``). ``loaded_ahead`` holds files already read in this run (bytes and
        entry, see :meth:`load_file`): they are taken from it, not read again.

        Raises:
            EndpointUnavailable: a file exists but cannot be read.
        """
        ahead = loaded_ahead or {}
        for key in keys:
            loaded = ahead.pop(key, None) or self.load_file(key)
            if loaded is None:
                continue
            record, bad = self.parse(key, *loaded)
            if bad:
                malformed.append(key)
            yield key, loaded[1].version, record

    def records(self, keys: Sequence[str], malformed: list[str]) -> Iterator[Record]:
        """The records of ``keys`` that exist and are of the stream; the keys of malformed
        files are appended to ``malformed``.

        Raises:
            EndpointUnavailable: a file exists but cannot be read.
        """
        for _, _, record in self.read_files(keys, malformed):
            if record is not None:
                yield record


def in_dates(entry: Entry, scope: ReadScope) -> bool:
    """Whether the file of ``entry`` was modified within ``scope``'s dates."""
    if scope.since is None and scope.until is None:
        return True
    moment = datetime.fromtimestamp(entry.mtime_ns / 1e9, UTC)
    if scope.since is not None and moment < _aware(scope.since):
        return False
    return not (scope.until is not None and moment > _aware(scope.until))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
