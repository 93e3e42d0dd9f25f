"""Owned fields: fields of a stream that one side of a link owns.

Terms:

owner
    The side that owns a field of a stream (``[links.NAME.owners.STREAM]``, or a field the
    side's connector reads but cannot write: :meth:`~syncline.connectors.base.Connector.
    read_only_fields`). A field owned by side X is never written to X from the other side;
    its value flows from X to the other side only.
settled record
    What both sides hold once a decision is applied: the record the planner chose (the
    changed side's, or the conflict's winner, or the merge), with each owned field holding
    its owner's value. A write to X carries the settled record without X's owned fields, so
    X then holds the settled record too, and the content hash stored for both sides is the
    settled record's hash. Where a side already holds the settled record it is not written;
    where the non-owner side changed an owned field, the owner's value is written back there.
    Except: an owner's empty value that was empty at the last sync too (or at a first
    pairing) leaves the other side's value as it is (:func:`~syncline.engine.diverged.
    keeps_empty`); each side's stored hash is then the hash of what it holds.

The planner (:func:`apply_owners`) settles what it can from the records it has. An update of
a side whose record the planner does not have (only the other side changed) is marked
``fill_owned``: the applier reads that record first and settles then (:func:`settle_owned`).
A create on X leaves X's owned fields out (X's defaults apply) and carries the create-only
fields (:attr:`~syncline.engine.decisions.Policy.create_only`); the applier reads the new
record back and writes X's values of them to the other side where they differ
(:func:`owned_put_back`). Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any

from syncline.engine.diverged import keeps_empty, source_values
from syncline.engine.plan import Decision, Policy, Write
from syncline.errors import ConfigError
from syncline.model import ActionCode, Record, Side, content_hash
from syncline.plan_types import WriteKind

if TYPE_CHECKING:  # the planner calls this module: it must not load the config (pydantic)
    from syncline.config import LinkConfig

__all__ = ["apply_owners", "create_fields", "owned_put_back", "owners_for", "settle_owned",
           "unwritable", "without_owned"]


def owners_for(link_name: str, link: LinkConfig, stream: str, shared: frozenset[str],
               read_only: Mapping[Side, frozenset[str]]) -> dict[Side, frozenset[str]]:
    """The synced fields each side owns for ``stream``: the link's configured owners plus
    each side's read-only fields. A field configured as owned by one side that the other
    side cannot write is written on neither side: the caller leaves it out of the synced
    fields (see :func:`unwritable`).

    Raises:
        ConfigError: a configured owned field is not mapped by both endpoints (naming the
            key, with a suggestion).
    """
    configured = link.owners.get(stream)
    owned: dict[Side, set[str]] = {Side.A: set(), Side.B: set()}
    for side in Side:
        names = getattr(configured, side.value) if configured is not None else []
        for name in names:
            if name not in shared:
                close = get_close_matches(name, sorted(shared), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(
                    f"field '{name}' is not mapped by both endpoints '{link.a}' and "
                    f"'{link.b}'{hint}; fields both map: {', '.join(sorted(shared))}",
                    key=f"links.{link_name}.owners.{stream}.{side.value}")
            owned[side].add(name)
    for side in Side:
        owned[side] |= (read_only[side] & shared) - owned[side.other]
    return {side: frozenset(names) for side, names in owned.items()}


def unwritable(link: LinkConfig, stream: str, read_only: Mapping[Side, frozenset[str]]
               ) -> frozenset[str]:
    """The fields of ``stream`` written on neither side: read-only on both, or owned by one
    side in the link's config and read-only on the other (each side keeps its own value:
    the order system's status and the books' own status). They are not synced."""
    configured = link.owners.get(stream)
    found = set(read_only[Side.A] & read_only[Side.B])
    if configured is not None:
        found |= set(configured.a) & read_only[Side.B]
        found |= set(configured.b) & read_only[Side.A]
    return frozenset(found)


def without_owned(policy: Policy, target: Side, fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` without the fields ``target`` owns (what may be written to ``target``)."""
    owned = policy.owned_by(target)
    return {name: value for name, value in fields.items() if name not in owned}


def create_fields(policy: Policy, target: Side, fields: Mapping[str, Any],
                  source: Record | None) -> dict[str, Any]:
    """What a create on ``target`` carries of ``fields`` (the synced fields of the source
    record ``source``): without the fields ``target`` owns unless it is created with them
    (:attr:`~syncline.engine.decisions.Policy.creates_owned`), with the create-only fields
    of ``source``."""
    out = dict(fields) if target in policy.creates_owned \
        else without_owned(policy, target, fields)
    if source is not None:
        out.update({name: source.fields.get(name) for name in policy.create_only
                    if name in source.fields})
    return out


def _settled(policy: Policy, records: Mapping[Side, Record], base: Mapping[str, Any]
             ) -> dict[str, Any]:
    """``base`` (the synced fields) with each owned field holding its owner's value."""
    final = {name: base.get(name) for name in policy.field_names}
    for side in Side:
        for name in policy.owned_by(side):
            final[name] = records[side].fields.get(name)
    return final


def _set_hash(decision: Decision, side: Side, value: bytes | None) -> None:
    if side is Side.A:
        decision.a_hash = value
    else:
        decision.b_hash = value


def settle_owned(policy: Policy, decision: Decision, records: Mapping[Side, Record],
                 base: Mapping[str, Any]) -> None:
    """Rewrite the updates of ``decision``, whose current records on both sides are
    ``records``, so that both sides end up holding the settled record of ``base`` (see the
    module docstring): a side is written only where its record differs (or its write was
    forced), never with the fields it owns, and never against the link's direction. A side
    that keeps its edits (:attr:`~syncline.engine.decisions.Policy.keeps_edits`) and was
    the one that changed is left as it is, unless the pair is in conflict."""
    names = policy.field_names
    final = _settled(policy, records, base)
    results = {side: dict(final) for side in Side}
    for owner in Side:
        for name in policy.owned_by(owner):
            if keeps_empty(policy, decision.mapping, owner, records[owner], name):
                results[owner.other][name] = records[owner.other].fields.get(name)
    prior = {write.target: write for write in decision.writes
             if write.action is WriteKind.UPDATE}
    decision.writes = [write for write in decision.writes
                       if write.action is not WriteKind.UPDATE]
    held: dict[Side, dict[str, Any]] = {}
    for side in Side:
        current = content_hash(records[side].fields, names)
        result_hash = content_hash(results[side], names)
        old = prior.get(side)
        forced = old is not None and old.code is ActionCode.FORCED
        kept = side in policy.keeps_edits and old is None and not decision.conflict
        if (current == result_hash and not forced) or not policy.allows(side) or kept:
            _set_hash(decision, side, current)
            held[side] = records[side].fields
            continue
        key = decision.a_key if side is Side.A else decision.b_key
        version = decision.a_version if side is Side.A else decision.b_version
        decision.writes.append(Write(
            side, WriteKind.UPDATE, key, without_owned(policy, side, results[side]),
            result_hash, old.code if old is not None else ActionCode.MODIFY,
            expected_version=old.expected_version if old is not None else version))
        _set_hash(decision, side, result_hash)
        held[side] = results[side]
    decision.synced_fields = final
    decision.snapshot_fields = source_values(policy, held, final) \
        if decision.a_hash != decision.b_hash else None
    decision.a_record, decision.b_record = records[Side.A], records[Side.B]
    if not decision.writes:
        decision.quiet = True  # nothing to write: only the hashes to remember


def apply_owners(policy: Policy, decision: Decision, a_record: Record | None,
                 b_record: Record | None) -> Decision:
    """``decision`` (planned without regard to owners) made to respect them, given the
    current records of the pair where the chunk had them (see the module docstring)."""
    if decision.hold or decision.forget or not decision.writes:
        return decision
    records = {Side.A: a_record, Side.B: b_record}
    updates: list[Write] = []
    for write in decision.writes:
        if write.action is WriteKind.CREATE and write.fields is not None:
            fields = create_fields(policy, write.target, write.fields,
                                   records[write.target.other])
            if any(name not in fields for name in write.fields):  # owned fields left out
                write.hash = content_hash(fields, policy.field_names)
            write.fields = fields
        elif write.action is WriteKind.UPDATE and not write.partial:
            updates.append(write)  # a partial write respects owners when it is settled
    if not updates:
        return decision
    if all(write.fields is not None for write in updates) \
            and a_record is not None and b_record is not None:
        settle_owned(policy, decision, {Side.A: a_record, Side.B: b_record},
                     updates[0].fields or {})
        return decision
    for write in updates:
        if records[write.target] is None or write.fields is None:
            write.fill_owned = True  # the applier reads the target's record and settles
            if write.fields is not None:
                write.fields = without_owned(policy, write.target, write.fields)
    return decision


def owned_put_back(policy: Policy, decision: Decision, created: Side, record: Record
                   ) -> Write | None:
    """After a create on side ``created`` that left its owned fields out, ``record`` is
    what that side holds now: remember its hash in the create's write, and return the
    write of its owned values to the other side where they differ there (``None``: no
    write needed). Until that write is settled, the mapping holds no hash for the other
    side, so that a run that dies before it leaves the pair to be settled again."""
    source = created.other
    source_record = decision.a_record if source is Side.A else decision.b_record
    names = policy.field_names
    for write in decision.writes:
        if write.target is created and write.action is WriteKind.CREATE:
            write.hash = content_hash(record.fields, names)
    if source_record is None or not policy.allows(source):
        return None
    final = _settled(policy, {created: record, source: source_record}, source_record.fields)
    final_hash = content_hash(final, names)
    if content_hash(source_record.fields, names) == final_hash:
        return None
    decision.synced_fields = final
    _set_hash(decision, source, None)  # not settled until the values are put back
    key = decision.a_key if source is Side.A else decision.b_key
    version = decision.a_version if source is Side.A else decision.b_version
    return Write(source, WriteKind.UPDATE, key, without_owned(policy, source, final),
                 final_hash, ActionCode.MODIFY, expected_version=version)
