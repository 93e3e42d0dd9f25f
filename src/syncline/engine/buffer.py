"""What one settle transaction of the applier writes, collected before it is written.

Terms: a **settle** is the state-store transaction after a batch of writes: the mappings,
journal rows and pending items of its results, and the removal of its intent rows (see
:mod:`syncline.engine.apply`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from syncline.journal import JournalRow, PendingItem, PendingKey
from syncline.model import Side
from syncline.plan_types import MappingRow
from syncline.state.bulk import CreatedMappings, NewMappingRow

__all__ = ["DIRECTION_BY_TARGET", "SettleBuffer", "unhex"]

DIRECTION_BY_TARGET = {Side.A: "b>a", Side.B: "a>b"}
"""The journal direction of a write, by the side written to."""


@dataclass
class SettleBuffer:
    """State changes collected for one settle transaction."""

    batch_ids: list[str] = field(default_factory=list)
    new_mappings: list[MappingRow] = field(default_factory=list)
    new_mapping_rows: list[NewMappingRow] = field(default_factory=list)
    changed_mappings: list[MappingRow] = field(default_factory=list)
    removed_mapping_ids: list[int] = field(default_factory=list)
    journal_rows: list[JournalRow] = field(default_factory=list)
    pending_add: list[PendingItem] = field(default_factory=list)
    pending_remove: list[PendingKey] = field(default_factory=list)
    created: list[CreatedMappings] = field(default_factory=list)
    """Records created in bulk (see :meth:`Applier.apply_creates`)."""
    mapping_run_id: int | None = None
    """The run the mappings are recorded for (default: this run); recovery records those of
    an interrupted run's batches for that run, the one that wrote the records."""


def unhex(value: str | None) -> bytes | None:
    """The bytes of a hex text kept in an intent (``None`` stays ``None``)."""
    return bytes.fromhex(value) if value is not None else None

