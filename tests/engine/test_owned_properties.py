"""Owned fields at the planner, as hypothesis properties: whatever the conflict policy, the
direction, the owners, the pair's history and the changes on each side, an owned field never
flows the wrong way.

Each example plans one pair with :func:`~syncline.engine.plan.plan_chunk` and completes its
writes the way the applier does before it sends them (the one-way repairs filled from the
source record, the partial writes of a diverged pair and the updates that need the target's
owned values settled against the target's current record: :func:`~syncline.engine.fetched.
fill_fetched`, :func:`~syncline.engine.diverged.fill_partial`, :func:`~syncline.engine.
owned_apply.fill_owned`), reading the current records from the example itself. Checked on
every write that results:

- it never carries a field its target owns (a create carries them only on a side created
  with its owned fields, :attr:`~syncline.engine.decisions.Policy.creates_owned`), nor a
  value of such a field from the other side;
- it never goes against the direction (a one-way link's source is never written);
- a create-only field goes with creates only;
- on a two-way link, a side that keeps its edits and was the only one to change is not
  updated;
- the non-owner changing only fields the other side owns is no conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.engine.diverged import fill_partial
from syncline.engine.fetched import fill_fetched
from syncline.engine.owned_apply import fill_owned, strip_created
from syncline.engine.plan import Decision, Policy, SideChange, plan_chunk
from syncline.model import Record, Side, content_hash, field_token
from syncline.plan_types import ConflictPolicy, LinkDirection, MappingRow, WriteKind

FIELDS = ("email", "name", "phone", "total")
CREATE_ONLY = "status"
VALUES = st.sampled_from(["x", "y", None])
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Current:
    """The records each side holds now, read by the completing steps (``read_keys``)."""

    records: dict[str, Record]

    def read_keys(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        return {key: self.records[key] for key in keys if key in self.records}


class Untranslated:
    def from_side(self, side: Side, records: list[Record]) -> None:
        """References are not translated in these examples."""


@dataclass
class Completer:
    """What the applier's completing steps read: the policy and each side's records."""

    policy: Policy
    connectors: dict[Side, Current]
    stream: str = "contact"
    translator: Untranslated = field(default_factory=Untranslated)


def _policy(data: st.DataObject) -> Policy:
    owners = data.draw(st.lists(st.sampled_from(["a", "b", None]), min_size=len(FIELDS),
                                max_size=len(FIELDS)), label="owners")
    conflict = data.draw(st.sampled_from(list(ConflictPolicy)), label="conflict")
    return Policy(
        data.draw(st.sampled_from(list(LinkDirection)), label="direction"), conflict, FIELDS,
        ("email",), keep_snapshot=conflict is ConflictPolicy.MERGE,
        owned_a=frozenset(f for f, o in zip(FIELDS, owners, strict=True) if o == "a"),
        owned_b=frozenset(f for f, o in zip(FIELDS, owners, strict=True) if o == "b"),
        create_only=frozenset({CREATE_ONLY}) if data.draw(st.booleans()) else frozenset(),
        creates_owned=frozenset(data.draw(st.sets(st.sampled_from(list(Side))))),
        keeps_edits=frozenset(data.draw(st.sets(st.sampled_from(list(Side))))))


def _fields(data: st.DataObject, label: str) -> dict[str, Any]:
    values = data.draw(st.lists(VALUES, min_size=len(FIELDS) + 1, max_size=len(FIELDS) + 1),
                       label=label)
    return dict(zip((*FIELDS, CREATE_ONLY), values, strict=True))


def _digest(fields: dict[str, Any]) -> bytes:
    return content_hash(fields, FIELDS)


@dataclass
class Example:
    policy: Policy
    mapping: MappingRow | None
    base: dict[Side, dict[str, Any]]
    """What each side held at the last sync (mapped pairs only)."""
    current: dict[Side, dict[str, Any] | None]
    """What each side holds now (``None``: deleted, or never there)."""
    changed: dict[Side, bool]


def _example(data: st.DataObject) -> Example:
    policy = _policy(data)
    kind = data.draw(st.sampled_from(["new", "equal", "diverged"]), label="pair")
    if kind == "new":
        current: dict[Side, dict[str, Any] | None] = {
            side: _fields(data, f"{side.value} record") if data.draw(st.booleans()) else None
            for side in Side}
        if current[Side.A] is None and current[Side.B] is None:
            current[Side.A] = _fields(data, "a record")
        return Example(policy, None, {}, current,
                       {side: current[side] is not None for side in Side})
    a_base = _fields(data, "a at the last sync")
    b_base = dict(a_base) if kind == "equal" else _fields(data, "b at the last sync")
    base = {Side.A: a_base, Side.B: b_base}
    snapshot = {name: field_token(a_base.get(name) if name not in policy.owned_b
                                  else b_base.get(name)) for name in FIELDS} \
        if kind == "diverged" or policy.keep_snapshot else None
    mapping = MappingRow(1, "a1", "b1", _digest(a_base), _digest(b_base), "av1", "bv1",
                         snapshot)
    current = {}
    changed = {}
    for side in Side:
        what = data.draw(st.sampled_from(["same", "changed", "deleted"]), label=side.value)
        changed[side] = what != "same"
        current[side] = None if what == "deleted" else \
            _fields(data, f"{side.value} now") if what == "changed" else dict(base[side])
    return Example(policy, mapping, base, current, changed)


def _changes(example: Example, side: Side) -> list[SideChange]:
    if not example.changed[side]:
        return []
    key = f"{side.value}1"
    fields = example.current[side]
    at = T0 + timedelta(minutes=1 if side is Side.A else 2)
    if fields is None:
        return [SideChange(key, None, None)]
    return [SideChange(key, Record(key, dict(fields), "v2", at), _digest(fields))]


def _complete(example: Example, decisions: list[Decision]) -> None:
    """The applier's steps before sending (see the module docstring)."""
    completer = Completer(example.policy, {
        side: Current({f"{side.value}1": Record(f"{side.value}1", dict(fields), "v2")}
                      if (fields := example.current[side]) is not None else {})
        for side in Side})
    if any(write.fetch for decision in decisions for write in decision.writes):
        fill_fetched(completer, decisions)  # type: ignore[arg-type]
        strip_created(completer, decisions)  # type: ignore[arg-type]
    if any(write.partial for decision in decisions for write in decision.writes):
        fill_partial(completer, decisions)  # type: ignore[arg-type]
    fill_owned(completer, decisions)  # type: ignore[arg-type]


def _only_owned_changed(example: Example, side: Side) -> bool:
    """Whether ``side`` (alone) changed only fields the other side owns."""
    now = example.current[side]
    if not example.changed[side] or example.changed[side.other] or now is None \
            or example.mapping is None:
        return False
    differs = {name for name in FIELDS if now.get(name) != example.base[side].get(name)}
    return bool(differs) and differs <= example.policy.owned_by(side.other)


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_an_owned_field_never_flows_the_wrong_way(data: st.DataObject) -> None:
    example = _example(data)
    policy = example.policy
    decisions = plan_chunk(policy, _changes(example, Side.A), _changes(example, Side.B),
                           [example.mapping] if example.mapping is not None else [])
    _complete(example, decisions)
    for decision in decisions:
        for write in decision.writes:
            assert policy.allows(write.target), (policy.direction, write)
            if write.action is WriteKind.DELETE or write.fields is None:
                continue
            owned = policy.owned_by(write.target)
            if write.action is WriteKind.CREATE:
                if write.target not in policy.creates_owned:
                    assert not owned & set(write.fields), (owned, write)
                continue
            assert not owned & set(write.fields), (owned, write)
            assert CREATE_ONLY not in write.fields, write
        for side in Side:
            if side in policy.keeps_edits and example.changed[side] \
                    and not example.changed[side.other] and example.mapping is not None \
                    and not decision.conflict and policy.direction is LinkDirection.BOTH:
                assert all(write.target is not side or write.action is not WriteKind.UPDATE
                           for write in decision.writes), decision
            if _only_owned_changed(example, side) and policy.direction is LinkDirection.BOTH:
                assert not decision.conflict, decision


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_create_carries_the_create_only_fields_and_never_the_targets_owned(
        data: st.DataObject) -> None:
    policy = _policy(data)
    source = data.draw(st.sampled_from(list(Side)), label="created from")
    fields = _fields(data, "record")
    change = [SideChange("k", Record("k", dict(fields), "v1", T0), _digest(fields))]
    a_changes, b_changes = (change, []) if source is Side.A else ([], change)
    decisions = plan_chunk(policy, a_changes, b_changes, [])
    writes = [write for decision in decisions for write in decision.writes]
    if not policy.allows(source.other):
        assert writes == []
        return
    (write,) = writes
    assert write.action is WriteKind.CREATE and write.target is source.other
    assert write.fields is not None
    if policy.create_only:
        assert write.fields[CREATE_ONLY] == fields[CREATE_ONLY]
    else:
        assert CREATE_ONLY not in write.fields
    owned = policy.owned_by(write.target)
    if write.target in policy.creates_owned:
        assert {name: write.fields[name] for name in owned} == \
            {name: fields[name] for name in owned}
    else:
        assert not owned & set(write.fields)
