"""The planner: pure functions from (mappings, changes on a, changes on b, policy) to a plan.

No I/O happens here. The engine reads changes and mappings, calls :func:`plan_chunk`, and
applies the returned :class:`~syncline.engine.decisions.Decision` list (the planner's types
are in :mod:`syncline.engine.decisions`; this module exports them too).

Terms:

echo
    A change whose content hash equals the hash the mapping recorded for that side: it is
    our own write coming back, or a save that changed nothing we sync. Echoes are no change.

(A side change and a decision are defined in :mod:`syncline.engine.decisions`.)
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from syncline.engine.decisions import UNSETTLED, Decision, Policy, SideChange, Write
from syncline.model import ActionCode, Record, Side, canonical_value, field_token
from syncline.plan_types import ConflictPolicy, MappingRow, WriteKind

__all__ = [
    "UNSETTLED",
    "Decision",
    "Policy",
    "SideChange",
    "Write",
    "match_key",
    "merge_fields",
    "natural_key",
    "plan_chunk",
]
def match_key(record: Record, match_fields: Sequence[str]) -> tuple[Any, ...] | None:
    """The natural key of a record for first-sync matching, or ``None`` when any of the
    fields is empty (or none is given). Text compares case-insensitively with outer spaces
    removed."""
    if not match_fields:
        return None
    return natural_key(record.fields.get(name) for name in match_fields)


def natural_key(values: Iterable[Any]) -> tuple[Any, ...] | None:
    """:func:`match_key` of a record whose match fields hold ``values`` (in the order of the
    match fields)."""
    found: list[Any] = []
    for value in values:
        canonical = canonical_value(value)
        if canonical is None:
            return None
        found.append(canonical.strip().casefold() if isinstance(canonical, str) else canonical)
    return tuple(found)


def _newer(a: Record, b: Record) -> Side:
    """The side with the later modification; a on a tie or when either time is unknown."""
    if a.updated_at is not None and b.updated_at is not None \
            and _aware(b.updated_at) > _aware(a.updated_at):
        return Side.B
    return Side.A


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def merge_fields(names: Sequence[str], a: Record, b: Record,
                 snapshot: dict[str, str] | None) -> tuple[dict[str, Any], list[str]]:
    """Per-field three-way merge of two versions against the last synced snapshot.

    A field changed on one side only takes that side's value. A field changed on both sides
    to different values takes the newer record's value and is listed in the second return
    value. Without a snapshot, an empty field takes the other side's value.
    """
    newer = _newer(a, b)
    merged: dict[str, Any] = {}
    clashes: list[str] = []
    for name in names:
        a_value, b_value = a.fields.get(name), b.fields.get(name)
        a_token, b_token = field_token(a_value), field_token(b_value)
        base = snapshot.get(name) if snapshot is not None else None
        if a_token == b_token:
            merged[name] = a_value
        elif snapshot is not None and a_token == base:
            merged[name] = b_value
        elif snapshot is not None and b_token == base:
            merged[name] = a_value
        elif snapshot is None and canonical_value(a_value) is None:
            merged[name] = b_value
        elif snapshot is None and canonical_value(b_value) is None:
            merged[name] = a_value
        else:
            merged[name] = a_value if newer is Side.A else b_value
            clashes.append(name)
    return merged, clashes


def _synced(policy: Policy, fields: dict[str, Any]) -> dict[str, Any]:
    return {name: fields.get(name) for name in policy.field_names}


def _copy(policy: Policy, source: Side, change: SideChange, decision: Decision,
          target_key: str | None, code: ActionCode, expected: str | None) -> None:
    """Add to ``decision`` a write of ``change``'s record to the other side."""
    assert change.record is not None
    target = source.other
    decision.writes.append(Write(
        target=target,
        action=WriteKind.UPDATE if target_key is not None else WriteKind.CREATE,
        key=target_key, fields=_synced(policy, change.record.fields), hash=change.hash,
        code=code, expected_version=expected))
    decision.synced_fields = change.record.fields
    if source is Side.A:
        decision.a_record = change.record
    else:
        decision.b_record = change.record


def _code(change: SideChange, *, create: bool) -> ActionCode:
    if change.forced:
        return ActionCode.FORCED
    return ActionCode.CREATE if create else ActionCode.MODIFY


def _side_hash(decision: Decision, side: Side, value: bytes | None) -> None:
    if side is Side.A:
        decision.a_hash = value
    else:
        decision.b_hash = value


def _resolve_both_modified(policy: Policy, decision: Decision, a: SideChange, b: SideChange,
                           snapshot: dict[str, str] | None, how: str) -> None:
    """Two different versions of one record: decide by the link's policy (a record forced
    on one side only wins: the operator named that side authoritative)."""
    assert a.record is not None and b.record is not None
    if a.forced != b.forced:
        forced_side, forced = (Side.A, a) if a.forced else (Side.B, b)
        _side_hash(decision, forced_side, forced.hash)
        _copy(policy, forced_side, forced, decision,
              decision.b_key if forced_side is Side.A else decision.a_key, ActionCode.FORCED,
              _version(decision, forced_side.other))
        decision.message = f"forced from {forced_side.value} ({how})"
        return
    decision.conflict = True
    winner: Side | None = policy.source
    reason = "one-way link" if winner is not None else ""
    conflict = policy.conflict
    if winner is None and conflict is ConflictPolicy.MANUAL:
        decision.hold = True
        decision.a_record, decision.b_record = a.record, b.record
        decision.message = f"conflict held for review: {how}"
        if decision.mapping is None:  # a new pair: link it, so that neither is copied later
            decision.a_hash, decision.b_hash = a.hash, b.hash
        return
    if winner is None and conflict is ConflictPolicy.MERGE:
        merged, clashes = merge_fields(policy.field_names, a.record, b.record, snapshot)
        merged_record = Record("", merged)
        from syncline.model import content_hash

        merged_hash = content_hash(merged, policy.field_names)
        note = f"; changed on both sides, newest kept: {', '.join(clashes)}" if clashes else ""
        decision.message = f"conflict merged field by field ({how}){note}"
        decision.synced_fields = merged
        for side, change, key, version in ((Side.A, a, decision.a_key, _version(decision, Side.A)),
                                           (Side.B, b, decision.b_key, _version(decision, Side.B))):
            if change.hash == merged_hash:
                _side_hash(decision, side, change.hash)
                continue
            decision.writes.append(Write(side, WriteKind.UPDATE, key,
                                         _synced(policy, merged_record.fields), merged_hash,
                                         ActionCode.FORCED if change.forced else ActionCode.MODIFY,
                                         expected_version=version))
        return
    if winner is None:
        if conflict is ConflictPolicy.A_WINS:
            winner, reason = Side.A, "a wins by policy"
        elif conflict is ConflictPolicy.B_WINS:
            winner, reason = Side.B, "b wins by policy"
        else:
            winner = _newer(a.record, b.record)
            reason = f"newest ({winner.value}) wins"
    source, _target = (a, b) if winner is Side.A else (b, a)
    target_key = decision.b_key if winner is Side.A else decision.a_key
    _side_hash(decision, winner, source.hash)
    _copy(policy, winner, source, decision, target_key,
          ActionCode.FORCED if source.forced else ActionCode.MODIFY,
          _version(decision, winner.other))
    decision.message = f"conflict ({how}): {reason}"


def _version(decision: Decision, side: Side) -> str | None:
    """The version a write to ``side`` expects: the one just read, else the stored one."""
    return decision.a_version if side is Side.A else decision.b_version


def _one_sided(policy: Policy, decision: Decision, side: Side, change: SideChange,
               mapping: MappingRow) -> None:
    """Only ``side`` changed a mapped record."""
    target = side.other
    target_key = mapping.b_key if target is Side.B else mapping.a_key
    if not policy.allows(target):
        # a one-way link's target changed: put the source's version back
        source_hash = mapping.a_hash if target is Side.A else mapping.b_hash
        _side_hash(decision, target, source_hash)
        if change.deleted:
            if side is Side.A:
                decision.a_key = None
            else:
                decision.b_key = None
            decision.writes.append(Write(side, WriteKind.CREATE, None, None, None,
                                         ActionCode.CREATE, fetch=True))
            decision.message = "deleted on the target of a one-way link: restored"
        else:
            from syncline.engine.diverged import is_diverged

            # a diverged pair: the target keeps its values where the source has none
            decision.writes.append(Write(side, WriteKind.UPDATE, change.key, None, None,
                                         ActionCode.MODIFY, fetch=True,
                                         partial=is_diverged(mapping),
                                         expected_version=change.record.version
                                         if change.record else None))
            decision.message = "changed on the target of a one-way link: reverted"
        return
    if change.deleted:
        decision.writes.append(Write(target, WriteKind.DELETE, target_key, None, None,
                                     ActionCode.DELETE,
                                     expected_version=_version(decision, target)))
        decision.forget = True
        decision.message = f"deleted on {side.value}"
        return
    _side_hash(decision, side, change.hash)
    if mapping.snapshot is not None and not change.forced and change.record is not None:
        from syncline.engine.diverged import changed_since, is_diverged

        if is_diverged(mapping):  # write only what changed, over what the target holds
            changed = changed_since(policy, mapping.snapshot, change.record.fields, target)
            decision.writes.append(Write(target, WriteKind.UPDATE, target_key, changed,
                                         None, ActionCode.MODIFY, partial=True,
                                         expected_version=_version(decision, target)))
            decision.synced_fields = change.record.fields
            if side is Side.A:
                decision.a_record = change.record
            else:
                decision.b_record = change.record
            decision.message = f"changed on {side.value}: {', '.join(changed) or 'nothing synced'}"
            return
    _copy(policy, side, change, decision, target_key, _code(change, create=False),
          _version(decision, target))
    decision.message = f"{'forced from' if change.forced else 'changed on'} {side.value}"


def _decide_mapped(policy: Policy, mapping: MappingRow, a: SideChange | None,
                   b: SideChange | None) -> Decision | None:
    a_changed = a is not None and (a.deleted or a.forced or a.hash != mapping.a_hash)
    b_changed = b is not None and (b.deleted or b.forced or b.hash != mapping.b_hash)
    decision = Decision(mapping.a_key, mapping.b_key, mapping, a_hash=mapping.a_hash,
                        b_hash=mapping.b_hash, a_version=mapping.a_version,
                        b_version=mapping.b_version)
    if a is not None and a.record is not None:
        decision.a_version = a.record.version
    if b is not None and b.record is not None:
        decision.b_version = b.record.version
    if (a_changed or b_changed) and mapping.a_key in policy.held:
        decision.hold = True
        decision.a_record = a.record if a is not None and a_changed else None
        decision.b_record = b.record if b is not None and b_changed else None
        decision.message = "changed while its conflict awaits review: held with it"
        return decision
    if mapping.a_hash == UNSETTLED or mapping.b_hash == UNSETTLED:
        # a first pairing not written yet: decide it again as one
        if a is None or b is None:
            return None  # both records are needed; the engine reads the missing one
        if a.record is not None and b.record is not None:
            from syncline.engine.first_pair import decide_first_pair

            return decide_first_pair(policy, a, b, mapping)
    if not a_changed and not b_changed:
        if (decision.a_version, decision.b_version) != (mapping.a_version, mapping.b_version):
            decision.quiet = True  # an echo with a new version: remember the version
            return decision
        return None
    if a_changed and not b_changed:
        assert a is not None
        _one_sided(policy, decision, Side.A, a, mapping)
        return decision
    if b_changed and not a_changed:
        assert b is not None
        _one_sided(policy, decision, Side.B, b, mapping)
        return decision
    assert a is not None and b is not None
    if a.deleted and b.deleted:
        decision.forget = True
        decision.message = "deleted on both sides"
        return decision
    if a.deleted or b.deleted:
        return _delete_versus_change(policy, decision, a, b)
    if a.hash == b.hash and not (a.forced or b.forced):
        decision.a_hash, decision.b_hash = a.hash, b.hash
        decision.synced_fields = a.record.fields if a.record else None
        decision.message = "changed alike on both sides"
        return decision
    source = policy.source
    if source is not None and mapping.snapshot is not None and not (a.forced or b.forced):
        from syncline.engine.diverged import changed_since, is_diverged

        if is_diverged(mapping):  # the source's values and changes; the target's own stay
            change = a if source is Side.A else b
            assert change.record is not None
            owned = policy.owned_by(source.other)
            fields = {name: value for name, value in change.record.fields.items()
                      if name in policy.field_names and name not in owned
                      and canonical_value(value) is not None}
            fields.update(changed_since(policy, mapping.snapshot, change.record.fields,
                                        source.other))
            _one_sided(policy, decision, source, change, mapping)
            write = decision.writes[0]
            assert write.partial
            write.fields = fields
            decision.conflict = True
            decision.message = f"conflict (changed on both sides): one-way link, " \
                               f"{source.value}'s values win"
            return decision
    _resolve_both_modified(policy, decision, a, b, mapping.snapshot, "changed on both sides")
    return decision


def _delete_versus_change(policy: Policy, decision: Decision, a: SideChange,
                          b: SideChange) -> Decision:
    """One side deleted a record the other side changed. The change wins (nothing is lost)
    unless a one-way link or an a-wins / b-wins policy names the deleting side."""
    decision.conflict = True
    deleted_side = Side.A if a.deleted else Side.B
    changed, changed_side = (b, Side.B) if a.deleted else (a, Side.A)
    winner = policy.source
    if winner is None and policy.conflict is ConflictPolicy.A_WINS:
        winner = Side.A
    elif winner is None and policy.conflict is ConflictPolicy.B_WINS:
        winner = Side.B
    if winner is deleted_side:
        target_key = decision.b_key if changed_side is Side.B else decision.a_key
        decision.writes.append(Write(changed_side, WriteKind.DELETE, target_key, None, None,
                                     ActionCode.DELETE))
        decision.forget = True
        decision.message = f"deleted on {deleted_side.value}, changed on " \
                           f"{changed_side.value}: the deletion wins"
        return decision
    if deleted_side is Side.A:
        decision.a_key = None
    else:
        decision.b_key = None
    _side_hash(decision, changed_side, changed.hash)
    _copy(policy, changed_side, changed, decision, None, _code(changed, create=True), None)
    decision.message = f"deleted on {deleted_side.value} but changed on " \
                       f"{changed_side.value}: recreated"
    return decision


def _decide_new_pair(policy: Policy, a: SideChange, b: SideChange) -> Decision:
    """Two unmapped records with the same natural key: link them (see
    :mod:`syncline.engine.first_pair`)."""
    from syncline.engine.first_pair import decide_first_pair

    return decide_first_pair(policy, a, b, None)


def _create_from(policy: Policy, side: Side, change: SideChange) -> Decision | None:
    """A record new on ``side``: create it on the other side (if the link allows)."""
    record = change.record
    assert record is not None
    target = Side.B if side is Side.A else Side.A
    if not policy.allows(target):
        return None
    fields = record.fields
    write = Write(target, WriteKind.CREATE, None,
                  {name: fields.get(name) for name in policy.field_names}, change.hash,
                  ActionCode.FORCED if change.forced else ActionCode.CREATE)
    if side is Side.A:
        return Decision(change.key, None, None, [write], a_hash=change.hash,
                        a_version=record.version, synced_fields=fields, a_record=record,
                        message="new on a")
    return Decision(None, change.key, None, [write], b_hash=change.hash,
                    b_version=record.version, synced_fields=fields, b_record=record,
                    message="new on b")


def plan_chunk(policy: Policy, a_changes: Sequence[SideChange], b_changes: Sequence[SideChange],
               mappings: Sequence[MappingRow]) -> list[Decision]:
    """Plan one chunk of changes.

    ``mappings`` must include every stored mapping whose a-key is among ``a_changes`` or whose
    b-key is among ``b_changes``; the chunk must hold both sides' changes of a mapped pair
    and every unmapped change that could match another by natural key. Each key appears at
    most once per side.
    """
    a_by_key = {change.key: change for change in a_changes}
    b_by_key = {change.key: change for change in b_changes}
    decisions: list[Decision] = []
    mapped_a: set[str] = set()
    mapped_b: set[str] = set()
    for mapping in mappings:
        if mapping.a_key in mapped_a or mapping.b_key in mapped_b:
            continue
        a = a_by_key.get(mapping.a_key)
        b = b_by_key.get(mapping.b_key)
        if a is None and b is None:
            continue
        mapped_a.add(mapping.a_key)
        mapped_b.add(mapping.b_key)
        decision = _decide_mapped(policy, mapping, a, b)
        if decision is not None:
            decisions.append(_owners(policy, decision, a, b))

    unmatched_b: dict[tuple[Any, ...], deque[SideChange]] = defaultdict(deque)
    loose_b: list[SideChange] = []
    for change in b_changes:
        if change.key in mapped_b or change.record is None:
            continue  # deletions of never-synced records need nothing
        loose_b.append(change)
        found = match_key(change.record, policy.match_fields)
        if found is not None:
            unmatched_b[found].append(change)
    paired_b: set[str] = set()
    for change in a_changes:
        if change.record is None or change.key in mapped_a:
            continue
        candidates = None
        if unmatched_b:
            found = match_key(change.record, policy.match_fields)
            candidates = unmatched_b.get(found) if found is not None else None
        if candidates:
            partner = candidates.popleft()
            paired_b.add(partner.key)
            decisions.append(_owners(policy, _decide_new_pair(policy, change, partner),
                                     change, partner))
            continue
        created = _create_from(policy, Side.A, change)
        if created is not None:
            decisions.append(_owners(policy, created, change, None))
    for change in loose_b:
        if change.key in paired_b:
            continue
        created = _create_from(policy, Side.B, change)
        if created is not None:
            decisions.append(_owners(policy, created, None, change))
    return decisions


def _owners(policy: Policy, decision: Decision, a: SideChange | None,
            b: SideChange | None) -> Decision:
    """``decision`` with the fields each side owns kept out of writes to it (see
    :func:`syncline.engine.owned.apply_owners`)."""
    if not policy.has_owners:
        return decision
    from syncline.engine.owned import apply_owners

    return apply_owners(policy, decision, a.record if a is not None else None,
                        b.record if b is not None else None)
