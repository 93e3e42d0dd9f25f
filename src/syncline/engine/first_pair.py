"""First pairings: two existing records linked by natural key and merged without blanking.

Pure, like :mod:`syncline.engine.plan`: no I/O.

Terms:

first pairing
    Two records, one on each side, that no mapping links and that have the same natural key
    (the link's ``match`` fields): the planner links them and makes them equal.
fill-in
    A field empty on one side and filled on the other takes the filled value on both sides:
    an empty value never overwrites a filled one, whatever the policy.
differing field
    A field filled on both sides with different values. The link's ``first_sync`` decides
    (:class:`~syncline.plan_types.FirstSyncPolicy`): ``merge`` follows the ``conflict`` policy
    field by field (``a-wins`` / ``b-wins``: that side's value; ``newest`` and ``merge``: the
    newer record's value, a on a tie or when a time is unknown; ``manual``: held for review),
    ``a-wins`` / ``b-wins`` take that side's value, ``review`` holds the pair for review.
    A record forced on one side only (``syncline force``) wins its differing fields; on a
    one-way link the source does, and only the target is written.
owned fields
    An owned field (:mod:`syncline.engine.owned`) takes its owner's value, not by policy;
    where the owner's value is empty, the other side's filled one stays as it is (it is
    neither blanked nor a fill-in: the owner is never written). A pair left with different
    records (that, or a one-way target keeping values the source lacks) is a diverged pair
    (:mod:`syncline.engine.diverged`): its mapping keeps the source values as snapshot.
unsettled pairing
    A pairing stored before its writes all went through. Its mapping holds :data:`UNSETTLED`
    as both hashes: 16 bytes, which no content hash (12 bytes) equals. The applier stores it
    when a write of a first pairing fails or is refused before it is sent, and when the pair
    is held for review (recovery too, when a run died in the middle of one; a resolution
    of the held pair keeps the other side's value where the chosen side has none), so the
    pairing is state from the moment it is made:
    a retried or forced write, a reference translation, the next full read all find the
    pair, and nothing creates a second record for it. The engine reads both records of an
    unsettled pairing whenever one of them comes up (see
    :class:`~syncline.engine.stream.StreamRun`), and the planner decides the pair again as a
    first pairing, with the mapping's keys — never by natural key, never by copying one
    side over the other.
"""

from __future__ import annotations

from typing import Any

from syncline.engine.diverged import source_values
from syncline.engine.plan import UNSETTLED, Decision, Policy, SideChange, Write, _newer
from syncline.model import ActionCode, Side, canonical_value, content_hash, field_token
from syncline.plan_types import ConflictPolicy, FirstSyncPolicy, MappingRow, WriteKind

__all__ = ["UNSETTLED", "decide_first_pair", "is_unsettled", "unsettled_mapping"]



def is_unsettled(mapping: MappingRow) -> bool:
    """Whether ``mapping`` is an unsettled pairing (see the module docstring)."""
    return mapping.a_hash == UNSETTLED or mapping.b_hash == UNSETTLED


def unsettled_mapping(mapping_id: int | None, a_key: str, b_key: str, a_version: str | None,
                      b_version: str | None) -> MappingRow:
    """The mapping row that remembers an unsettled pairing of ``a_key`` and ``b_key``."""
    return MappingRow(mapping_id, a_key, b_key, UNSETTLED, UNSETTLED, a_version, b_version,
                      None)


def _empty(value: Any) -> bool:
    return canonical_value(value) is None


def _winner(policy: Policy, a: SideChange, b: SideChange) -> tuple[Side | None, str]:
    """Which side's value a differing field takes, and why; ``None``: hold for review."""
    assert a.record is not None and b.record is not None
    if a.forced != b.forced:
        side = Side.A if a.forced else Side.B
        return side, f"forced from {side.value}"
    if policy.source is not None:
        return policy.source, f"one-way link: {policy.source.value} wins"
    first_sync = policy.first_sync
    if first_sync is FirstSyncPolicy.A_WINS:
        return Side.A, "a wins by first_sync"
    if first_sync is FirstSyncPolicy.B_WINS:
        return Side.B, "b wins by first_sync"
    if first_sync is FirstSyncPolicy.REVIEW:
        return None, "first_sync = review"
    conflict = policy.conflict
    if conflict is ConflictPolicy.A_WINS:
        return Side.A, "a wins by policy"
    if conflict is ConflictPolicy.B_WINS:
        return Side.B, "b wins by policy"
    if conflict is ConflictPolicy.MANUAL:
        return None, "conflict = manual"
    side = _newer(a.record, b.record)
    return side, f"newest {side.value} wins"


def decide_first_pair(policy: Policy, a: SideChange, b: SideChange,
                      mapping: MappingRow | None) -> Decision:
    """Link two records first paired by natural key (``mapping`` is ``None``), or an
    unsettled pairing (``mapping`` holds it), and merge them as the module docstring says.

    Each side whose content differs from the merged values gets one write of them (on a
    one-way link only the target); the mapping then holds the merged hash for both. The
    journal message names the fields filled in per side and the differing ones.
    """
    assert a.record is not None and b.record is not None
    decision = Decision(a.key, b.key, mapping, a_version=a.record.version,
                        b_version=b.record.version, pairing=True,
                        a_record=a.record, b_record=b.record)
    fields = ", ".join(policy.match_fields) or "natural key"
    how = f"matched by {fields}" if mapping is None \
        else f"paired by {fields} earlier, not yet written"
    if a.hash == b.hash and not (a.forced or b.forced):
        decision.a_hash, decision.b_hash = a.hash, b.hash
        decision.synced_fields = a.record.fields
        decision.message = f"{how}; already equal"
        return decision
    a_fields, b_fields = a.record.fields, b.record.fields
    filled: dict[Side, list[str]] = {Side.A: [], Side.B: []}
    differing: list[str] = []
    owner_wins: list[str] = []
    kept: list[str] = []
    merged: dict[str, Any] = {}
    for name in policy.field_names:
        a_value, b_value = a_fields.get(name), b_fields.get(name)
        owner = Side.A if name in policy.owned_a else Side.B if name in policy.owned_b \
            else None
        if field_token(a_value) == field_token(b_value):
            merged[name] = a_value
        elif owner is not None and _empty(a_value if owner is Side.A else b_value):
            merged[name] = b_value if owner is Side.A else a_value
            kept.append(f"{name} (owned by {owner.value}, empty there)")
        elif _empty(a_value):
            merged[name] = b_value
            filled[Side.A].append(name)
        elif _empty(b_value):
            merged[name] = a_value
            filled[Side.B].append(name)
        elif owner is not None:
            merged[name] = a_value if owner is Side.A else b_value
            if policy.allows(owner.other):
                owner_wins.append(f"{name} (owned by {owner.value})")
        else:
            differing.append(name)
    winner, reason = _winner(policy, a, b) if differing else (Side.A, "")
    notes = [how] + [f"filled in on {side.value}: {', '.join(names)}"
                     for side, names in filled.items() if names and policy.allows(side)]
    if owner_wins:
        notes.append(f"owner's value: {', '.join(owner_wins)}")
    if kept:
        notes.append(f"left as they are: {', '.join(kept)}")
    if differing:
        decision.conflict = True
        notes.append(f"differing: {', '.join(differing)} ({reason})")
    if winner is None:  # linked all the same (unsettled), so that neither is copied later
        decision.hold = True
        decision.message = "; ".join(notes) + ": held for review"
        return decision
    source = a_fields if winner is Side.A else b_fields
    for name in differing:
        merged[name] = source.get(name)
    decision.message = "; ".join(notes)
    decision.synced_fields = merged
    merged_hash = content_hash(merged, policy.field_names)
    code = ActionCode.FORCED if a.forced or b.forced else ActionCode.MODIFY
    held: dict[Side, dict[str, Any]] = {}
    for side, change in ((Side.A, a), (Side.B, b)):
        if change.hash == merged_hash or not policy.allows(side):
            if side is Side.A:
                decision.a_hash = change.hash
            else:
                decision.b_hash = change.hash
            held[side] = change.record.fields if change.record is not None else {}
            continue
        held[side] = merged
        decision.writes.append(Write(side, WriteKind.UPDATE, change.key, dict(merged),
                                     merged_hash, code,
                                     expected_version=change.record.version
                                     if change.record is not None else None))
    if content_hash(held[Side.A], policy.field_names) \
            != content_hash(held[Side.B], policy.field_names):
        # a one-way target kept values the source lacks: remember what the source has
        decision.snapshot_fields = source_values(policy, held, merged)
    return decision
