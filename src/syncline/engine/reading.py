"""Reading one side of one stream as :class:`~syncline.engine.plan.SideChange` pages.

Incremental reads come from the connector's change feed since the stored cursor. Full reads
list every record and keep only those whose content hash differs from the mapping (or that
have no mapping), then report mapped keys that were not listed as deletions. A full read
compares in groups of :data:`LOOKUP_SIZE` listed records with their mappings' digests
(id, hash, version: no snapshot decoded), hashes columnar pages column by column without
building a record for an unchanged one, notes the ids of the mappings it met as marks
(:class:`~syncline.engine.mapping_ids.MappingIds`, not a set of every key), and finds the
deletions by sending those marks to the state store, which lists the keys of the mappings
not marked (the database tests the marks: only gone records' keys come back).
Either way, records that failed last run (pending) are read again by key, and so are
records marked for resynchronisation (``syncline force``): those come with ``forced`` set,
so the planner writes them to the other side with action code R even when their hash says
nothing changed.

Items a connector could not read (see :meth:`Connector.take_item_errors
<syncline.connectors.base.Connector.take_item_errors>`) are taken after every page and kept
in :attr:`SideReader.item_errors`; such a key is never taken for a deletion (its record was
left out, not removed), and while the connector reports records without a key
(:class:`~syncline.errors.RowsWithoutKey`) no deletion is taken from that side at all: each
is held as an item error of its key. A key met twice in one read of one side (a connector
whose key is not unique) keeps its first record; the second is dropped with an item error,
so that two records of one key never reach the planner (they would pair twice and fail to
settle). A columnar page whose connector guarantees distinct keys
(:attr:`~syncline.model.RecordColumns.distinct_keys`) is not checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress, count
from operator import ne
from typing import NamedTuple

from syncline.connectors.base import Capability, Connector, ReadScope
from syncline.engine.bulk_plan import ColumnChanges
from syncline.engine.mapping_ids import MappingIds
from syncline.engine.plan import SideChange
from syncline.engine.references import ReferenceTranslator
from syncline.errors import ItemError, MalformedRecord, ProtocolError, RowsWithoutKey
from syncline.model import Record, RecordColumns, Side, column_hashes, content_hashes
from syncline.plan_types import MappingRow
from syncline.state.service_store import marked_keys
from syncline.state.store import StateStore

__all__ = ["SideReader"]


@dataclass
class SideReader:
    """Reads one side's changes of a stream. After the pages are consumed, ``cursor`` is the
    cursor to store (``None``: keep the stored one) and ``notes`` say what happened."""

    side: Side
    stream: str
    connector: Connector
    store: StateStore
    scope_id: int
    field_names: tuple[str, ...]
    translator: ReferenceTranslator
    scope: ReadScope
    full: bool
    pending: set[str]
    run_id: int = 0
    page_size: int = 2000
    cursor: str | None = None
    stored_cursor: str | None = None
    """The cursor the read started from (loaded when reading starts)."""
    marks_possible: bool = True
    """Whether any record may be marked for resynchronisation (``False`` when the run found
    no mark at all when it started: the marks are then not looked up)."""
    read_count: int = 0
    page_mappings: dict[str, MappingRow] | None = None
    """The stored mappings of the last page's keys on this side, when the read looked them
    up anyway (full reads); ``None`` when the caller must look them up."""
    notes: list[str] = field(default_factory=list)
    forced: set[str] = field(default_factory=set)
    """Keys on this side marked for resynchronisation (loaded when reading starts)."""
    columnar: bool = False
    """Whether :meth:`pages` may yield :class:`~syncline.engine.bulk_plan.ColumnChanges`
    (see the module docstring); the caller must then take both kinds of page. Only for
    streams with no reference translation."""
    item_errors: list[ItemError] = field(default_factory=list)
    """The items this read could not read or dropped (see the module docstring), for the
    caller to journal."""
    unreadable: set[str] = field(default_factory=set)
    """The keys of :attr:`item_errors`: never taken for deletions."""
    keys_read: set[str] = field(default_factory=set)
    """Every key this read has yielded (to drop a key met twice)."""

    keyless: bool = False
    """Whether the connector reported records without a key
    (:class:`~syncline.errors.RowsWithoutKey`) in this read: its deletions are then held
    (see :meth:`_held`)."""

    def _take_errors(self) -> None:
        """Take the connector's item errors noted so far (see the module docstring); records
        without a key are reported once per read."""
        for error in self.connector.take_item_errors(self.stream):
            if isinstance(error, RowsWithoutKey):
                if self.keyless:
                    continue
                self.keyless = True
            self.item_errors.append(error)
            if error.key is not None:
                self.unreadable.add(error.key)

    def _held(self, key: str) -> bool:
        """Whether the deletion of ``key`` is held: the side has records without a key, and
        one of them may be this record with its key removed. The key is then noted as an
        item error (so it stays pending and is read again next run) and never deleted."""
        if not self.keyless:
            return False
        if key not in self.unreadable:
            self.item_errors.append(MalformedRecord(
                f"key {key} is gone from side {self.side.value} while records without a key "
                f"are there (one of them may be this record with its key removed): its "
                f"deletion is held until those records have a key or are deleted",
                stream=self.stream, key=key))
            self.unreadable.add(key)
        return True

    def _screen(self, changes: list[SideChange]) -> list[SideChange]:
        """``changes`` without deletions of keys that could not be read and without keys
        this read has yielded already (each dropped one noted as an item error)."""
        self._take_errors()
        kept: list[SideChange] = []
        seen = self.keys_read
        for change in changes:
            key = change.key
            if key in seen:
                self.item_errors.append(MalformedRecord(
                    f"key {key} was read twice from side {self.side.value} in one read (the "
                    f"key is not unique there): the second record is left out",
                    stream=self.stream, key=key))
                self.unreadable.add(key)
                continue
            if change.record is None and (key in self.unreadable or self._held(key)):
                continue
            seen.add(key)
            kept.append(change)
        return kept

    def _to_changes(self, records: list[Record]) -> list[SideChange]:
        self.translator.from_side(self.side, records)
        names = self.field_names
        forced = self.forced
        hashes = content_hashes([record.fields for record in records], names)
        return [SideChange(record.key, record, digest, bool(forced) and record.key in forced)
                for record, digest in zip(records, hashes, strict=True)]

    def capabilities(self) -> Capability:
        return self.connector.streams().get(self.stream, Capability.NONE)

    def pages(self) -> Iterator[list[SideChange] | ColumnChanges]:
        """The side's changes in pages; each key at most once. Pages are lists of
        :class:`~syncline.engine.plan.SideChange` unless ``columnar`` is set."""
        stored = self.stored_cursor = self.store.cursor(self.scope_id, self.side.value)
        if self.marks_possible:
            self.forced = marked_keys(self.store, self.scope_id, self.side.value, self.run_id)
        incremental = (not self.full and stored is not None and self.scope.is_everything
                       and Capability.INCREMENTAL in self.capabilities())
        if incremental:
            assert stored is not None
            try:
                yield from self._incremental(stored)
                self._take_errors()
                return
            except ProtocolError as error:
                self.notes.append(f"{self.side.value}: incremental read refused ({error}); "
                                  f"reading everything instead")
                self.keys_read.clear()
        yield from self._full()
        self._take_errors()

    def _incremental(self, stored: str) -> Iterator[list[SideChange]]:
        feed = self.connector.read_changes(self.stream, stored, self.scope)
        seen: set[str] = set()
        for page in feed.pages:
            self.page_mappings = None
            records = [change.record for change in page if change.record is not None]
            by_key = {change.key: change for change in self._to_changes(records)}
            out: list[SideChange] = []
            for change in page:
                seen.add(change.key)
                out.append(by_key[change.key] if change.record is not None
                           else SideChange(change.key, None, None))
            self.read_count += len(out)
            yield self._screen(out)
        self.cursor = feed.cursor
        retry = [key for key in self.pending | self.forced if key not in seen]
        if retry:
            yield from self._by_keys(retry)

    def _first_columnar(self) -> Iterator[list[SideChange] | ColumnChanges]:
        """A full read while nothing is mapped: every record is a change, none is deleted
        and none forced; columnar pages stay columnar."""
        self.page_mappings = {}
        for page in self.connector.read_all_columnar(self.stream, self.scope):
            self.read_count += len(page)
            if isinstance(page, RecordColumns) and page.distinct_keys:
                self._take_errors()
                yield ColumnChanges(page, column_hashes(
                    [page.column(name) for name in self.field_names], len(page)))
            elif isinstance(page, RecordColumns):
                read, before = self.keys_read, len(self.keys_read)
                if read.isdisjoint(page.keys):
                    read.update(page.keys)
                    if len(read) - before == len(page.keys):  # no key twice in the page
                        self._take_errors()
                        yield ColumnChanges(page, column_hashes(
                            [page.column(name) for name in self.field_names], len(page)))
                        continue
                    read.difference_update(page.keys)  # none of them was read before
                yield self._screen(self._to_changes(page.records()))
            else:
                yield self._screen(self._to_changes(page))

    def _by_keys(self, keys: list[str]) -> Iterator[list[SideChange]]:
        for start in range(0, len(keys), self.page_size):
            chunk = keys[start:start + self.page_size]
            self.page_mappings = None
            found = self.connector.read_keys(self.stream, chunk)
            changes = self._to_changes(list(found.values()))
            changes.extend(SideChange(key, None, None) for key in chunk if key not in found)
            self.read_count += len(changes)
            yield self._screen(changes)

    def _full(self) -> Iterator[list[SideChange] | ColumnChanges]:
        if self.scope.is_everything:
            self.cursor = self.connector.current_cursor(self.stream)
        any_mapped = self.store.has_mappings(self.scope_id)
        if self.columnar and not any_mapped and not self.forced \
                and not self.translator.active:
            yield from self._first_columnar()
            return
        track_deletions = (Capability.DETECT_DELETES in self.capabilities()
                           and self.scope.since is None and self.scope.until is None
                           and any_mapped)
        listed = MappingIds()
        forced_seen: set[str] = set()
        pages = self.connector.read_all(self.stream, self.scope) if self.translator.active \
            else self.connector.read_all_columnar(self.stream, self.scope)
        # grouped only for the digest lookup: with no mapping yet, each page goes on as
        # it comes (the run's progress moves with the listing)
        for group in _groups(pages, LOOKUP_SIZE if any_mapped else 1):
            listed_pages = [self._listed(page) for page in group]
            keys = [key for page in listed_pages for key in page.keys]
            synced: dict[str, tuple[bytes | None, str | None]] | None = None
            if any_mapped:
                digests = self.store.mapping_digests(self.scope_id, self.side.value, keys)
                if track_deletions:  # each is the mapping of a listed key
                    listed.add_all(list(digests.ids.values()))
                synced = digests.synced
            out: list[SideChange] = []
            for page in listed_pages:
                differing = self._differing(page, synced)
                forced_seen.update(page.keys[index] for index in differing
                                   if page.keys[index] in self.forced)
                if page.columns is not None and self.pending:  # pending keys read: _screen
                    self.keys_read.update(page.keys[index] for index in differing
                                          if page.keys[index] in self.pending)
                out.extend(self._changes_at(page, differing))
            mapped = self.store.mappings_for(self.scope_id, self.side.value,
                                             (change.key for change in out)) \
                if any_mapped and out else {}
            if not out:
                self.page_mappings = {}
                yield []
            for start in range(0, len(out), self.page_size):
                chunk = out[start:start + self.page_size]
                self.page_mappings = {change.key: mapped[change.key] for change in chunk
                                      if change.key in mapped}
                yield chunk
        unlisted = [key for key in self.forced if key not in forced_seen]
        if unlisted:  # marked records outside the scope read: read them by key
            yield from self._by_keys(unlisted)
        if not track_deletions:
            return
        self._take_errors()
        ranged = self.scope.from_key is not None or self.scope.to_key is not None
        # mappings this run wrote are left out: their records came into being (or were
        # paired) after the listing passed them, so the listing cannot speak for them
        for keys in self.store.unnoted_keys(self.scope_id, self.side.value, self.run_id,
                                            listed.marks()):
            gone = [SideChange(key, None, None) for key in keys
                    if key not in self.unreadable
                    and (ranged is False
                         or self.connector.in_key_range(self.stream, key, self.scope))
                    and not self._held(key)]
            if gone:
                self.page_mappings = None
                yield gone

    def _listed(self, page: list[Record] | RecordColumns) -> _ListedPage:
        """A page of a full listing with its keys and hashes; a columnar page whose keys
        are distinct stays columnar, any other is screened (see :meth:`_screen`)."""
        self.read_count += len(page)
        if isinstance(page, RecordColumns) and page.distinct_keys:
            self._take_errors()
            return _ListedPage(page.keys, column_hashes(
                [page.column(name) for name in self.field_names], len(page)), None, page)
        records = page.records() if isinstance(page, RecordColumns) else page
        changes = self._screen(self._to_changes(records))
        if len(changes) != len(page):
            self.read_count -= len(page) - len(changes)
        return _ListedPage([change.key for change in changes],
                           [change.hash or b"" for change in changes], changes, None)

    def _differing(self, page: _ListedPage,
                   synced: dict[str, tuple[bytes | None, str | None]] | None) -> list[int]:
        """The positions in a listed page of the records a full read hands on: those with
        no mapping (``synced`` is ``None`` when the scope has none), marked, pending, or
        whose hash or version (a columnar page's records have none) differs from what was
        last synced. ``synced`` holds ``(hash, version)`` of the mappings of the listed
        keys, by key (see :class:`~syncline.state.mapping_reads.MappingDigests`); the
        records are compared with it in one pass of C code."""
        keys, hashes = page.keys, page.hashes
        if synced is None:
            return list(range(len(keys)))
        changes = page.changes
        versions: list[str | None] = [None] * len(keys) if changes is None else [
            change.record.version if change.record is not None else None
            for change in changes]
        differing = list(compress(count(), map(ne, zip(hashes, versions, strict=True),
                                               map(synced.get, keys))))
        special = self.forced | self.pending
        if special:
            differing = sorted(set(differing).union(
                index for index, key in enumerate(keys) if key in special))
        return differing

    def _changes_at(self, page: _ListedPage, positions: list[int]) -> list[SideChange]:
        """The changes of a listed page at ``positions``."""
        if page.changes is not None:
            return [page.changes[index] for index in positions]
        columns = page.columns
        assert columns is not None
        names, values, forced = columns.names, columns.columns, self.forced
        out: list[SideChange] = []
        for index in positions:
            key = columns.keys[index]
            record = Record(key, {name: column[index]
                                  for name, column in zip(names, values, strict=True)})
            out.append(SideChange(key, record, page.hashes[index], key in forced))
        return out


LOOKUP_SIZE = 20_000
"""Records of a full listing whose mappings are looked up in one go (a few pages)."""


class _ListedPage(NamedTuple):
    """A page of a full listing: its keys and content hashes, and either its screened
    changes (``changes``) or, for a columnar page of distinct keys, the page itself
    (``columns``)."""

    keys: list[str]
    hashes: list[bytes]
    changes: list[SideChange] | None
    columns: RecordColumns | None


def _groups(pages: Iterable[list[Record] | RecordColumns],
            size: int) -> Iterator[list[list[Record] | RecordColumns]]:
    """``pages`` in groups of at least ``size`` records (the last may hold fewer)."""
    group: list[list[Record] | RecordColumns] = []
    count = 0
    for page in pages:
        group.append(page)
        count += len(page)
        if count >= size:
            yield group
            group, count = [], 0
    if group:
        yield group
