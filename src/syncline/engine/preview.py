"""What a dry run shows of a planned modification: the fields it changes on its target,
old value -> new value, shortened for display (:class:`~syncline.engine.options.FieldChange`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from syncline.engine.options import FieldChange, PlannedChange, StreamCounts
from syncline.engine.plan import Decision
from syncline.model import Direction, Record, Side, canonical_value, field_token
from syncline.plan_types import WriteKind

__all__ = ["SHOWN_LENGTH", "changed_fields", "current_targets", "describe", "shorten"]

TargetReader = Callable[[Side, list[str]], dict[str, Record]]
"""(side, keys) -> the current records of those keys on that side, side b's references in
a-space."""

SHOWN_LENGTH = 40
"""Characters of a value shown; longer values end in ``…``."""


def shorten(value: Any) -> str | None:
    """``value`` as display text of at most :data:`SHOWN_LENGTH` characters; ``None`` for
    an empty value."""
    canonical = canonical_value(value)
    if canonical is None:
        return None
    text = canonical if isinstance(canonical, str) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= SHOWN_LENGTH else text[:SHOWN_LENGTH - 1] + "…"


def changed_fields(names: Sequence[str], old: Mapping[str, Any] | None,
                   new: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """The fields among ``names`` whose value in ``new`` differs from ``old`` (``None``:
    the target record is not known, so every field written is listed as new)."""
    found: list[FieldChange] = []
    for name in names:
        if name not in new:
            continue
        before = old.get(name) if old is not None else None
        if old is not None and field_token(before) == field_token(new[name]):
            continue
        found.append(FieldChange(name, shorten(before), shorten(new[name])))
    return tuple(found)


def current_targets(decisions: Sequence[Decision],
                    read: TargetReader) -> dict[Side, dict[str, Record]]:
    """The records the modifications among ``decisions`` will change, by side and key: those
    the decisions hold already, the others read with ``read(side, keys)`` (one call per
    side; it must return side b's records with references in a-space)."""
    known: dict[Side, dict[str, Record]] = {Side.A: {}, Side.B: {}}
    wanted: dict[Side, list[str]] = {Side.A: [], Side.B: []}
    for decision in decisions:
        for write in decision.writes:
            if write.action is not WriteKind.UPDATE or write.key is None:
                continue
            held = decision.a_record if write.target is Side.A else decision.b_record
            if held is not None and held.key == write.key:
                known[write.target][write.key] = held
            else:
                wanted[write.target].append(write.key)
    for side, keys in wanted.items():
        missing = [key for key in dict.fromkeys(keys) if key not in known[side]]
        if missing:
            known[side].update(read(side, missing))
    return known


def describe(stream: str, names: Sequence[str], decisions: Sequence[Decision],
             counts: StreamCounts, planned: list[PlannedChange], read: TargetReader,
             warnings: Mapping[int, str] | None = None) -> None:
    """Add what ``decisions`` would do to a dry run's ``planned`` changes and ``counts``;
    modifications name the fields they change on their target (records not in the
    decisions are read with ``read``). ``warnings`` (by position in ``decisions``: what the
    posting rules would journal with the write) are counted, once a decision, and shown as
    the detail of its changes.

    Raises:
        whatever ``read`` raises.
    """
    current = current_targets(decisions, read)
    for index, decision in enumerate(decisions):
        if decision.hold:
            counts.conflicts += 1
            planned.append(PlannedChange(stream, "hold", "", decision.a_key, decision.b_key,
                                         decision.message))
            continue
        if decision.conflict:
            counts.conflicts += 1
        warning = warnings.get(index) if warnings else None
        if warning is not None and decision.writes:
            counts.warnings += 1
        detail = decision.message if warning is None else \
            f"{decision.message}; {warning}" if decision.message else warning
        for write in decision.writes:
            counts.add_action(write.code.value)
            changes: tuple[FieldChange, ...] = ()
            if write.action is WriteKind.UPDATE and write.fields is not None \
                    and write.key is not None:
                target = current[write.target].get(write.key)
                changes = changed_fields(names, target.fields if target else None,
                                         write.fields)
            planned.append(PlannedChange(
                stream, write.code.value, Direction.towards(write.target).value,
                decision.a_key, decision.b_key, detail, changes))
