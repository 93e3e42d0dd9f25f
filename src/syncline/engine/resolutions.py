"""Applying conflicts that a person resolved (``syncline conflicts LINK --resolve``).

A held conflict keeps both versions of a record pair and leaves the mapping as it was. Once
resolved, the resolution says which side's version wins (``{"side": "a"}``) or gives the
value per field (``{"fields": {...}}``, fields not named keep side a's value). The next run
of the link reads both records as they are now, writes the chosen values where they differ,
and marks the conflict applied. A held first pairing (two records paired by natural key,
whose mapping is unsettled until then, see :mod:`syncline.engine.first_pair`) keeps the
other side's value where the chosen side has none.
"""

from __future__ import annotations

from typing import Any

from syncline.engine.apply import Applier
from syncline.engine.first_pair import is_unsettled
from syncline.engine.owned import settle_owned
from syncline.engine.plan import Decision, Policy, Write
from syncline.model import ActionCode, Record, Side, canonical_value, content_hash
from syncline.plan_types import WriteKind
from syncline.state.store import StateStore

__all__ = ["apply_resolutions"]


def _resolved_fields(resolution: dict[str, Any], a: Record, b: Record,
                     names: tuple[str, ...], first_pairing: bool) -> dict[str, Any]:
    """The values the resolution chose. A side chosen for a first pairing (see
    :mod:`syncline.engine.first_pair`) wins the values both sides hold; where it has none,
    the other side's value stays (an empty value never overwrites a filled one)."""
    side = resolution.get("side")
    if side in ("a", "b"):
        winner, other = (a, b) if side == "a" else (b, a)
        chosen = {name: winner.fields.get(name) for name in names}
        if first_pairing:
            for name in names:
                if canonical_value(chosen[name]) is None:
                    chosen[name] = other.fields.get(name)
        return chosen
    chosen = resolution.get("fields") or {}
    return {name: chosen.get(name, a.fields.get(name)) for name in names}


def apply_resolutions(*, store: StateStore, link: str, stream: str, scope_id: int,
                      policy: Policy, applier: Applier) -> int:
    """Write the resolved conflicts of one stream; returns how many were applied.

    A conflict whose record is gone on either side is closed without writing (the deletion
    is synced as usual).
    """
    resolved = [row for row in store.conflicts(link, status="resolved")
                if row["stream"] == stream]
    if not resolved:
        return 0
    a_records = applier.connectors[Side.A].read_keys(stream, [row["a_key"] for row in resolved])
    b_records = applier.connectors[Side.B].read_keys(stream, [row["b_key"] for row in resolved])
    applier.translator.from_side(Side.A, list(a_records.values()))
    applier.translator.from_side(Side.B, list(b_records.values()))
    mappings = store.mappings_for(scope_id, "a", [row["a_key"] for row in resolved])
    decisions: list[tuple[int, tuple[bytes | None, bytes | None], Decision]] = []
    for row in resolved:
        a, b = a_records.get(row["a_key"]), b_records.get(row["b_key"])
        mapping = mappings.get(row["a_key"])
        if a is None or b is None or mapping is None:
            store.close_conflict(int(row["id"]))
            continue
        fields = _resolved_fields(row["resolution"] or {}, a, b, policy.field_names,
                                  is_unsettled(mapping))
        digest = content_hash(fields, policy.field_names)
        decision = Decision(a.key, b.key, mapping, a_hash=mapping.a_hash,
                            b_hash=mapping.b_hash, a_version=a.version, b_version=b.version,
                            synced_fields=fields, a_record=a, b_record=b,
                            message=f"conflict #{row['id']} resolved by "
                                    f"{row.get('resolved_by') or 'a person'}")
        for side, record, key in ((Side.A, a, a.key), (Side.B, b, b.key)):
            current = content_hash(record.fields, policy.field_names)
            if current == digest:
                if side is Side.A:
                    decision.a_hash = digest
                else:
                    decision.b_hash = digest
                continue
            decision.writes.append(Write(side, WriteKind.UPDATE, key, dict(fields), digest,
                                         ActionCode.MODIFY, expected_version=record.version))
        planned: tuple[bytes | None, bytes | None] = (digest, digest)
        if policy.has_owners:  # owned fields keep their owner's value, whatever was chosen
            # (an empty one of a first pairing leaves the other side's value: the two
            # sides may then differ, see syncline.engine.diverged)
            settle_owned(policy, decision, {Side.A: a, Side.B: b}, fields)
            planned = (decision.a_hash, decision.b_hash)
            for write in decision.writes:  # set again once the write went through
                if write.target is Side.A:
                    decision.a_hash = mapping.a_hash
                else:
                    decision.b_hash = mapping.b_hash
        decisions.append((int(row["id"]), planned, decision))
    applier.apply([decision for _, _, decision in decisions])
    applier.drain()
    applied = 0
    for conflict_id, planned, decision in decisions:
        # closed only once both sides hold the chosen values: a write that failed (or a run
        # that died) leaves the resolution to be applied by the next run
        if (decision.a_hash, decision.b_hash) == planned:
            store.close_conflict(conflict_id)
            applied += 1
    return applied
