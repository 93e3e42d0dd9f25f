"""The state store: the only module that reads or writes syncline's own database.

SQLite by default (one file, no server), PostgreSQL by URL. :meth:`StateStore.open` creates
the schema of an empty database or upgrades an older one (:mod:`syncline.state.opening`).
Bulk paths (mappings, journal) compile their statements once with SQLAlchemy and send plain
tuples to the driver, because per-row dictionaries cost several times the database's own
work at a million rows. On PostgreSQL the rows of a settle go by COPY and arrays instead of
one round trip each (:mod:`syncline.state.pg_bulk`), in the same transaction.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, false, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import bindparam
from sqlalchemy.sql.dml import Delete, Insert, Update

from syncline.errors import ErrorCause
from syncline.journal import JOURNAL_COLUMNS, JournalRow, PendingItem, PendingKey, journal_row
from syncline.model import ActionCode, Direction, Outcome
from syncline.plan_types import MappingRow
from syncline.state import schema as t
from syncline.state.bulk import CreatedMappings, NewMappingRow, insert_created
from syncline.state.conflicts_store import new_id, now
from syncline.state.fencing import Fence
from syncline.state.mapping_reads import (
    MappingDigests,
    keyed_rows,
    mapping_digests,
    mapping_keys,
    unnoted_keys,
)
from syncline.state.opening import SCHEMA_REVISION, open_engine
from syncline.state.pg_bulk import copy_rows, delete_ids, delete_keys, update_by_id
from syncline.state.runs_store import RunRecords
from syncline.state.settle_guard import insert_mappings

__all__ = ["SCHEMA_REVISION", "JournalRow", "PendingIntent", "StateStore", "now"]

_PAGE = 900  # keys per IN (...) query: below SQLite's and every driver's parameter limits


@dataclass(slots=True)
class PendingIntent:
    batch_id: str
    run_id: int
    scope_id: int
    target: str
    payload: dict[str, Any]


_MAPPING_COLUMNS = ("scope_id", "a_key", "b_key", "a_hash", "b_hash", "a_version", "b_version",
                    "snapshot", "run_id")
_MAPPING_UPDATE = (
    update(t.mappings)
    .where(t.mappings.c.id == bindparam("m_id"))
    .values(a_key=bindparam("m_a_key"), b_key=bindparam("m_b_key"),
            a_hash=bindparam("m_a_hash"), b_hash=bindparam("m_b_hash"),
            a_version=bindparam("m_a_version"), b_version=bindparam("m_b_version"),
            snapshot=bindparam("m_snapshot"), run_id=bindparam("m_run_id"))
)
_MAPPING_UPDATE_NAMES = ("m_a_key", "m_b_key", "m_a_hash", "m_b_hash", "m_a_version",
                         "m_b_version", "m_snapshot", "m_run_id", "m_id")
_MAPPING_UPDATE_COLUMNS = tuple(name[2:] for name in _MAPPING_UPDATE_NAMES[:-1])
"""The columns :data:`_MAPPING_UPDATE` sets, in its order (its rows end with the id)."""
_PENDING_COLUMNS = ("scope_id", "side", "key", "message", "attempts", "first_run", "last_run")
_PENDING_KEY_TYPES = ("integer", "text", "text")
"""The SQL types of a pending item's key columns (scope id, side, key)."""
_CAUSE_COLUMNS = ("scope_id", "side", "key", "position", "cause_kind", "cause_field",
                  "cause_value", "cause_document", "cause_text")
_MAPPING_DELETE = delete(t.mappings).where(t.mappings.c.id == bindparam("m_id"))


def _execute_many(connection: Connection, statement: Insert | Update | Delete,
                  names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Run ``statement`` for ``rows`` (see :func:`_execute_rows`); on PostgreSQL an insert
    (of a table, ``names`` being its columns) is one COPY instead
    (:func:`~syncline.state.pg_bulk.copy_rows`).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused a row or failed.
    """
    if rows and isinstance(statement, Insert) and connection.dialect.name == "postgresql":
        copy_rows(connection, statement.table.name, names, rows)
        return
    _execute_rows(connection, statement, names, rows)


def _execute_rows(connection: Connection, statement: Insert | Update | Delete,
                  names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Run ``statement`` once per row; ``rows`` hold values in the order of ``names``,
    which must name every parameter of the statement.

    Positional drivers (sqlite3, pymysql) get the tuples directly; others get dicts.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused a row or failed.
    """
    if not rows:
        return
    column_keys = list(names) if isinstance(statement, Insert) else None
    compiled = statement.compile(dialect=connection.dialect, column_keys=column_keys)
    if compiled.positional and compiled.positiontup is not None:
        order = [names.index(name) for name in compiled.positiontup]
        if order == list(range(len(names))):
            connection.exec_driver_sql(str(compiled), list(rows))
        else:
            connection.exec_driver_sql(str(compiled),
                                       [tuple(row[i] for i in order) for row in rows])
        return
    connection.execute(statement, [dict(zip(names, row, strict=True)) for row in rows])


def _delete_pending(connection: Connection, keys: Sequence[tuple[int, str, str]]) -> None:
    """Delete the pending items ``keys`` (scope id, side, key) with their causes: one
    statement per table (on PostgreSQL with arrays, elsewhere ``executemany``).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database failed.
    """
    if not keys:
        return
    for table in (t.pending, t.pending_causes):
        if connection.dialect.name == "postgresql":
            delete_keys(connection, table.name, ("scope_id", "side", "key"), _PENDING_KEY_TYPES,
                        keys)
            continue
        _execute_many(connection,
                      delete(table).where(table.c.scope_id == bindparam("p_scope"),
                                          table.c.side == bindparam("p_side"),
                                          table.c.key == bindparam("p_key")),
                      ("p_scope", "p_side", "p_key"), keys)


@dataclass(frozen=True, slots=True)
class _Settle:
    """The arguments of :meth:`StateStore.settle`, kept to settle a second time."""

    scope_id: int
    run_id: int
    journal_run_id: int
    batch_ids: Sequence[str]
    new_mappings: Sequence[MappingRow]
    new_mapping_rows: Sequence[NewMappingRow]
    changed_mappings: Sequence[MappingRow]
    removed_mapping_ids: Sequence[int]
    journal_rows: Sequence[JournalRow]
    pending_add: Sequence[PendingItem]
    pending_remove: Sequence[PendingKey]
    created: Sequence[CreatedMappings]


class StateStore(RunRecords):
    """syncline's own database: scopes, cursors, mappings, runs, journal, conflicts,
    pending items and write intents."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._scope_ids: dict[tuple[str, str], int] = {}

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str) -> StateStore:
        """Connect and bring the schema up to date (see :mod:`syncline.state.opening`).

        Raises:
            StateError: the database cannot be reached, created or migrated.
        """
        return cls(open_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    def fenced(self, fence: Fence) -> StateStore:
        """This store, for one run holding ``fence``: every write it makes checks the fence
        in the same transaction and refuses a stale one with LeaseLost (see
        :mod:`syncline.state.fencing`). Shares the database connections and caches."""
        view = copy.copy(self)
        view.fence = fence
        return view

    # -- scopes and cursors -----------------------------------------------------------------
    def scope_id(self, link: str, stream: str) -> int:
        """The id of (link, stream), created on first use."""
        cached = self._scope_ids.get((link, stream))
        if cached is not None:
            return cached
        query = select(t.scopes.c.id).where(t.scopes.c.link == link, t.scopes.c.stream == stream)
        with self.engine.begin() as connection:
            found = connection.execute(query).scalar()
            if found is None:
                found = new_id(connection.execute(
                    insert(t.scopes).values(link=link, stream=stream)))
        self._scope_ids[(link, stream)] = int(found)
        return int(found)

    def cursor(self, scope_id: int, side: str) -> str | None:
        query = select(t.cursors.c.value).where(t.cursors.c.scope_id == scope_id,
                                                t.cursors.c.side == side)
        with self.engine.connect() as connection:
            value = connection.execute(query).scalar()
        return None if value is None else str(value)

    def set_cursor(self, scope_id: int, side: str, value: str | None) -> None:
        with self.begin() as connection:
            connection.execute(delete(t.cursors).where(t.cursors.c.scope_id == scope_id,
                                                       t.cursors.c.side == side))
            connection.execute(insert(t.cursors).values(scope_id=scope_id, side=side,
                                                        value=value, updated_at=now()))

    # -- mappings ---------------------------------------------------------------------------
    @staticmethod
    def _mapping(row: Any) -> MappingRow:
        snapshot = json.loads(row.snapshot) if row.snapshot else None
        return MappingRow(row.id, row.a_key, row.b_key,
                          bytes(row.a_hash) if row.a_hash is not None else None,
                          bytes(row.b_hash) if row.b_hash is not None else None,
                          row.a_version, row.b_version, snapshot)

    def mappings_for(self, scope_id: int, side: str, keys: Iterable[str]) -> dict[str, MappingRow]:
        """Mappings whose key on ``side`` is one of ``keys``, by that key."""
        column = t.mappings.c.a_key if side == "a" else t.mappings.c.b_key
        wanted = list(dict.fromkeys(keys))
        found: dict[str, MappingRow] = {}
        query = select(t.mappings).where(t.mappings.c.scope_id == scope_id)
        with self.engine.connect() as connection:
            for row in keyed_rows(connection, query, column, wanted):
                mapping = self._mapping(row)
                found[mapping.a_key if side == "a" else mapping.b_key] = mapping
        return found

    def mapping_digests(self, scope_id: int, side: str,
                        keys: Sequence[str]) -> MappingDigests:
        """What a full read compares with, for the mappings whose key on ``side`` is one
        of ``keys`` (see :mod:`syncline.state.mapping_reads`)."""
        return mapping_digests(self.engine, scope_id, side, keys)

    def mapping_keys(self, scope_id: int, side: str,
                     written_before: int) -> Iterator[list[tuple[int, str]]]:
        """Every mapping of the scope as ``(id, key on side)`` in pages, but those run
        ``written_before`` wrote (see :mod:`syncline.state.mapping_reads`)."""
        return mapping_keys(self.engine, scope_id, side, written_before)

    def unnoted_keys(self, scope_id: int, side: str, written_before: int,
                     noted: bytes) -> Iterator[list[str]]:
        """The keys on ``side`` of the scope's mappings whose id is not noted in the marks
        ``noted``, in pages, but those run ``written_before`` wrote (see
        :func:`syncline.state.mapping_reads.unnoted_keys`)."""
        return unnoted_keys(self.engine, scope_id, side, written_before, noted)

    def has_mappings(self, scope_id: int) -> bool:
        """Whether the scope has any mapping (one index probe, where counting them reads
        them all)."""
        query = select(t.mappings.c.id).where(t.mappings.c.scope_id == scope_id).limit(1)
        with self.engine.connect() as connection:
            return connection.execute(query).first() is not None

    def count_mappings(self, scope_id: int) -> int:
        query = select(func.count()).select_from(t.mappings).where(
            t.mappings.c.scope_id == scope_id)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar() or 0)

    def iter_mappings(self, scope_id: int, page: int = 5000,
                      written_before: int | None = None) -> Iterator[list[MappingRow]]:
        """Every mapping of a scope, in pages ordered by id (keyset paging: flat memory);
        with ``written_before``, only those that run did not write."""
        last = 0
        while True:
            query = (select(t.mappings).where(t.mappings.c.scope_id == scope_id,
                                              t.mappings.c.id > last)
                     .order_by(t.mappings.c.id).limit(page))
            if written_before is not None:
                query = query.where((t.mappings.c.run_id.is_(None))
                                    | (t.mappings.c.run_id != written_before))
            with self.engine.connect() as connection:
                rows = [self._mapping(row) for row in connection.execute(query)]
            if not rows:
                return
            last = int(rows[-1].id or 0)
            yield rows

    # -- intents and settling ----------------------------------------------------------------
    def write_intent(self, intent: PendingIntent) -> None:
        """Record the intent of a batch about to be sent to an endpoint.

        Raises:
            LeaseLost: the store is fenced (:meth:`fenced`) and the run's lease is stale or
                was not renewed for more than half its time: the batch must not be sent.
        """
        with self.begin() as connection:  # a lease taken over is refused here first
            if self.fence is not None:
                self.fence.check_fresh()
            connection.execute(insert(t.intents).values(
                batch_id=intent.batch_id, run_id=intent.run_id, scope_id=intent.scope_id,
                target=intent.target, payload=json.dumps(intent.payload, default=str),
                created_at=now()))

    def pending_intents(self, scope_id: int) -> list[PendingIntent]:
        query = select(t.intents).where(t.intents.c.scope_id == scope_id).order_by(
            t.intents.c.created_at)
        with self.engine.connect() as connection:
            return [PendingIntent(row.batch_id, row.run_id, row.scope_id, row.target,
                                  json.loads(row.payload))
                    for row in connection.execute(query)]

    def settle(self, *, scope_id: int, run_id: int, batch_ids: Sequence[str] = (),
               new_mappings: Sequence[MappingRow] = (),
               new_mapping_rows: Sequence[NewMappingRow] = (),
               changed_mappings: Sequence[MappingRow] = (),
               removed_mapping_ids: Sequence[int] = (),
               journal_rows: Sequence[JournalRow] = (),
               pending_add: Sequence[PendingItem] = (),
               pending_remove: Sequence[PendingKey] = (),
               created: Sequence[CreatedMappings] = (),
               journal_run_id: int | None = None) -> None:
        """Record the results of written batches in one transaction: mappings, journal rows
        (see :func:`syncline.journal.journal_row`), pending items to add (with their causes,
        see :func:`syncline.journal.pending_item`) and to clear (``(side, key)``), and the
        removal of the batches' intents. ``new_mapping_rows`` are rows of a mapping insert
        (see :data:`~syncline.state.bulk.NewMappingRow`); ``created``
        holds records created in bulk (their mappings are recorded for ``run_id``, their
        journal rows for ``journal_run_id``, by default ``run_id`` too).

        If the mappings table refuses a pairing (a key paired already), the settle is done
        again with every mapping on its own: see :mod:`~syncline.state.settle_guard`.

        Raises:
            LeaseLost: the store is fenced and the run's lease was taken over (nothing of
                the settle is written).
        """
        parts = _Settle(scope_id, run_id, run_id if journal_run_id is None else journal_run_id,
                        batch_ids, new_mappings, new_mapping_rows, changed_mappings,
                        removed_mapping_ids, journal_rows, pending_add, pending_remove, created)
        try:
            with self.begin() as connection:
                self._settle(connection, parts, guarded=False)
        except IntegrityError:
            with self.begin() as connection:
                self._settle(connection, parts, guarded=True)

    def _settle(self, connection: Connection, p: _Settle, guarded: bool) -> None:
        """The body of :meth:`settle`; ``guarded``: mappings one at a time (see
        :mod:`~syncline.state.settle_guard`)."""
        scope_id, run_id = p.scope_id, p.run_id
        refused_rows: list[JournalRow] = []
        if guarded and connection.dialect.name == "sqlite":
            # sqlite3 opens its transaction only before a data change: a savepoint taken
            # first would be a transaction of its own, committed when released
            connection.execute(delete(t.intents).where(false()))

        postgresql = connection.dialect.name == "postgresql"

        def mappings(statement: Insert | Update, names: Sequence[str],
                     rows: Sequence[tuple[Any, ...]], keys: Sequence[tuple[str, str]]
                     ) -> set[int]:
            if not guarded and postgresql and statement is _MAPPING_UPDATE:
                update_by_id(connection, "mappings", _MAPPING_UPDATE_COLUMNS, rows)
                return set()
            if not guarded:
                _execute_many(connection, statement, names, rows)
                return set()
            refused = insert_mappings(connection, statement, names, rows, keys, _execute_rows)
            refused_rows.extend(journal_row(p.journal_run_id, scope_id, keys[i][0], keys[i][1],
                                            ActionCode.CREATE, Direction.A_TO_B,
                                            Outcome.ERROR, message)
                                for i, message in refused.items())
            return set(refused)

        for batch in p.created:
            if not guarded:
                insert_created(connection, batch, scope_id=scope_id, mapping_run_id=run_id,
                               journal_run_id=p.journal_run_id,
                               mapping_columns=_MAPPING_COLUMNS,
                               journal_columns=JOURNAL_COLUMNS, execute_many=_execute_many)
                continue
            keys = list(zip(batch.a_keys, batch.b_keys, strict=True))
            refused = insert_mappings(connection, insert(t.mappings), _MAPPING_COLUMNS,
                                      batch.mapping_rows(scope_id, run_id), keys,
                                      _execute_rows)
            journal = batch.journal_rows(scope_id, p.journal_run_id)
            for index, message in refused.items():
                journal[index] = journal[index].with_outcome(Outcome.ERROR, message)
            _execute_many(connection, insert(t.journal), JOURNAL_COLUMNS, journal)
        if p.removed_mapping_ids:
            if postgresql:
                delete_ids(connection, "mappings", p.removed_mapping_ids)
            else:
                _execute_many(connection, _MAPPING_DELETE, ("m_id",),
                              [(mapping_id,) for mapping_id in p.removed_mapping_ids])
        if p.changed_mappings:
            mappings(_MAPPING_UPDATE, _MAPPING_UPDATE_NAMES, [
                (m.a_key, m.b_key, m.a_hash, m.b_hash, m.a_version, m.b_version,
                 json.dumps(m.snapshot) if m.snapshot is not None else None, run_id, m.id)
                for m in p.changed_mappings], [(m.a_key, m.b_key) for m in p.changed_mappings])
        if p.new_mappings:
            mappings(insert(t.mappings), _MAPPING_COLUMNS, [
                (scope_id, m.a_key, m.b_key, m.a_hash, m.b_hash, m.a_version, m.b_version,
                 json.dumps(m.snapshot) if m.snapshot is not None else None, run_id)
                for m in p.new_mappings], [(m.a_key, m.b_key) for m in p.new_mappings])
        if p.new_mapping_rows:
            mappings(insert(t.mappings), _MAPPING_COLUMNS, p.new_mapping_rows,
                     [(row[1], row[2]) for row in p.new_mapping_rows])
        journal_rows = list(p.journal_rows) + refused_rows
        if journal_rows:
            _execute_many(connection, insert(t.journal), JOURNAL_COLUMNS, journal_rows)
        if p.pending_remove:
            _delete_pending(connection, [(scope_id, side, key) for side, key in p.pending_remove])
        if p.pending_add:
            self._add_pending(connection, scope_id, run_id, p.pending_add)
        if p.batch_ids:
            connection.execute(delete(t.intents).where(t.intents.c.batch_id.in_(p.batch_ids)))

    @staticmethod
    def _add_pending(connection: Connection, scope_id: int, run_id: int,
                     items: Sequence[PendingItem]) -> None:
        """Store ``items`` (an item stored already counts one attempt more) with their
        causes, in place of the causes stored before."""
        keys = [(item[0], item[1]) for item in items]
        existing: dict[tuple[str, str], tuple[int, int]] = {}
        for start in range(0, len(keys), _PAGE):
            chunk = keys[start:start + _PAGE]
            query = select(t.pending.c.side, t.pending.c.key, t.pending.c.attempts,
                           t.pending.c.first_run).where(
                t.pending.c.scope_id == scope_id,
                t.pending.c.key.in_([key for _, key in chunk]))
            for row in connection.execute(query):
                existing[(row.side, row.key)] = (row.attempts, row.first_run)
        _delete_pending(connection, [(scope_id, side, key) for side, key in keys
                                     if (side, key) in existing])
        rows: list[tuple[Any, ...]] = []
        causes: list[tuple[Any, ...]] = []
        for side, key, message, item_causes in items:
            attempts, first_run = existing.get((side, key), (0, run_id))
            rows.append((scope_id, side, key, message[:2000], attempts + 1, first_run, run_id))
            causes.extend((scope_id, side, key, position, cause.kind, cause.field, cause.value,
                           cause.document, cause.text)
                          for position, cause in enumerate(item_causes))
        _execute_many(connection, insert(t.pending), _PENDING_COLUMNS, rows)
        _execute_many(connection, insert(t.pending_causes), _CAUSE_COLUMNS, causes)

    def pending_keys(self, scope_id: int, side: str) -> list[str]:
        query = select(t.pending.c.key).where(t.pending.c.scope_id == scope_id,
                                              t.pending.c.side == side)
        with self.engine.connect() as connection:
            return [row.key for row in connection.execute(query)]

    def pending_items(self, link: str) -> list[dict[str, Any]]:
        """Records that could not be synced, with their last error, for a link: ``stream``,
        ``scope_id``, ``side``, ``key``, ``message``, ``attempts``, ``first_run``,
        ``last_run`` and ``causes`` (the error's :class:`~syncline.errors.ErrorCause`
        list, in order; empty for an error known only by its message)."""
        query = (select(t.scopes.c.stream, t.pending).join(
            t.scopes, t.scopes.c.id == t.pending.c.scope_id).where(t.scopes.c.link == link)
            .order_by(t.scopes.c.stream, t.pending.c.key))
        causes_query = (select(t.pending_causes).join(
            t.scopes, t.scopes.c.id == t.pending_causes.c.scope_id)
            .where(t.scopes.c.link == link).order_by(t.pending_causes.c.position))
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
            causes: dict[tuple[int, str, str], list[ErrorCause]] = {}
            for cause in connection.execute(causes_query):
                causes.setdefault((cause.scope_id, cause.side, cause.key), []).append(
                    ErrorCause(cause.cause_kind, cause.cause_field, cause.cause_value,
                               cause.cause_document, cause.cause_text))
        for row in rows:
            row["causes"] = causes.get((row["scope_id"], row["side"], row["key"]), [])
        return rows
