"""The one small interface every connector implements.

Terms:

connector
    The code that talks to one kind of system (``sql``, ``carddav``, ``xero``...). One
    instance serves one configured endpoint.
capabilities
    What the connector can do per stream: read, create, update, delete, read incrementally
    (from a cursor), detect deletions. The engine plans around them.
cursor
    An opaque string saying where incremental reading resumes (a change sequence number, a
    sync-token, a timestamp). Only the connector understands it; the engine stores it.
change
    A record that was created or modified since a cursor (``record`` set), or a key that was
    deleted (``record`` is ``None``).
write operation
    One create / update / delete to apply (its :class:`WriteKind`), carrying an idempotency
    ``token`` unique to it. :class:`WriteKind` is defined with the planner's types
    (:mod:`syncline.plan_types`, which the engine's planner decides with) and is part of
    this interface: connectors import it from here.
bulk create
    Many creates on one stream handed over column by column (:class:`CreateRows`), the
    engine's lane for first syncs; the default implementation turns them into a
    :class:`WriteBatch`, connectors that can do better override :meth:`Connector.write_creates`.
run context
    What the engine hands a connector for one run (:class:`~syncline.run_context.RunContext`,
    :attr:`Connector.context`): whether the run was asked to stop, and where to report
    records written. A connector that writes a batch one request at a time stops between
    requests when asked (the operations not sent get a
    :class:`~syncline.run_context.NotSent` error) and reports each record written.
columnar page
    A page of records column by column (:class:`~syncline.model.RecordColumns`). A connector
    whose listing is a table may hand over such pages from :meth:`Connector.read_all_columnar`
    (a first sync then builds no object per record); the default hands over
    :meth:`Connector.read_all`'s pages of records.

A connector knows nothing of the engine's state (mappings, journal); the engine knows
nothing of the connector's protocol.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Flag, auto
from pathlib import Path
from typing import Any, ClassVar

from syncline.errors import ItemError, ProtocolError
from syncline.model import Record, RecordColumns
from syncline.plan_types import WriteKind
from syncline.run_context import RunContext

__all__ = [
    "Capability",
    "Change",
    "ChangeFeed",
    "Connector",
    "CreateRows",
    "CreatedRows",
    "ReadScope",
    "WriteBatch",
    "WriteKind",
    "WriteOperation",
    "WriteResult",
]


class Capability(Flag):
    """What a connector can do with one stream."""

    NONE = 0
    READ = auto()
    CREATE = auto()
    UPDATE = auto()
    DELETE = auto()
    INCREMENTAL = auto()
    DETECT_DELETES = auto()

    @classmethod
    def all(cls) -> Capability:
        return (cls.READ | cls.CREATE | cls.UPDATE | cls.DELETE | cls.INCREMENTAL
                | cls.DETECT_DELETES)


@dataclass(frozen=True, slots=True)
class ReadScope:
    """A selection of records to read: modification dates and a key range (all inclusive).

    An empty scope selects everything.
    """

    since: datetime | None = None
    until: datetime | None = None
    from_key: str | None = None
    to_key: str | None = None

    @property
    def is_everything(self) -> bool:
        return self.since is None and self.until is None and self.from_key is None \
            and self.to_key is None

    def covers_key(self, key: str) -> bool:
        """Whether ``key`` lies in the key range, comparing keys as text (connectors whose
        keys order otherwise decide with :meth:`Connector.in_key_range`)."""
        if self.from_key is not None and key < self.from_key:
            return False
        return not (self.to_key is not None and key > self.to_key)


@dataclass(slots=True)
class Change:
    """A created or modified record, or (``record is None``) a deleted key."""

    key: str
    record: Record | None


@dataclass(slots=True)
class ChangeFeed:
    """The changes since a cursor, in pages, and the cursor to store once all are settled.

    ``pages`` must be consumed completely before ``cursor`` is read; ``cursor`` is then the
    position just after the last change returned.
    """

    pages: Iterator[list[Change]]
    cursor_holder: list[str | None] = field(default_factory=lambda: [None])

    @property
    def cursor(self) -> str | None:
        return self.cursor_holder[0]


@dataclass(slots=True)
class WriteOperation:
    """One write. ``key`` is the target key (``None`` for a create); ``fields`` the canonical
    values to write (for an update: the mapped fields only; other data must be kept);
    ``expected_version`` the version last seen, for optimistic concurrency where supported;
    ``token`` an idempotency key unique to this operation."""

    token: str
    kind: WriteKind
    key: str | None
    fields: dict[str, Any] | None = None
    expected_version: str | None = None


@dataclass(slots=True)
class WriteBatch:
    """Operations on one stream written together. ``batch_id`` is unique and stable: it is
    stored in the state store's intent row before the batch is sent."""

    batch_id: str
    stream: str
    operations: list[WriteOperation]


@dataclass(slots=True)
class WriteResult:
    """The outcome of one operation: the record's key and version after the write, or the
    error that kept it from being written (:class:`~syncline.errors.RecordLocked`: the
    record is locked in the target system, see :class:`Connector`).

    ``record`` (optional) is the record as the system stored it, where the system answers a
    create or update with it (Xero and QuickBooks Online do): the canonical record as
    :meth:`Connector.read_keys` would read it now, references in the system's own space.
    The engine keeps the hash of that for the mapping instead of the hash of what it sent
    (the system may complete a record with values of its own), without reading it back.
    ``None``: the system did not say (the engine reads the record back where it must)."""

    token: str
    key: str | None = None
    version: str | None = None
    error: ItemError | None = None
    record: Record | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class CreateRows:
    """Records to create on one stream in one batch, column by column: row ``n`` has, for
    each field ``names[i]``, the canonical value ``columns[i][n]`` (every row has the same
    fields). Row ``n`` is the operation with token ``f"{batch_id}-{n}"``, exactly as if the
    batch were a :class:`WriteBatch` of creates, so :meth:`Connector.recover` works the same
    for both."""

    batch_id: str
    stream: str
    names: tuple[str, ...]
    columns: list[Sequence[Any]]
    count: int

    @classmethod
    def from_rows(cls, batch_id: str, stream: str,
                  rows: Sequence[Mapping[str, Any]]) -> CreateRows:
        """The creates of ``rows``, each a record's fields as a dict.

        Raises:
            ValueError: the rows do not all have the same fields.
        """
        names = tuple(rows[0]) if rows else ()
        if any(len(row) != len(names) or any(name not in row for name in names)
               for row in rows):
            raise ValueError(f"the rows of create batch {batch_id} do not all have the same "
                             f"fields")
        return cls(batch_id, stream, names, [[row[name] for row in rows] for name in names],
                   len(rows))

    def __len__(self) -> int:
        return self.count

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Each row's fields as a dict, in order."""
        if not self.names:
            return [{} for _ in range(self.count)]
        names = self.names
        return [dict(zip(names, values, strict=True))
                for values in zip(*self.columns, strict=True)]

    def as_write_batch(self) -> WriteBatch:
        """The same creates as a :class:`WriteBatch`."""
        create = WriteKind.CREATE
        return WriteBatch(self.batch_id, self.stream,
                          [WriteOperation(f"{self.batch_id}-{number}", create, None, fields)
                           for number, fields in enumerate(self.rows)])


@dataclass(slots=True)
class CreatedRows:
    """The outcome of :class:`CreateRows`, by row number: the new record's key (``None``
    where the create failed), its version (``versions`` is ``None`` when the connector keeps
    none) and the error of each failed row."""

    keys: list[str | None]
    versions: list[str | None] | None = None
    errors: dict[int, ItemError] = field(default_factory=dict)

    @classmethod
    def from_results(cls, results: Sequence[WriteResult]) -> CreatedRows:
        versions = [result.version for result in results]
        return cls([result.key if result.error is None else None for result in results],
                   versions if any(version is not None for version in versions) else None,
                   {number: result.error for number, result in enumerate(results)
                    if result.error is not None})


class Connector(ABC):
    """Base class of all connectors.

    Subclasses set ``type_name`` and implement the abstract methods. A connector is created
    with its endpoint's name, its settings (the ``[endpoints.NAME]`` table of the config) and
    the folder relative paths resolve against. ``open`` is called before any other method.

    Every method may raise :class:`~syncline.errors.RunError` subclasses when the system cannot
    be used at all (unreachable, authentication), and reports problems with single records as
    :class:`~syncline.errors.ItemError` inside results, never by raising. A write the system
    refuses because the record is locked there (an invoice paid in the books) is reported as
    a :class:`~syncline.errors.RecordLocked` naming the record by its number: the engine
    journals it ``skipped`` with that warning and does not try it again.
    """

    type_name: ClassVar[str]
    description: ClassVar[str] = ""
    preferred_batch_size: ClassVar[int] = 2000
    """Records per read page and write batch when the link sets no ``batch_size`` (the
    link takes the smaller preference of its two endpoints). Connectors of remote APIs
    split a batch into requests of their own size."""

    def __init__(self, endpoint: str, settings: Mapping[str, Any], base_dir: Path) -> None:
        self.endpoint = endpoint
        self.settings = dict(settings)
        self.base_dir = base_dir
        self.context = RunContext()
        """The run context (see the module docstring); the engine sets the run's own."""

    # -- life cycle -------------------------------------------------------------------------
    @classmethod
    def validate_settings(cls, endpoint: str, settings: Mapping[str, Any]) -> None:
        """Check the endpoint's settings without connecting (the default accepts all).

        Raises:
            ConfigError: naming the offending key (``endpoints.NAME.KEY``).
        """
        return None

    @abstractmethod
    def open(self) -> None:
        """Connect. Raises EndpointUnavailable or AuthenticationFailed."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Safe to call twice."""

    def __enter__(self) -> Connector:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def setup(self, streams: Sequence[str]) -> list[str]:
        """Prepare the system for incremental reading of ``streams`` (e.g. install change
        capture). Returns one line per thing done; an empty list if nothing is needed.
        Safe to run again."""
        return []

    # -- description ------------------------------------------------------------------------
    @abstractmethod
    def streams(self) -> dict[str, Capability]:
        """The configured streams and what can be done with each."""

    @abstractmethod
    def field_names(self, stream: str) -> frozenset[str]:
        """The canonical fields this endpoint reads and writes for ``stream``."""

    def read_only_fields(self, stream: str) -> frozenset[str]:
        """The fields of ``stream`` this endpoint reads but cannot write (the system computes
        them, or its API ignores them on write). The engine treats them as owned by this
        side: never written here, their value flows to the other side only. Default: none."""
        return frozenset()

    def display_references(self, stream: str) -> Mapping[str, str]:
        """Reference fields of ``stream`` this endpoint holds as a display value instead of
        a key: field name -> the field of the referenced record it holds (a vCard's ``ORG``
        holds the organisation's ``name``). The engine then resolves keys from the other
        side to that value, and looks values written here back up by it. Default: none."""
        return {}

    @classmethod
    def capability_matrix(cls) -> dict[str, Capability]:
        """What the connector type supports per stream it knows, without configuration."""
        return {}

    # -- reading ----------------------------------------------------------------------------
    @abstractmethod
    def current_cursor(self, stream: str) -> str | None:
        """The cursor for "now": reading changes from it later returns what happens after
        this call. ``None`` if the stream cannot be read incrementally."""

    @abstractmethod
    def read_changes(self, stream: str, cursor: str, scope: ReadScope) -> ChangeFeed:
        """Changes since ``cursor`` in pages, each key at most once, with the newest state.
        With a non-empty ``scope`` the feed leaves out changes outside it but still moves
        past them: the engine never stores the cursor of a scoped read.

        Raises:
            RunError: the cursor is no longer valid and the caller must read in full
                (``ProtocolError``), or the endpoint cannot be read.
        """

    @abstractmethod
    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        """Every record of the stream within ``scope``, in pages."""

    def read_all_columnar(self, stream: str,
                          scope: ReadScope) -> Iterator[list[Record] | RecordColumns]:
        """:meth:`read_all`, where any page may come as a columnar page instead (see the
        module docstring). The default: :meth:`read_all`'s pages."""
        yield from self.read_all(stream, scope)

    @abstractmethod
    def read_keys(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        """The current records with these keys; keys that no longer exist are left out."""

    def in_key_range(self, stream: str, key: str, scope: ReadScope) -> bool:
        """Whether ``key`` lies in ``scope``'s key range as this system orders keys (the
        order :meth:`read_all` uses for a key range). The default compares text."""
        return scope.covers_key(key)

    def count(self, stream: str) -> int | None:
        """How many records the stream holds, when that is cheap to know."""
        return None

    def take_item_errors(self, stream: str) -> list[ItemError]:
        """The items of ``stream`` that reads since the last call met but could not read
        (such as a malformed vCard: the error names the item and the problem), handed over
        once. Such an item is neither a change nor a deletion; the engine journals it as an
        error. The default: none."""
        return []

    # -- writing ----------------------------------------------------------------------------
    @abstractmethod
    def write(self, batch: WriteBatch) -> list[WriteResult]:
        """Apply a batch and return one result per operation, in order. A connector that
        sends the batch in several requests stops between them when :attr:`context` says
        so: the operations not sent get a :class:`~syncline.run_context.NotSent` error."""

    def write_creates(self, batch: CreateRows) -> CreatedRows:
        """Create ``batch.rows`` (see :class:`CreateRows`); one entry per row in the result.
        The default writes them as a :class:`WriteBatch` through :meth:`write`.

        Raises:
            ProtocolError: the connector returned a different number of results.
            whatever :meth:`write` raises.
        """
        results = self.write(batch.as_write_batch())
        if len(results) != len(batch):
            raise ProtocolError(self.endpoint, f"{len(results)} results for a batch of "
                                               f"{len(batch)} creates")
        return CreatedRows.from_results(results)

    def abandon(self, batch: WriteBatch) -> list[WriteResult] | None:
        """Like :meth:`recover`, for a batch of a run that no longer holds its link (it
        died, or its lease was taken over and it may still be writing): where the endpoint
        can record it, a batch found not applied is also marked **abandoned**, so that a
        late write of it by the stale run fails instead of applying (the SQL connector
        logs it in its batch log). The engine never sends an abandoned batch again under a
        new identity: its changes are read and planned again. The default is
        :meth:`recover`, right for connectors whose retries reuse the batch's identities
        (idempotency keys, deterministic UIDs), so that a late write cannot double.
        """
        return self.recover(batch)

    def recover(self, batch: WriteBatch) -> list[WriteResult] | None:
        """After a crash: the results of ``batch`` if it was applied, ``None`` if it was not.

        The engine calls this for every batch whose intent was written but never settled.
        The operations carry kinds, tokens and target keys but no field values: a connector
        finds out what happened from its own receipts, by idempotency token, or by looking
        the records up. ``None`` means the batch was not applied at all; then the changes
        are read and planned again (the cursors did not move), so the default is right
        only for connectors whose writes leave no trace until fully applied.
        """
        return None
