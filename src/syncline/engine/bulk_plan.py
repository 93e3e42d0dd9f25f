"""The planner's bulk-create form: records new on one side with nothing to pair with on the
other, planned as one columnar batch of creates. Pure functions, like
:mod:`syncline.engine.plan`.

Terms:

create batch
    Records new on one side, each to be created on the other (:class:`CreateBatch`), held
    column by column: what :func:`~syncline.engine.plan.plan_chunk` would decide for
    unmapped records with no partner, without a decision object per record.
column changes
    A columnar page read from one side (:class:`~syncline.model.RecordColumns`) as changes
    (:class:`ColumnChanges`): only made while no record of the stream is mapped yet, so
    every record in it is new there, none deleted, none forced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

from syncline.engine.plan import Policy, SideChange
from syncline.model import Record, RecordColumns, Side

__all__ = ["ColumnChanges", "CreateBatch", "plan_column_creates", "plan_creates"]


@dataclass(slots=True)
class ColumnChanges:
    """A columnar page as changes (see the module docstring); ``hashes[n]`` is the content
    hash of record ``n`` over the policy's field names."""

    page: RecordColumns
    hashes: list[bytes]

    def __len__(self) -> int:
        return len(self.page)

    @property
    def keys(self) -> list[str]:
        return self.page.keys

    def changes(self) -> list[SideChange]:
        """The same page as one :class:`~syncline.engine.plan.SideChange` per record."""
        return [SideChange(record.key, record, digest)
                for record, digest in zip(self.page.records(), self.hashes, strict=True)]

    def subset(self, rows: Sequence[int]) -> ColumnChanges:
        """The records at positions ``rows`` (in that order), still column by column."""
        page = self.page
        return ColumnChanges(
            RecordColumns([page.keys[row] for row in rows], page.names,
                          [[column[row] for row in rows] for column in page.columns]),
            [self.hashes[row] for row in rows])


@dataclass(slots=True)
class CreateBatch:
    """Records new on ``source``, each to be created on the other side (see the module
    docstring). Record ``n`` has the key ``keys[n]``, content hash ``hashes[n]`` (``None``:
    not known yet), version ``versions[n]``, journal action code ``codes[n]`` (A, or R when
    forced) and, for each synced field ``names[i]``, the value ``columns[i][n]``.
    ``records`` are the source records, where the batch was planned from records (the
    reference translation needs them)."""

    source: Side
    keys: list[str]
    hashes: list[bytes | None]
    versions: list[str | None]
    codes: list[str]
    names: tuple[str, ...]
    columns: list[Sequence[Any]]
    records: list[Record] | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self) -> list[dict[str, Any]]:
        """Each record's synced fields as a dict, in order."""
        names = self.names
        return [dict(zip(names, values, strict=True))
                for values in zip(*self.columns, strict=True)]

    @classmethod
    def merge(cls, batches: Sequence[CreateBatch]) -> CreateBatch:
        """One batch holding ``batches`` (all from the same source, with the same field
        names) in order."""
        first = batches[0]
        if len(batches) == 1:
            return first
        records: list[Record] | None = None
        if all(batch.records is not None for batch in batches):
            records = list(chain.from_iterable(batch.records or () for batch in batches))
        return cls(first.source,
                   list(chain.from_iterable(batch.keys for batch in batches)),
                   list(chain.from_iterable(batch.hashes for batch in batches)),
                   list(chain.from_iterable(batch.versions for batch in batches)),
                   list(chain.from_iterable(batch.codes for batch in batches)),
                   first.names,
                   [list(chain.from_iterable(parts))
                    for parts in zip(*(batch.columns for batch in batches), strict=True)],
                   records)


def plan_creates(policy: Policy, source: Side, changes: Sequence[SideChange]) -> CreateBatch | None:
    """Plan ``changes`` (all unmapped, with no possible partner on the other side) as
    creates, or ``None`` when the link does not write to the other side, the stream has
    owned fields (their creates leave them out and read the new records back: the record
    path, see :mod:`syncline.engine.owned`) or any change is a deletion (then
    :func:`~syncline.engine.plan.plan_chunk` must be used)."""
    if not policy.allows(source.other) or policy.has_owners:
        return None
    records: list[Record] = []
    for change in changes:
        if change.record is None:
            return None
        records.append(change.record)
    field_maps = [record.fields for record in records]
    return CreateBatch(
        source, [change.key for change in changes], [change.hash for change in changes],
        [record.version for record in records],
        ["R" if change.forced else "A" for change in changes], policy.field_names,
        [list(map(dict.get, field_maps, repeat(name))) for name in policy.field_names],
        records)


def plan_column_creates(policy: Policy, source: Side,
                        changes: ColumnChanges) -> CreateBatch | None:
    """Plan a columnar page of changes (all new, with no possible partner on the other
    side) as creates, or ``None`` when the link does not write to the other side."""
    if not policy.allows(source.other):
        return None
    count = len(changes)
    return CreateBatch(source, changes.keys, list(changes.hashes), [None] * count,
                       ["A"] * count, policy.field_names,
                       [changes.page.column(name) for name in policy.field_names])
