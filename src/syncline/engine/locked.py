"""Settling a write the target refused because the record is locked there.

A **locked** record is one the target system no longer lets change as asked: an invoice
paid, part-paid or voided in the books (the connector says so with a
:class:`~syncline.errors.RecordLocked` result, naming the document by its number). Such a
change is not an error to retry: the record is journalled ``skipped`` with the connector's
message as a warning, any pending error of the record is cleared, and the mapping records
the source's change as dealt with, and the target as it holds it now: what the mapping knew
of it, or, where the run read the target because it changed there (the books' edit that a
one-way stream would put the source's values back over), the hash and version of that
record. So the next run sends nothing for it and warns no more, and a later change of the
source is tried (and, while the document stays locked, skipped) again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncline.errors import RecordLocked
from syncline.journal import journal_row
from syncline.model import Direction, Outcome, Side, content_hash

if TYPE_CHECKING:
    from syncline.engine.apply import Applier
    from syncline.engine.buffer import SettleBuffer
    from syncline.engine.plan import Decision, Write

__all__ = ["settle_locked"]


def settle_locked(applier: Applier, decision: Decision, write: Write, error: RecordLocked,
                  buffer: SettleBuffer) -> None:
    """Journal ``write`` of ``decision`` as skipped with ``error``'s message (a warning).
    The decision keeps the target's hash and version as the mapping had them (the planner
    starts from those) or, where the run read the target record, the hash and version of
    that record; the mapping keeps its snapshot: the target holds what it held."""
    current = decision.b_record if write.target is Side.B else decision.a_record
    if current is not None and current.key == write.key:
        held = content_hash(current.fields, applier.policy.field_names)
        if write.target is Side.B:
            decision.b_hash, decision.b_version = held, current.version
        else:
            decision.a_hash, decision.a_version = held, current.version
    decision.synced_fields = None
    decision.snapshot_fields = None
    applier.counts.skipped += 1
    applier.counts.warnings += 1
    buffer.journal_rows.append(journal_row(
        applier.run_id, applier.scope_id, decision.a_key, decision.b_key, write.code,
        Direction.towards(write.target), Outcome.SKIPPED, error.message, error.cause))
