"""The applier's part of owned fields (see :mod:`syncline.engine.owned`): reading the records
a decision needs to settle them.

- :func:`fill_owned`: before writing, read the targets of updates marked ``fill_owned`` and
  settle those decisions with them;
- :func:`read_back_created`: after creates that left the target's owned fields out, read the
  new records back (their hashes are what the mapping stores) and find the owned values to
  put on the other side; :func:`put_back` then writes them, once the creates are settled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from syncline.connectors.base import WriteResult
from syncline.engine.buffer import SettleBuffer
from syncline.engine.owned import create_fields, owned_put_back, settle_owned
from syncline.engine.plan import Decision, Write
from syncline.journal import pending_item
from syncline.model import Record, Side
from syncline.plan_types import WriteKind

if TYPE_CHECKING:
    from syncline.engine.apply import Applier

__all__ = ["UNSETTLED", "fill_owned", "hold_pending", "put_back", "read_back_created",
           "strip_created"]


def _read(applier: Applier, side: Side, keys: list[str]) -> dict[str, Record]:
    """The current records of ``keys`` on ``side``, references in a-space."""
    found = applier.connectors[side].read_keys(applier.stream, keys)
    applier.translator.from_side(side, list(found.values()))
    return found


def strip_created(applier: Applier, decisions: Sequence[Decision]) -> None:
    """Leave the target's owned fields out of creates filled in from fetched records (see
    :func:`~syncline.engine.owned.create_fields`)."""
    for decision in decisions:
        for write in decision.writes:
            if write.action is WriteKind.CREATE and write.fields is not None:
                source = decision.b_record if write.target is Side.A else decision.a_record
                write.fields = create_fields(applier.policy, write.target, write.fields,
                                             source)


def fill_owned(applier: Applier, decisions: Sequence[Decision]) -> None:
    """Settle the decisions with updates marked ``fill_owned``: read the targets' records
    (one batch per side) and rewrite the writes (:func:`~syncline.engine.owned.
    settle_owned`). An update whose target is gone is dropped (the next run sees the
    deletion).

    Raises:
        whatever the connectors' ``read_keys`` raise.
    """
    wanted: dict[Side, list[tuple[Decision, Write]]] = {Side.A: [], Side.B: []}
    for decision in decisions:
        for write in decision.writes:
            if write.fill_owned and write.key is not None:
                wanted[write.target].append((decision, write))
    for target, items in wanted.items():
        if not items:
            continue
        found = _read(applier, target, [str(write.key) for _, write in items])
        for decision, write in items:
            current = found.get(str(write.key))
            source = decision.b_record if target is Side.A else decision.a_record
            if current is None or source is None or write not in decision.writes:
                if write in decision.writes:
                    decision.writes.remove(write)
                continue
            settle_owned(applier.policy, decision, {target: current, target.other: source},
                         source.fields)


def read_back_created(applier: Applier, decisions: Sequence[Decision],
                      outcomes: dict[int, list[tuple[Write, WriteResult]]]
                      ) -> list[tuple[Decision, Write]]:
    """After the creates of ``decisions`` were sent (``outcomes`` by decision index): take
    each record created on a side that owns fields as its system returned it, or read it
    back where the system returned none, so that the mapping stores the hash of what it
    holds; returns the writes of owned values to put on the other side (with the
    decisions they belong to), to be sent by :func:`put_back` once the creates are settled.

    Raises:
        whatever the connectors' ``read_keys`` raise.
    """
    policy = applier.policy
    created: dict[Side, list[tuple[Decision, str]]] = {Side.A: [], Side.B: []}
    returned: dict[Side, dict[str, Record]] = {Side.A: {}, Side.B: {}}
    for index, done in outcomes.items():
        for write, result in done:
            if write.action is WriteKind.CREATE and result.error is None \
                    and result.key is not None and policy.owned_by(write.target):
                created[write.target].append((decisions[index], result.key))
                if result.record is not None:  # already in a-space (hash_returned)
                    returned[write.target][result.key] = result.record
    back: list[tuple[Decision, Write]] = []
    for target, items in created.items():
        if not items:
            continue
        found = returned[target]
        unread = [key for _, key in items if key not in found]
        if unread:
            found = {**found, **_read(applier, target, unread)}
        for decision, key in items:
            record = found.get(key)
            if record is None:
                continue
            found_write = owned_put_back(policy, decision, target, record)
            if found_write is not None:
                back.append((decision, found_write))
    return back


UNSETTLED = "owned fields to put back here (the run ended before they were written)"
"""The pending message of a record still to receive the other side's owned values."""


def hold_pending(applier: Applier, back: list[tuple[Decision, Write]],
                 buffer: SettleBuffer) -> None:
    """Mark the records :func:`put_back` is about to write as pending (settled with the
    creates): a run that dies before the put-back is settled leaves them to be read again
    by the next run, which settles the pair then. The put-back clears the mark."""
    for decision, write in back:
        key = decision.a_key if write.target is Side.A else decision.b_key
        if key is not None:
            buffer.pending_add.append(pending_item(write.target.value, key, UNSETTLED))
            applier.pending[write.target].add(key)


def put_back(applier: Applier, back: list[tuple[Decision, Write]]) -> None:
    """Write the owned values found by :func:`read_back_created` to the other side, as
    updates of the pairs the creates made (their mappings are settled by now)."""
    if not back:
        return
    applier.drain()
    follow: list[Decision] = []
    for side in Side:
        items = [(decision, write) for decision, write in back if write.target is side]
        if not items:
            continue
        created = side.other
        keys = [str(decision.a_key if created is Side.A else decision.b_key)
                for decision, _ in items]
        rows = applier.store.mappings_for(applier.scope_id, created.value, keys)
        for (decision, write), key in zip(items, keys, strict=True):
            mapping = rows.get(key)
            if mapping is None:
                continue
            write.key = mapping.a_key if side is Side.A else mapping.b_key
            follow.append(Decision(
                mapping.a_key, mapping.b_key, mapping, [write], a_hash=mapping.a_hash,
                b_hash=mapping.b_hash, a_version=mapping.a_version,
                b_version=mapping.b_version, synced_fields=decision.synced_fields,
                a_record=decision.a_record, b_record=decision.b_record,
                message=f"owned by {created.value}: its values put back on {side.value}"))
    applier.apply(follow)
