"""Diverged pairs: mapped records whose sides hold different values on purpose.

Terms:

diverged pair
    A pair whose two records differ after a sync, by the rules and not by mistake: a
    one-way link's target keeps its own values where the source has none (first sync), and
    an owned field the owner leaves empty does not blank the other side's value (see
    :mod:`syncline.engine.owned`). Its mapping holds different hashes for the two sides, each
    the hash of what that side holds, and a snapshot.
source values
    Per field, the value on the side the field flows from: the owner's for an owned field,
    the source's on a one-way link, else the value both sides hold. A diverged pair's
    mapping keeps them as its snapshot (field tokens, as for ``conflict = merge``).
partial write
    A later change on one side of a diverged pair writes to the other side only the fields
    whose value differs from the snapshot (a field the source cleared changed too), over the
    record the target holds: values the target kept are never overwritten by values the
    source did not change. The applier reads the target first (:func:`fill_partial`).

Pure functions, except :func:`fill_partial` (the applier's reading step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from syncline.engine.decisions import UNSETTLED, Decision, Policy, Write
from syncline.model import ActionCode, Record, Side, canonical_value, content_hash, field_token
from syncline.plan_types import MappingRow, WriteKind

if TYPE_CHECKING:
    from syncline.engine.apply import Applier

__all__ = ["changed_since", "fill_partial", "is_diverged", "keeps_empty", "settle_partial",
           "source_values"]


def is_diverged(mapping: MappingRow) -> bool:
    """Whether ``mapping`` is a settled diverged pair (see the module docstring)."""
    return mapping.snapshot is not None and mapping.a_hash != mapping.b_hash \
        and mapping.a_hash != UNSETTLED and mapping.b_hash != UNSETTLED


def source_values(policy: Policy, records: Mapping[Side, Mapping[str, Any]],
                  merged: Mapping[str, Any]) -> dict[str, Any]:
    """The source values (see the module docstring) of a pair whose sides hold the fields
    ``records`` after a decision that synced ``merged``."""
    values: dict[str, Any] = {}
    source = policy.source
    for name in policy.field_names:
        if name in policy.owned_a:
            values[name] = records[Side.A].get(name)
        elif name in policy.owned_b:
            values[name] = records[Side.B].get(name)
        elif source is not None:
            values[name] = records[source].get(name)
        else:
            values[name] = merged.get(name)
    return values


def keeps_empty(policy: Policy, mapping: MappingRow | None, owner: Side, record: Record,
                name: str) -> bool:
    """Whether the owner's value of the owned field ``name`` is empty and was empty at the
    last sync too (or the pair is being first paired): the other side's value then stays."""
    if canonical_value(record.fields.get(name)) is not None:
        return False
    if mapping is None or UNSETTLED in (mapping.a_hash, mapping.b_hash):
        return True
    if is_diverged(mapping):
        assert mapping.snapshot is not None
        return mapping.snapshot.get(name) == field_token(None)
    return False


def changed_since(policy: Policy, snapshot: Mapping[str, str], fields: Mapping[str, Any],
                  target: Side) -> dict[str, Any]:
    """The synced fields of ``fields`` whose value differs from ``snapshot``, without those
    ``target`` owns (never written there)."""
    owned = policy.owned_by(target)
    return {name: fields.get(name) for name in policy.field_names
            if name not in owned and field_token(fields.get(name)) != snapshot.get(name)}


def _set_hash(decision: Decision, side: Side, value: bytes | None) -> None:
    if side is Side.A:
        decision.a_hash = value
    else:
        decision.b_hash = value


def settle_partial(policy: Policy, decision: Decision, write: Write, target: Record,
                   source: Record) -> None:
    """Turn the partial ``write`` of ``decision`` into a full one, given the record the
    target holds now (``target``) and the changed side's record (``source``): the changed
    fields over the target's values, never a field the target owns. Where an owned field of
    the target was changed on the source, the owner's value is put back there (unless the
    owner's is empty and was so at the last sync, or the source keeps its edits: see
    :attr:`~syncline.engine.decisions.Policy.keeps_edits`). Drops the write where the
    target already holds the result."""
    names = policy.field_names
    side = write.target
    changed = write.fields or {}
    owned = policy.owned_by(side)
    result = {name: target.fields.get(name) for name in names}
    for name, value in changed.items():
        if name not in owned:
            result[name] = value
    result_hash = content_hash(result, names)
    decision.writes.remove(write)
    if result_hash != content_hash(target.fields, names):
        decision.writes.append(Write(
            side, WriteKind.UPDATE, write.key,
            {name: value for name, value in result.items() if name not in owned},
            result_hash, write.code, expected_version=write.expected_version))
    _set_hash(decision, side, result_hash)
    back = {name: target.fields.get(name) for name in owned
            if field_token(source.fields.get(name)) != field_token(target.fields.get(name))
            and not keeps_empty(policy, decision.mapping, side, target, name)}
    source_now = {name: source.fields.get(name) for name in names}
    if back and policy.allows(side.other) and side.other not in policy.keeps_edits:
        source_now.update(back)
        back_hash = content_hash(source_now, names)
        if back_hash != content_hash(source.fields, names):
            key = decision.a_key if side.other is Side.A else decision.b_key
            version = decision.a_version if side.other is Side.A else decision.b_version
            decision.writes.append(Write(
                side.other, WriteKind.UPDATE, key,
                {name: value for name, value in source_now.items()
                 if name not in policy.owned_by(side.other)},
                back_hash, ActionCode.MODIFY, expected_version=version))
            _set_hash(decision, side.other, back_hash)
    records = {side: result, side.other: source_now}
    decision.synced_fields = source_now
    decision.snapshot_fields = source_values(policy, records, source_now) \
        if content_hash(result, names) != content_hash(source_now, names) else None
    if not decision.writes:
        decision.quiet = True  # nothing to write: only the hashes to remember


def fill_partial(applier: Applier, decisions: Sequence[Decision]) -> None:
    """Read the targets of the partial writes of ``decisions`` (one batch per side) and
    settle them (:func:`settle_partial`). A write whose target is gone is dropped (the next
    run sees the deletion).

    Raises:
        whatever the connectors' ``read_keys`` raise.
    """
    wanted: dict[Side, list[tuple[Decision, Write]]] = {Side.A: [], Side.B: []}
    for decision in decisions:
        for write in decision.writes:
            if write.partial and write.key is not None:
                wanted[write.target].append((decision, write))
    for side, items in wanted.items():
        if not items:
            continue
        found = applier.connectors[side].read_keys(applier.stream,
                                                   [str(write.key) for _, write in items])
        applier.translator.from_side(side, list(found.values()))
        for decision, write in items:
            current = found.get(str(write.key))
            source = decision.b_record if side is Side.A else decision.a_record
            if current is None or source is None:
                decision.writes.remove(write)
                continue
            settle_partial(applier.policy, decision, write, current, source)
