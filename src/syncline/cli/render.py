"""Rendering what commands show: Rich tables for people, JSON documents for programs.

The JSON shape of a run (``sync --json``, and ``status --json`` which adds
``last_synced_at``, ``pending_items`` and ``open_conflicts``)::

    {"link", "run_id", "mode", "trigger", "started_at", "finished_at", "duration_s",
     "outcome", "streams": {"contact": {"A", "M", "D", "R", "errors", "warnings",
     "conflicts", "skipped"}}, "messages": [...], "dry_run"}

Times are ISO 8601 with offset (UTC as stored).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from syncline.service.conflict_view import SharedFields, compare_fields
from syncline.service.endpoints import Capability
from syncline.service.outcomes import PlannedChange, RunOutcome, RunSummary

__all__ = [
    "CAPABILITY_COLUMNS",
    "COUNT_COLUMNS",
    "CapabilityRow",
    "LinkStatus",
    "capability_json",
    "capability_table",
    "conflicts_json",
    "conflicts_table",
    "differing_fields",
    "dump_json",
    "journal_json",
    "journal_table",
    "outcome_text",
    "planned_json",
    "planned_table",
    "run_row_json",
    "status_json",
    "status_view",
    "summary_table",
    "worst_exit",
]

COUNT_COLUMNS = ("A", "M", "D", "R", "errors", "warnings", "conflicts")
"""Per-stream counts shown in tables: journal action codes, then problems."""

CAPABILITY_COLUMNS: tuple[tuple[str, Capability], ...] = (
    ("read", Capability.READ),
    ("create", Capability.CREATE),
    ("update", Capability.UPDATE),
    ("delete", Capability.DELETE),
    ("incremental", Capability.INCREMENTAL),
    ("deletes", Capability.DETECT_DELETES),
)
"""The capability matrix's columns; ``deletes`` means deletions are detected."""

_OUTCOME_STYLE = {"ok": "green", "warning": "yellow", "error": "red", "failed": "bold red",
                  "running": "cyan", "skipped": "dim"}


def dump_json(value: Any) -> str:
    """``value`` as indented JSON; datetimes and other objects as text."""
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def _aware(value: Any) -> datetime | None:
    """A stored time as an aware datetime (SQLite hands back naive UTC)."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: Any) -> str | None:
    moment = _aware(value)
    return moment.isoformat() if moment is not None else None


def _local(value: Any) -> str:
    moment = _aware(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


def outcome_text(outcome: str | None) -> Text:
    """An outcome word coloured by severity."""
    if outcome is None:
        return Text("never run", style="dim")
    return Text(outcome, style=_OUTCOME_STYLE.get(outcome, ""))


# -- runs ------------------------------------------------------------------------------------
def summary_table(summary: RunSummary) -> Table:
    """Per-stream counts of a run, with a totals row when there is more than one stream."""
    run = f"run {summary.run_id}" if summary.run_id is not None else "dry run"
    duration = f"{summary.duration_s:.2f}s" if summary.duration_s is not None else "-"
    title = Text.assemble(f"{summary.link}: {run}, {summary.mode.value}, ",
                          outcome_text(summary.outcome.value), f", {duration}")
    table = Table(title=title, title_justify="left")
    table.add_column("stream")
    for name in COUNT_COLUMNS:
        table.add_column(name, justify="right")
    totals = dict.fromkeys(COUNT_COLUMNS, 0)
    for stream, counts in summary.streams.items():
        values = counts.to_json()
        for name in COUNT_COLUMNS:
            totals[name] += values[name]
        table.add_row(stream, *(_count(name, values[name]) for name in COUNT_COLUMNS))
    if len(summary.streams) > 1:
        table.add_section()
        table.add_row(Text("total", style="bold"),
                      *(_count(name, totals[name]) for name in COUNT_COLUMNS))
    return table


def _count(column: str, value: int) -> Text:
    if not value:
        return Text("0", style="dim")
    style = {"errors": "red", "warnings": "yellow", "conflicts": "magenta"}.get(column, "")
    return Text(str(value), style=style)


def planned_table(planned: Sequence[PlannedChange], limit: int = 200) -> Table:
    """What a dry run would do, one row per change (the first ``limit``)."""
    table = Table(title=f"planned changes ({len(planned)})", title_justify="left")
    for name in ("stream", "action", "direction", "key a", "key b", "detail",
                 "fields changed on the target"):
        table.add_column(name, overflow="fold")
    for change in planned[:limit]:
        table.add_row(change.stream, change.action, change.direction, change.a_key or "-",
                      change.b_key or "-", change.detail or "", _field_changes(change))
    if len(planned) > limit:
        table.caption = f"… and {len(planned) - limit} more (use --json for all)"
    return table


def _field_changes(change: PlannedChange) -> Text:
    """``name: old → new`` per changed field, one a line (``∅``: empty)."""
    text = Text()
    for number, field in enumerate(change.fields):
        if number:
            text.append("\n")
        text.append(f"{field.name}: ")
        text.append(repr(field.old) if field.old is not None else "∅", style="red")
        text.append(" → ")
        text.append(repr(field.new) if field.new is not None else "∅", style="green")
    return text


def planned_json(planned: Iterable[PlannedChange]) -> list[dict[str, Any]]:
    """Planned changes as JSON objects (``fields``: what a modification changes on its
    target, ``null`` for an empty value)."""
    return [{"stream": change.stream, "action": change.action, "direction": change.direction,
             "a_key": change.a_key, "b_key": change.b_key, "detail": change.detail,
             "fields": [{"name": field.name, "old": field.old, "new": field.new}
                        for field in change.fields]}
            for change in planned]


def run_row_json(link: str, row: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored run (a row of :meth:`StateStore.runs`) in the documented run shape; a link
    that never ran gets ``null`` for everything but ``link`` and empty ``streams``."""
    if row is None:
        return {"link": link, "run_id": None, "mode": None, "trigger": None,
                "started_at": None, "finished_at": None, "duration_s": None, "outcome": None,
                "streams": {}, "messages": [], "dry_run": False}
    message = row.get("message")
    return {
        "link": link,
        "run_id": row["id"],
        "mode": row["mode"],
        "trigger": row["trigger"],
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row.get("finished_at")),
        "duration_s": row.get("duration_s"),
        "outcome": row["outcome"],
        "streams": dict(row.get("counts") or {}),
        "messages": message.splitlines() if message else [],
        "dry_run": bool(row.get("dry_run")),
    }


# -- status ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkStatus:
    """What ``status`` knows of one link: its endpoints, its last run (a row of
    :meth:`StateStore.runs`, ``None`` if it never ran), when it last synced, and how many
    records are pending (failed, retried next run) and conflicts open."""

    link: str
    a: str
    b: str
    last_run: Mapping[str, Any] | None
    last_synced_at: datetime | None
    pending_items: int
    open_conflicts: int


def status_json(status: LinkStatus) -> dict[str, Any]:
    """The run shape of the link's last run plus ``last_synced_at``, ``pending_items`` and
    ``open_conflicts``."""
    document = run_row_json(status.link, status.last_run)
    document["last_synced_at"] = _iso(status.last_synced_at)
    document["pending_items"] = status.pending_items
    document["open_conflicts"] = status.open_conflicts
    return document


def status_view(status: LinkStatus) -> list[RenderableType]:
    """One link: a heading, its last run and what waits, then the last run's per-stream
    counts."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    row = status.last_run
    if row is None:
        grid.add_row("last run", Text("never run", style="dim"))
    else:
        duration = row.get("duration_s")
        took = f", {duration:.2f}s" if isinstance(duration, int | float) else ""
        grid.add_row("last run", Text.assemble(
            f"#{row['id']} {row['trigger']} {row['mode']}, started "
            f"{_local(row['started_at'])}{took}: ", outcome_text(row["outcome"])))
    grid.add_row("last synced", _local(status.last_synced_at))
    grid.add_row("pending", f"{status.pending_items} records (retried by the next run)")
    grid.add_row("conflicts", f"{status.open_conflicts} held for review")
    heading = Text.assemble((status.link, "bold"), f"  {status.a} ⇄ {status.b}")
    parts: list[RenderableType] = [heading, grid]
    counts = (row.get("counts") or {}) if row is not None else {}
    if counts:
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("stream")
        for name in COUNT_COLUMNS:
            table.add_column(name, justify="right")
        for stream, values in counts.items():
            table.add_row(stream, *(_count(name, int(values.get(name, 0)))
                                    for name in COUNT_COLUMNS))
        parts.append(table)
    messages = str(row.get("message") or "") if row is not None else ""
    parts.extend(Text(f"  • {line}", style="yellow") for line in messages.splitlines())
    return parts


# -- journal ---------------------------------------------------------------------------------
def journal_json(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Journal rows (of :meth:`StateStore.journal`) as JSON objects."""
    return [{"id": row["id"], "run_id": row["run_id"], "stream": row["stream"],
             "action": row["action"], "direction": row["direction"], "a_key": row["a_key"],
             "b_key": row["b_key"], "outcome": row["outcome"], "message": row["message"]}
            for row in rows]


def journal_table(link: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    """Journal rows, newest first."""
    table = Table(title=f"journal of {link} ({len(rows)} rows, newest first)",
                  title_justify="left")
    for name in ("run", "stream", "action", "dir", "key a", "key b", "outcome", "message"):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(str(row["run_id"]), row["stream"], row["action"], row["direction"],
                      row["a_key"] or "-", row["b_key"] or "-", outcome_text(row["outcome"]),
                      row["message"] or "")
    return table


# -- conflicts -------------------------------------------------------------------------------
def differing_fields(row: Mapping[str, Any], shared: SharedFields | None = None
                     ) -> list[tuple[str, Any, Any]]:
    """``(field, value on a, value on b)`` for every field both sides map (``shared``, see
    :mod:`syncline.service.conflict_view`) whose values differ; a field only one side maps
    never differs."""
    known = shared.of(str(row["stream"])) if shared is not None else None
    return [(view.name, view.a, view.b) for view in compare_fields(row, known) if view.differs]


def conflicts_table(link: str, rows: Sequence[Mapping[str, Any]],
                    shared: SharedFields | None = None) -> Table:
    """Open conflicts with the fields on which the two sides disagree (of those both map)."""
    table = Table(title=f"open conflicts of {link} ({len(rows)})", title_justify="left")
    for name in ("id", "stream", "key a", "key b", "detected in", "field"):
        table.add_column(name, no_wrap=True)
    for name in ("value on a", "value on b"):
        table.add_column(name, overflow="fold")
    for row in rows:
        differences = differing_fields(row, shared) or [("-", "", "")]
        for position, (name, a_value, b_value) in enumerate(differences):
            head = (str(row["id"]), row["stream"], row["a_key"], row["b_key"],
                    f"run {row['detected_run']}") \
                if position == 0 else ("", "", "", "", "")
            table.add_row(*head, name, _shown(a_value), _shown(b_value))
    return table


def _shown(value: Any) -> str:
    if value is None:
        return "∅"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def conflicts_json(rows: Iterable[Mapping[str, Any]],
                   shared: SharedFields | None = None) -> list[dict[str, Any]]:
    """Conflict rows (of :meth:`StateStore.conflicts`) as JSON objects; ``differing`` names
    the fields both sides map whose values differ."""
    return [{"id": row["id"], "stream": row["stream"], "a_key": row["a_key"],
             "b_key": row["b_key"], "status": row["status"],
             "detected_run": row["detected_run"], "detected_at": _iso(row["detected_at"]),
             "a_fields": row.get("a_fields"), "b_fields": row.get("b_fields"),
             "base_fields": row.get("base_fields"), "resolution": row.get("resolution"),
             "differing": [name for name, _, _ in differing_fields(row, shared)]}
            for row in rows]


# -- connectors ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CapabilityRow:
    """One row of the capability matrix: a connector type and one stream it knows (or, when
    the connector could not be loaded, ``problem``)."""

    connector: str
    stream: str
    capabilities: Capability
    problem: str | None = None


def capability_table(rows: Sequence[CapabilityRow]) -> Table:
    """The capability matrix: connector x stream rows, a check mark per capability."""
    table = Table(title="connector capabilities", title_justify="left", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False, collapse_padding=True,
                  caption="incremental: reads changes since a cursor; deletes: detects "
                          "deletions", caption_justify="left")
    table.add_column("connector", style="bold", no_wrap=True)
    table.add_column("stream", no_wrap=True)
    for name, _ in CAPABILITY_COLUMNS:
        table.add_column(name, justify="center", no_wrap=True, min_width=len(name))
    previous = None
    for row in rows:
        name = row.connector if row.connector != previous else ""
        if row.connector != previous and previous is not None:
            table.add_section()
        previous = row.connector
        if row.problem is not None:
            table.add_row(name, Text(row.problem, style="red"),
                          *("" for _ in CAPABILITY_COLUMNS))
            continue
        table.add_row(name, row.stream, *(
            Text("✓", style="green") if flag in row.capabilities else Text("·", style="dim")
            for _, flag in CAPABILITY_COLUMNS))
    return table


def capability_json(rows: Iterable[CapabilityRow]) -> list[dict[str, Any]]:
    """The capability matrix as JSON objects (one per connector x stream)."""
    out: list[dict[str, Any]] = []
    for row in rows:
        entry: dict[str, Any] = {"connector": row.connector, "stream": row.stream}
        if row.problem is not None:
            entry["problem"] = row.problem
        else:
            entry.update({name: flag in row.capabilities for name, flag in CAPABILITY_COLUMNS})
        out.append(entry)
    return out


def worst_exit(outcomes: Iterable[RunOutcome]) -> int:
    """The exit code for a set of run outcomes: 3 if any failed, 1 if any finished with item
    errors, else 0 (warnings are not errors)."""
    seen = set(outcomes)
    if RunOutcome.FAILED in seen:
        return 3
    if RunOutcome.ERROR in seen:
        return 1
    return 0
