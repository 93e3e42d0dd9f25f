"""Forced mass resynchronisation: select records by criteria, mark them, report.

``syncline force LINK ...`` (and later the API) reads the authoritative side's records of
the chosen streams, keeps those meeting the :class:`~syncline.service.criteria.ForceCriteria`,
adds their related records when asked (``--with-related``: the records their reference
fields point to, e.g. the contact of a task or an event, the customer of an invoice, when
that stream is synced by the link too) and stores a **mark** per record in the state store.
The next run of the link (at once with ``--now``) reads marked records from the
authoritative side and writes them to the other side with action code R, even where
nothing seems to have changed; a mark is cleared only once its record is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from syncline.config import Config, LinkConfig
from syncline.connectors.base import Connector, ReadScope
from syncline.errors import UsageError
from syncline.model import ENTITY_TYPES, Record, Side, stream_order
from syncline.plan_types import LinkDirection
from syncline.service.criteria import (
    RECORD_DATE_FIELDS,
    ForceCriteria,
    has_due_date,
    has_owner,
    matches,
)
from syncline.service.forcelog import log_format
from syncline.state.service_store import add_force_request, mark_records
from syncline.state.store import StateStore

__all__ = ["ForceResult", "Selection", "authoritative_side", "mark_for_force", "select_records"]


@dataclass
class Selection:
    """What the criteria selected, per stream: ``(key, reason)`` pairs in reading order."""

    records: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    related: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(len(found) for found in self.records.values())

    def keys(self, stream: str) -> list[str]:
        return [key for key, _ in self.records.get(stream, [])]


@dataclass
class ForceResult:
    """A stored force request: its id, the side it forces from, what it marked."""

    request_id: int
    link: str
    side: Side
    endpoint: str
    selection: Selection
    log_path: Path | None = None

    def to_json(self) -> dict[str, object]:
        return {"request_id": self.request_id, "link": self.link, "from": self.side.value,
                "endpoint": self.endpoint, "marked": self.selection.total,
                "related": self.selection.related,
                "streams": {stream: len(found)
                            for stream, found in self.selection.records.items()},
                "notes": list(self.selection.notes),
                "log": str(self.log_path) if self.log_path is not None else None}


_SOURCES = {LinkDirection.A_TO_B: Side.A, LinkDirection.B_TO_A: Side.B}


def authoritative_side(link: LinkConfig, wanted: Side | None,
                       streams: Sequence[str] = ()) -> Side:
    """The side to force ``streams`` (none given: the link as a whole) from: ``wanted``,
    else the source of a one-way link (or of every stream given, each going one way from
    the same side: ``[links.NAME.directions]``), else a.

    Raises:
        UsageError: ``wanted`` is the target of a one-way link or stream (nothing may be
            written from it).
    """
    source = _SOURCES.get(link.direction)
    if not streams and wanted is not None and source is not None and wanted is not source:
        raise UsageError(f"the link only writes {link.direction.value}: records can be forced "
                         f"from {source.value} only, not from {wanted.value}")
    directions = {stream: link.direction_of(stream) for stream in streams}
    for stream, direction in directions.items():
        one_way = _SOURCES.get(direction)
        if wanted is not None and one_way is not None and wanted is not one_way:
            raise UsageError(f"stream {stream} of the link only writes {direction.value}: its "
                             f"records can be forced from {one_way.value} only, not from "
                             f"{wanted.value}")
    if wanted is not None:
        return wanted
    sources = {_SOURCES.get(direction) for direction in directions.values()}
    if len(sources) == 1 and None not in sources:
        return sources.pop() or Side.A
    return source or Side.A


def _streams(link_name: str, link: LinkConfig, criteria: ForceCriteria,
             notes: list[str]) -> list[str]:
    """The streams to read, checked against the link and the criteria."""
    chosen = list(link.check_streams(link_name, criteria.streams)) or list(link.streams)
    kept = []
    for stream in chosen:
        if criteria.wants_due and not has_due_date(stream):
            notes.append(f"{stream}: has no due date; skipped for --due-from / --due-to")
        elif criteria.owner is not None and not has_owner(stream):
            notes.append(f"{stream}: has no owner field; skipped for --owner / --mine")
        else:
            kept.append(stream)
    if not kept:
        raise UsageError("none of the chosen streams has the fields the criteria ask for "
                         f"({'; '.join(notes)})")
    return kept


def _read(connector: Connector, stream: str,
          criteria: ForceCriteria) -> Iterator[list[Record]]:
    """The stream's records, with what the endpoint can filter itself pushed down."""
    dates_are_modification = stream not in RECORD_DATE_FIELDS
    scope = ReadScope(since=criteria.since if dates_are_modification else None,
                      until=criteria.until if dates_are_modification else None,
                      from_key=criteria.from_key, to_key=criteria.to_key)
    yield from connector.read_all(stream, scope)


def select_records(link_name: str, link: LinkConfig, connector: Connector,
                   criteria: ForceCriteria) -> Selection:
    """Read the authoritative side (``connector``, opened) and select the records to force.

    Raises:
        UsageError: a chosen stream is not the link's, or no stream fits the criteria.
        RunError: the endpoint cannot be read.
    """
    selection = Selection()
    streams = _streams(link_name, link, criteria, selection.notes)
    scope = ReadScope(from_key=criteria.from_key, to_key=criteria.to_key)
    selected: dict[str, set[str]] = {}
    related: dict[str, dict[str, str]] = {}
    for stream in stream_order(streams):
        found: list[tuple[str, str]] = []
        names = connector.field_names(stream)
        if criteria.owner is not None and "owner" not in names:
            selection.notes.append(f"{stream}: endpoint '{connector.endpoint}' maps no owner "
                                   f"field, so no record matches --owner / --mine")
        references = {name: spec.reference for name, spec in ENTITY_TYPES[stream].fields.items()
                      if spec.reference is not None and spec.reference in link.streams
                      and name in names}
        def in_range(key: str, stream: str = stream) -> bool:
            return connector.in_key_range(stream, key, scope)

        undated = 0
        dated_by_modification = stream not in RECORD_DATE_FIELDS and (
            criteria.since is not None or criteria.until is not None)
        for page in _read(connector, stream, criteria):
            for record in page:
                if dated_by_modification and record.updated_at is None:
                    undated += 1
                if not matches(criteria, stream, record, in_range):
                    continue
                found.append((record.key, "selected"))
                if not criteria.with_related:
                    continue
                for name, target in references.items():
                    value = record.fields.get(name)
                    if isinstance(value, str) and value:
                        related.setdefault(target, {}).setdefault(
                            value, f"related: {name} of {stream} {record.key}")
        if undated:
            selection.notes.append(f"{stream}: {undated} records on '{connector.endpoint}' "
                                   f"have no modification time, so --since / --until do not "
                                   f"select them")
        selection.records[stream] = found
        selected[stream] = {key for key, _ in found}
    for target, wanted in related.items():
        fresh = {key: reason for key, reason in wanted.items()
                 if key not in selected.get(target, set())}
        if not fresh:
            continue
        existing = connector.read_keys(target, list(fresh))
        missing = len(fresh) - len(existing)
        if missing:
            selection.notes.append(f"{target}: {missing} related records no longer exist on "
                                   f"'{connector.endpoint}'")
        additions = [(key, fresh[key]) for key in fresh if key in existing]
        selection.records.setdefault(target, []).extend(additions)
        selection.related += len(additions)
    return selection


def mark_for_force(store: StateStore, config: Config, link_name: str, criteria: ForceCriteria,
                   *, connector: Connector, side: Side, requested_by: str | None,
                   log_path: Path | None) -> ForceResult:
    """Select (see :func:`select_records`) and store the marks under a new force request.

    Raises:
        UsageError: see :func:`select_records`; or ``log_path`` has an unknown extension.
        RunError: the endpoint cannot be read.
    """
    link = config.link(link_name)
    if log_path is not None:
        log_format(log_path)
    selection = select_records(link_name, link, connector, criteria)
    request_id = add_force_request(
        store, link=link_name, side=side.value, criteria=criteria.to_json(),
        requested_by=requested_by, log_path=str(log_path) if log_path is not None else None)
    for stream, found in selection.records.items():
        if found:
            mark_records(store, request_id=request_id,
                         scope_id=store.scope_id(link_name, stream), side=side.value,
                         keys=found)
    endpoint = link.a if side is Side.A else link.b
    return ForceResult(request_id, link_name, side, endpoint, selection, log_path)
