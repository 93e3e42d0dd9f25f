"""Translating references between the two sides' key spaces.

A reference field (``invoice.contact``, ``lines.item``...) holds the key of another record
on the same endpoint. The engine compares and hashes records in **a-space**: references of
side b records are replaced by the a-key they are mapped to when read, and replaced back by
b-keys when written to b. Only references to streams the link syncs are translated; others
pass through unchanged (they name codes both systems share).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from syncline.errors import ReferenceMissing
from syncline.model import ENTITY_TYPES, Record, Side

if TYPE_CHECKING:
    from syncline.engine.display_refs import DisplayReferences

__all__ = ["UNRESOLVED", "ReferenceTranslator"]

UNRESOLVED = "unresolved_references"
"""Key in ``Record.extra``: field path -> b-key of a reference that has no mapping yet."""

MappingLookup = Callable[[str, Side, Iterable[str]], dict[str, str]]
"""(referenced stream, side the keys are on, keys) -> key on the other side, where mapped."""


class ReferenceTranslator:
    """Translates one stream's references for a link (see the module docstring)."""

    def __init__(self, stream: str, link_streams: Iterable[str], lookup: MappingLookup,
                 display: DisplayReferences | None = None) -> None:
        spec = ENTITY_TYPES[stream]
        synced = set(link_streams)
        self.stream = stream
        self.display = display
        """The stream's references held as display values on one side (see
        :mod:`syncline.engine.display_refs`): they are not translated as keys."""
        untranslated = display.untranslated if display is not None else frozenset()
        self.fields = {name: target for name, target in spec.references().items()
                       if target in synced and not name.startswith("lines.")
                       and name not in untranslated}
        self.line_fields = {name[6:]: target for name, target in spec.references().items()
                            if target in synced and name.startswith("lines.")}
        self.lookup = lookup

    @property
    def active(self) -> bool:
        """Whether records need any translation (keys, or display values)."""
        return bool(self.fields or self.line_fields) or self.display_active

    @property
    def display_active(self) -> bool:
        return self.display is not None and self.display.active

    def _wanted(self, values: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
        wanted: dict[str, set[str]] = {}
        for fields in values:
            for name, target in self.fields.items():
                if fields.get(name) not in (None, ""):
                    wanted.setdefault(target, set()).add(str(fields[name]))
            for line in fields.get("lines") or ():
                for name, target in self.line_fields.items():
                    if line.get(name) not in (None, ""):
                        wanted.setdefault(target, set()).add(str(line[name]))
        return wanted

    def _resolve(self, wanted: dict[str, set[str]], side: Side) -> dict[str, dict[str, str]]:
        return {target: self.lookup(target, side, keys) for target, keys in wanted.items()}

    def from_side(self, side: Side, records: list[Record]) -> None:
        """Bring ``records`` read from ``side`` into the engine's canonical form, in place:
        display references resolved to display values (where ``side`` holds keys), other
        references in a-space (:meth:`to_a_space`, for side b)."""
        if self.display is not None:
            self.display.resolve(side, records)
        if side is Side.B:
            self.to_a_space(records)

    def to_a_space(self, records: list[Record]) -> None:
        """Replace b-keys in references of side-b ``records`` by a-keys, in place. A reference
        without a mapping is kept and noted in ``record.extra[UNRESOLVED]``."""
        if not (self.fields or self.line_fields) or not records:
            return
        found = self._resolve(self._wanted(record.fields for record in records), Side.B)
        for record in records:
            missing: dict[str, str] = {}
            for name, target in self.fields.items():
                value = record.fields.get(name)
                if value in (None, ""):
                    continue
                translated = found[target].get(str(value))
                if translated is None:
                    missing[name] = str(value)
                else:
                    record.fields[name] = translated
            for index, line in enumerate(record.fields.get("lines") or ()):
                for name, target in self.line_fields.items():
                    value = line.get(name)
                    if value in (None, ""):
                        continue
                    translated = found[target].get(str(value))
                    if translated is None:
                        missing[f"line {index + 1} {name}"] = str(value)
                    else:
                        line[name] = translated
            if missing:
                record.extra[UNRESOLVED] = missing

    def for_target(self, target: Side, items: list[tuple[str, dict[str, Any], Record | None]]
                   ) -> dict[str, ReferenceMissing]:
        """Make the fields of writes to ``target`` use ``target``'s keys, in place.

        ``items`` are (label, fields, source record); returns label -> error for the writes
        that refer to records the target does not have yet (those must not be written).
        """
        errors: dict[str, ReferenceMissing] = {}
        if not (self.fields or self.line_fields):
            return errors
        if target is Side.A:
            for label, _fields, source in items:
                unresolved = source.extra.get(UNRESOLVED) if source is not None else None
                if unresolved:
                    what, key = next(iter(unresolved.items()))
                    errors[label] = ReferenceMissing(
                        f"{self.stream} {label}: {what} refers to {key} on b, which is not "
                        f"synced to a yet", stream=self.stream, key=label, field=str(what),
                        value=str(key))
            return errors
        found = self._resolve(self._wanted(fields for _, fields, _ in items), Side.A)
        for label, fields, _source in items:
            if fields.get("lines"):
                fields["lines"] = [dict(line) for line in fields["lines"]]
            problem = None
            cause: tuple[str, str] | None = None
            for name, stream in self.fields.items():
                value = fields.get(name)
                if value in (None, ""):
                    continue
                translated = found[stream].get(str(value))
                if translated is None:
                    problem = f"{name} refers to {stream} {value}, which is not on b yet"
                    cause = (name, str(value))
                    break
                fields[name] = translated
            for index, line in enumerate(fields.get("lines") or ()):
                if problem:
                    break
                for name, stream in self.line_fields.items():
                    value = line.get(name)
                    if value in (None, ""):
                        continue
                    translated = found[stream].get(str(value))
                    if translated is None:
                        problem = f"line {index + 1}: {name} refers to {stream} {value}, " \
                                  f"which is not on b yet"
                        cause = (f"lines.{name}", str(value))
                        break
                    line[name] = translated
            if problem:
                field_name, value = cause if cause is not None else (None, None)
                errors[label] = ReferenceMissing(f"{self.stream} {label}: {problem}",
                                                 stream=self.stream, key=label,
                                                 field=field_name, value=value)
        return errors
