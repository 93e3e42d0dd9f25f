"""Settling records created in bulk: their mappings and journal rows, column by column.

A first sync creates up to millions of records on the other side. Their state rows are all
alike: both sides carry the same content hash, the journal says ``A`` (or ``R``), ``ok``,
one direction and one message. :class:`CreatedMappings` keeps them as columns, and
:func:`insert_created` stores them. On SQLite both tables are filled from one JSON
parameter (see :mod:`syncline.sqlite_bulk`): two statements per batch that run in C with the
GIL released, so the settle thread no longer competes with the thread reading and writing
the endpoints. On PostgreSQL the store's insert is one COPY per table and batch
(:mod:`syncline.state.pg_bulk`); other databases get ordinary ``executemany`` rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from syncline.errors import StateError
from syncline.journal import JournalRow, journal_row
from syncline.model import ActionCode, Direction, Outcome
from syncline.sqlite_bulk import json_insert_columns
from syncline.state import schema as t

__all__ = ["CreatedMappings", "NewMappingRow", "insert_created"]

NewMappingRow = tuple[int, str, str, bytes | None, bytes | None, str | None, str | None,
                      str | None, int]
"""A mapping to insert, in the order of the store's mapping columns: scope id, a-key, b-key,
a-hash, b-hash, a-version, b-version, snapshot JSON and the run that wrote it."""


@dataclass
class CreatedMappings:
    """Records created on one side from the other, as columns (one entry per record).

    ``hashes`` is the content hash both sides now share; ``codes`` the journal action
    (``A``, or ``R`` for a forced create); ``snapshots`` the merge snapshot JSON per record,
    or ``None`` when the link keeps none."""

    direction: Direction
    message: str
    a_keys: list[str] = field(default_factory=list)
    b_keys: list[str] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    a_versions: list[str | None] = field(default_factory=list)
    b_versions: list[str | None] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    snapshots: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.a_keys)

    def mapping_rows(self, scope_id: int, run_id: int) -> list[NewMappingRow]:
        """The mapping rows in the column order of ``_MAPPING_COLUMNS`` of the store."""
        snapshots = self.snapshots if self.snapshots is not None else [None] * len(self)
        return [(scope_id, a_key, b_key, digest, digest, a_version, b_version, snapshot, run_id)
                for a_key, b_key, digest, a_version, b_version, snapshot
                in zip(self.a_keys, self.b_keys, self.hashes, self.a_versions, self.b_versions,
                       snapshots, strict=True)]

    def journal_rows(self, scope_id: int, run_id: int) -> list[JournalRow]:
        """The ``ok`` journal rows of the records (see :func:`syncline.journal.journal_row`).
        """
        action = {code: ActionCode(code) for code in set(self.codes)}
        direction, message = self.direction, self.message
        return [journal_row(run_id, scope_id, a_key, b_key, action[code], direction,
                            Outcome.OK, message)
                for a_key, b_key, code in zip(self.a_keys, self.b_keys, self.codes,
                                              strict=True)]


_OK_COLUMNS = 8
"""How many leading journal columns an ``ok`` row fills (the cause columns stay empty)."""

ManyRunner = Callable[[Connection, Any, Sequence[str], Sequence[tuple[Any, ...]]], None]


def insert_created(connection: Connection, created: CreatedMappings, *, scope_id: int,
                   mapping_run_id: int, journal_run_id: int, mapping_columns: Sequence[str],
                   journal_columns: Sequence[str], execute_many: ManyRunner) -> None:
    """Insert the mapping and journal rows of ``created`` (see the module docstring).
    ``execute_many`` is the store's insert of many rows (a COPY on PostgreSQL,
    ``executemany`` elsewhere), used where JSON cannot be.
    ``mapping_columns`` and ``journal_columns`` name the columns of
    :meth:`CreatedMappings.mapping_rows` and :meth:`CreatedMappings.journal_rows`.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database rejects the rows (a duplicate key).
        StateError: the new mappings did not get consecutive ids (cannot happen while
            syncline holds the write lock; the transaction is rolled back).
    """
    count = len(created)
    if not count:
        return
    mappings = None
    if connection.dialect.name == "sqlite":
        snapshots = created.snapshots if created.snapshots is not None else [None] * count
        mappings = json_insert_columns("mappings", mapping_columns, [
            [scope_id] * count, created.a_keys, created.b_keys, created.hashes, created.hashes,
            created.a_versions, created.b_versions, snapshots, [mapping_run_id] * count])
    if mappings is None:
        execute_many(connection, insert(t.mappings), mapping_columns,
                     created.mapping_rows(scope_id, mapping_run_id))
        execute_many(connection, insert(t.journal), journal_columns,
                     created.journal_rows(scope_id, journal_run_id))
        return
    inserted = connection.exec_driver_sql(*mappings)
    codes = set(created.codes)
    if len(codes) == 1 and inserted.rowcount == count:
        # one statement per batch inserts consecutive ids (syncline holds the write lock):
        # the journal rows are copied from the mappings just inserted, with no JSON to parse
        last = int(connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
        copied = connection.exec_driver_sql(_JOURNAL_COPY, (
            journal_run_id, codes.pop(), created.direction.value, created.message,
            last - count + 1, last, scope_id))
        if copied.rowcount != count:
            raise StateError(f"bulk settle expected {count} new mappings with consecutive "
                             f"ids, found {copied.rowcount}; nothing was recorded")
        return
    journal = json_insert_columns("journal", journal_columns[:_OK_COLUMNS], [
        [journal_run_id] * count, [scope_id] * count, created.a_keys, created.b_keys,
        created.codes, [created.direction.value] * count, [Outcome.OK.value] * count,
        [created.message] * count])
    if journal is None:
        execute_many(connection, insert(t.journal), journal_columns,
                     created.journal_rows(scope_id, journal_run_id))
    else:
        connection.exec_driver_sql(*journal)


_JOURNAL_COPY = (
    "INSERT INTO journal (run_id, scope_id, a_key, b_key, action, direction, outcome, message) "
    "SELECT ?1, scope_id, a_key, b_key, ?2, ?3, 'ok', ?4 FROM mappings "
    # '+scope_id' keeps the planner on the id range: through a scope index the copy would
    # read every mapping of the scope, once per batch, and sort them
    "WHERE id BETWEEN ?5 AND ?6 AND +scope_id = ?7 ORDER BY id")
"""Journal rows of a batch of new mappings with one action code, copied from the mappings
(ids ``?5`` to ``?6``)."""
