"""References that one side holds as a display value instead of a key.

Terms:

display reference
    A reference field that a connector holds as a value of the referenced record, not its
    key (:meth:`~syncline.connectors.base.Connector.display_references`): a vCard's ``ORG``
    holds the organisation's ``name``, not the id of a row in an organisations table.
display side, key side
    For such a field, the side whose connector holds the display value, and the other side,
    which holds keys.

When one side of a link holds display values and the other keys, the engine compares,
hashes and writes that field as the display value (whether or not the link syncs the
referenced stream):

- records read from the key side get the display value of the record their key refers to,
  read from the key side's own endpoint (a key that refers to nothing there becomes empty):
  a raw foreign key never reaches the display side;
- a display value written to the key side is looked up there by that value (text compared
  without case and outer spaces): one match is written as its key; no match or several are
  **refused**: the field is left out of that write, the rest of the record is written, and
  the journal row is a warning naming the field and why. The display side keeps what was
  typed until it is changed to a value the key side knows (or the key side's reference
  changes, which then flows to it);
- when the key side's endpoint does not map the referenced stream, the field cannot be
  resolved either way: it is left out of the link (not synced), and the run says so.

A field both sides hold as display values is synced as plain text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncline.connectors.base import Capability, Connector, ReadScope
from syncline.journal import JournalRow
from syncline.model import ENTITY_TYPES, Outcome, Record, Side, canonical_value, content_hash

if TYPE_CHECKING:
    from syncline.engine.options import StreamCounts
    from syncline.engine.plan import Decision, Write

__all__ = ["DisplayField", "DisplayReferences", "mark_warning"]


@dataclass(frozen=True, slots=True)
class DisplayField:
    """One display reference of a link's stream: the key side, the referenced stream and
    the field of it the display side holds."""

    name: str
    key_side: Side
    target: str
    shown: str


def _token(value: Any) -> str | None:
    """A display value compared for lookup: text without case and outer spaces."""
    canonical = canonical_value(value)
    if canonical is None:
        return None
    text = str(canonical).strip().casefold()
    return text or None


@dataclass
class DisplayReferences:
    """The display references of one stream of a link (see the module docstring)."""

    stream: str
    connectors: Mapping[Side, Connector]
    fields: dict[str, DisplayField] = field(default_factory=dict)
    plain: set[str] = field(default_factory=set)
    """Reference fields both sides hold as display values: synced as text."""
    left_out: dict[str, str] = field(default_factory=dict)
    """Field -> why it is not synced (the key side cannot resolve it)."""
    _shown: dict[tuple[str, str], Any] = field(default_factory=dict)
    _index: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @classmethod
    def for_stream(cls, stream: str, connectors: Mapping[Side, Connector],
                   endpoints: Mapping[Side, str], shared: frozenset[str]) -> DisplayReferences:
        """The display references of ``stream`` among the fields both sides map."""
        found = cls(stream, connectors)
        for name, target in ENTITY_TYPES[stream].references().items():
            if name.startswith("lines.") or name not in shared:
                continue
            held = {side: connectors[side].display_references(stream).get(name)
                    for side in Side}
            if held[Side.A] is None and held[Side.B] is None:
                continue
            if held[Side.A] is not None and held[Side.B] is not None:
                found.plain.add(name)
                continue
            display_side = Side.A if held[Side.A] is not None else Side.B
            key_side = display_side.other
            shown = held[display_side]
            assert shown is not None
            keeper = connectors[key_side]
            if Capability.READ not in keeper.streams().get(target, Capability.NONE) \
                    or shown not in keeper.field_names(target):
                found.left_out[name] = (
                    f"'{endpoints[display_side]}' ({display_side.value}) holds the {target}'s "
                    f"{shown} in {name}, '{endpoints[key_side]}' ({key_side.value}) holds its "
                    f"key, and '{endpoints[key_side]}' does not map the {target} stream (with "
                    f"its {shown}) to look one up from the other: {name} is not synced")
                continue
            found.fields[name] = DisplayField(name, key_side, target, shown)
        return found

    @property
    def active(self) -> bool:
        return bool(self.fields)

    @property
    def untranslated(self) -> frozenset[str]:
        """Reference fields the key translation must leave alone."""
        return frozenset(self.fields) | frozenset(self.plain) | frozenset(self.left_out)

    # -- reading -------------------------------------------------------------------------------
    def resolve(self, side: Side, records: Sequence[Record]) -> None:
        """Replace, in place, the keys in display references of ``records`` read from
        ``side`` by the display values they refer to (empty where they refer to nothing)."""
        wanted = [spec for spec in self.fields.values() if spec.key_side is side]
        if not wanted or not records:
            return
        for spec in wanted:
            keys = {str(record.fields[spec.name]) for record in records
                    if canonical_value(record.fields.get(spec.name)) is not None}
            missing = [key for key in keys if (spec.target, key) not in self._shown]
            if missing:
                found = self.connectors[side].read_keys(spec.target, missing)
                for key in missing:
                    record = found.get(key)
                    self._shown[(spec.target, key)] = \
                        record.fields.get(spec.shown) if record is not None else None
            for record in records:
                value = record.fields.get(spec.name)
                if canonical_value(value) is not None:
                    record.fields[spec.name] = self._shown.get((spec.target, str(value)))

    # -- writing -------------------------------------------------------------------------------
    def _keys_for(self, side: Side, spec: DisplayField, value: Any) -> list[str]:
        """The keys on ``side`` of the records of ``spec.target`` whose display value is
        ``value`` (read once per run)."""
        index = self._index.get(spec.target)
        if index is None:
            index = self._index[spec.target] = {}
            for page in self.connectors[side].read_all(spec.target, ReadScope()):
                for record in page:
                    shown = record.fields.get(spec.shown)
                    self._shown[(spec.target, record.key)] = shown
                    token = _token(shown)
                    if token is not None:
                        index.setdefault(token, []).append(record.key)
        token = _token(value)
        return index.get(token, []) if token is not None else []

    def prepare_writes(self, decisions: Sequence[Decision], names: tuple[str, ...],
                       skip: set[int]) -> dict[int, str]:
        """Turn the display values in writes to key sides into keys, in place; returns
        decision index -> warning for the writes where a value was refused (left out of the
        write: see the module docstring). ``names`` are the synced fields (for the hash of
        what a refused write leaves on the key side); ``skip`` the decisions not written.

        Raises:
            whatever the key side's connector raises when reading.
        """
        warnings: dict[int, str] = {}
        if not self.active:
            return warnings
        refused: list[tuple[int, Write, DisplayField]] = []
        for index, decision in enumerate(decisions):
            if index in skip:
                continue
            for write in decision.writes:
                if write.fields is None:
                    continue
                for spec in self.fields.values():
                    if spec.key_side is not write.target or spec.name not in write.fields:
                        continue
                    value = write.fields[spec.name]
                    if canonical_value(value) is None:
                        write.fields = {**write.fields, spec.name: None}
                        continue
                    keys = self._keys_for(write.target, spec, value)
                    if len(keys) == 1:
                        self._respell(decision, write, spec, keys[0], names)
                        write.fields = {**write.fields, spec.name: keys[0]}
                        continue
                    why = "no" if not keys else f"{len(keys)}"
                    endpoint = self.connectors[write.target].endpoint
                    warnings[index] = (
                        f"{spec.name} {str(value)!r} was not written to '{endpoint}': {why} "
                        f"{spec.target} there has that {spec.shown}; the other fields were "
                        f"written")
                    write.fields = {name: item for name, item in write.fields.items()
                                    if name != spec.name}
                    refused.append((index, write, spec))
        for index, write, spec in refused:
            self._settle_refused(decisions[index], write, spec, names)
        return warnings

    def _respell(self, decision: Decision, write: Write, spec: DisplayField, key: str,
                 names: tuple[str, ...]) -> None:
        """Where the display value written differs from the referenced record's own (in
        case or outer spaces), the key side will read the record's own: make the write's
        hash, which the mapping stores for the key side, say so."""
        assert write.fields is not None
        value = write.fields[spec.name]
        own = self._shown.get((spec.target, key))
        if own == value or write.hash is None:
            return
        base = decision.synced_fields
        if base is None or content_hash(base, names) != write.hash:
            base = write.fields
        write.hash = content_hash({**base, spec.name: own}, names)

    def _settle_refused(self, decision: Decision, write: Write, spec: DisplayField,
                        names: tuple[str, ...]) -> None:
        """The hash the key side will hold after a write that left ``spec`` out: the written
        fields with the reference the record keeps there (none for a create)."""
        kept: Any = None
        if write.key is not None:
            found = self.connectors[write.target].read_keys(self.stream, [write.key])
            record = found.get(write.key)
            if record is not None:
                self.resolve(write.target, [record])
                kept = record.fields.get(spec.name)
        fields = {**(decision.synced_fields or {}), **(write.fields or {}), spec.name: kept}
        write.hash = content_hash(fields, names)




def mark_warning(warning: str, rows: list[JournalRow], start: int,
                 counts: StreamCounts) -> None:
    """Turn the ``ok`` journal rows of one decision (those from ``start`` on) into
    ``warning`` rows whose message ends with ``warning``; count the warning once."""
    warned = False
    for position in range(start, len(rows)):
        row = rows[position]
        if row.outcome == Outcome.OK:
            message = f"{row.message}; {warning}" if row.message else warning
            rows[position] = row.with_outcome(Outcome.WARNING, message)
            warned = True
    if warned:
        counts.warnings += 1
