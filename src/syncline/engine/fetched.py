"""One-way repairs: the writes whose fields come from the source record, read when the
batch is applied (a :class:`~syncline.engine.decisions.Write` with ``fetch`` set: the
planner knows that the target of a one-way link changed, not what the source holds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from syncline.engine.decisions import Decision, Write
from syncline.model import Side, content_hash, field_token

if TYPE_CHECKING:
    from syncline.engine.apply import Applier

__all__ = ["fill_fetched"]

_EMPTY = field_token(None)


def fill_fetched(applier: Applier, decisions: Sequence[Decision]) -> None:
    """Fill the fields of one-way repairs from the source records, read in one batch per
    side. A repair whose source is gone is dropped (the next run sees the deletion).

    Raises:
        whatever the connectors' ``read_keys`` raise.
    """
    wanted: dict[Side, list[tuple[Decision, Write]]] = {Side.A: [], Side.B: []}
    for decision in decisions:
        for write in decision.writes:
            if write.fetch:
                wanted[write.target.other].append((decision, write))
    for source, items in wanted.items():
        if not items:
            continue
        keys = [str(d.a_key if source is Side.A else d.b_key) for d, _ in items]
        found = applier.connectors[source].read_keys(applier.stream, keys)
        applier.translator.from_side(source, list(found.values()))
        for (decision, write), key in zip(items, keys, strict=True):
            record = found.get(key)
            if record is None:
                decision.writes.remove(write)
                continue
            write.fields = {name: record.fields.get(name) for name in applier.policy.field_names}
            if write.partial:  # the target keeps its values where the source has none
                write.fields = {name: value for name, value in write.fields.items()
                                if field_token(value) != _EMPTY}
            write.hash = content_hash(record.fields, applier.policy.field_names)
            write.fetch = False
            decision.synced_fields = record.fields
            if source is Side.A:
                decision.a_hash = write.hash
                decision.a_record = record
            else:
                decision.b_hash = write.hash
                decision.b_record = record
