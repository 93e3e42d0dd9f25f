"""How a held conflict is shown (``syncline conflicts``, the API, the console's Review page):
its two versions compared field by field.

Terms: a **compared** field is one both endpoints of the link map for the stream (the fields
a run syncs); only those can differ. A field only one side maps (a CRM's internal notes, a
groupware card's photo) is shown as that side's alone and never marked as differing: the
other side has no place for it, so there is nothing to decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from syncline.config import Config
from syncline.errors import SynclineError

__all__ = ["FieldView", "SharedFields", "compare_fields", "differing_names"]


@dataclass(frozen=True)
class FieldView:
    """One field of a conflict: its values on a and b, whether both sides map it
    (``compared``), and whether they differ (only a compared field can)."""

    name: str
    a: Any
    b: Any
    compared: bool
    differs: bool


class SharedFields:
    """The fields both endpoints of a link map, per stream, for one configuration (each
    stream's worked out once, from the endpoints' settings, without connecting)."""

    def __init__(self, config: Config, link: str) -> None:
        self.config = config
        self.link = link
        self._known: dict[str, frozenset[str] | None] = {}

    def of(self, stream: str) -> frozenset[str] | None:
        """The shared fields of ``stream``; ``None`` when an endpoint cannot say (its
        settings do not load)."""
        if stream not in self._known:
            self._known[stream] = self._work_out(stream)
        return self._known[stream]

    def _work_out(self, stream: str) -> frozenset[str] | None:
        from syncline.engine import open_endpoint

        try:
            settings = self.config.link(self.link)
            names = [open_endpoint(self.config, name).field_names(stream)
                     for name in (settings.a, settings.b)]
        except (SynclineError, KeyError, ValueError):
            return None
        return names[0] & names[1]


def compare_fields(row: Mapping[str, Any], shared: frozenset[str] | None) -> list[FieldView]:
    """The fields of a conflict row (of ``StateStore.conflicts``), compared fields first,
    each group by name. Without ``shared`` (unknown), a field is compared when both
    versions hold it."""
    a_fields: Mapping[str, Any] = row.get("a_fields") or {}
    b_fields: Mapping[str, Any] = row.get("b_fields") or {}
    names = set(a_fields) | set(b_fields)
    both = shared if shared is not None else frozenset(set(a_fields) & set(b_fields))
    views = [FieldView(name, a_fields.get(name), b_fields.get(name), name in both,
                       name in both and a_fields.get(name) != b_fields.get(name))
             for name in names]
    return sorted(views, key=lambda view: (not view.compared, view.name))


def differing_names(views: Iterable[FieldView]) -> list[str]:
    """The names of the fields that differ."""
    return [view.name for view in views if view.differs]
