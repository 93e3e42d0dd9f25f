"""What the console's pages show, gathered from the service and the state store (no HTML
here): link cards for the dashboard, outcome symbols, relative times.

Terms:

card
    :class:`LinkCard`: one link as the dashboard shows it — its two systems, the last run
    (when, how long, outcome, counts by action code), the next scheduled run, the run going
    on, and one :class:`StreamRow` per stream with its own last synced time.
outcome
    A run's outcome (``ok``, ``warning``, ``error``, ``failed``, ``running``) or ``never``
    (no run yet), shown as a symbol with a word (:data:`OUTCOMES`), never by colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncline.api.context import ApiContext
from syncline.plan_types import LinkDirection

__all__ = ["OUTCOMES", "ROW_OUTCOMES", "LinkCard", "StreamRow", "aware", "exact", "link_card",
           "link_cards", "relative", "total_counts"]

OUTCOMES: dict[str, tuple[str, str]] = {
    "ok": ("✓", "OK"),
    "warning": ("⚠", "Warnings"),
    "error": ("✕", "Errors"),
    "failed": ("⛔", "Failed"),
    "running": ("⟳", "Running"),
    "never": ("\u2013", "Never run"),
}
"""Outcome of a run -> (symbol, word)."""

ROW_OUTCOMES: dict[str, tuple[str, str]] = {
    "ok": ("✓", "OK"),
    "warning": ("⚠", "Warning"),
    "error": ("✕", "Error"),
    "skipped": ("\u2013", "Skipped"),
}
"""Outcome of one journal row -> (symbol, word)."""

ACTIONS = ("A", "M", "D", "R")
ACTION_NAMES = {"A": "created", "M": "modified", "D": "deleted", "R": "forced"}
_ARROWS = {LinkDirection.BOTH: "⇄", LinkDirection.A_TO_B: "→", LinkDirection.B_TO_A: "←"}
_RECENT_RUNS = 50


def aware(value: Any) -> datetime | None:
    """``value`` as an aware UTC datetime (ISO text or a datetime), or ``None``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def exact(value: datetime | None) -> str:
    """``2026-12-06 15:20:31 UTC`` (empty for ``None``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def relative(value: datetime | None, now: datetime | None = None) -> str:
    """``just now``, ``5 min ago``, ``in 25 min``, ``3 h ago``, ``2 days ago``."""
    if value is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "in a moment" if future else "just now"
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = round(seconds / size)
            word = f"{amount} {unit}{'s' if unit == 'day' and amount != 1 else ''}"
            return f"in {word}" if future else f"{word} ago"
    return ""  # pragma: no cover - the loop always returns


def total_counts(counts: dict[str, Any] | None) -> dict[str, int]:
    """A run's per-stream counts summed over its streams (A, M, D, R, errors, ...)."""
    total: dict[str, int] = {}
    for stream_counts in (counts or {}).values():
        if isinstance(stream_counts, dict):
            for name, value in stream_counts.items():
                if isinstance(value, int):
                    total[name] = total.get(name, 0) + value
    return total


@dataclass
class StreamRow:
    """One stream of a link on the dashboard."""

    name: str
    last_synced: datetime | None
    counts: dict[str, int]
    schedule: str
    next_run: datetime | None
    paused: bool


@dataclass
class LinkCard:
    """One link on the dashboard (see the module docstring)."""

    name: str
    a: str
    b: str
    a_connector: str
    b_connector: str
    arrow: str
    direction: str
    schedule: str
    last_synced: datetime | None
    last_run: dict[str, Any] | None
    outcome: str
    counts: dict[str, int]
    next_run: datetime | None
    running: dict[str, Any] | None
    queued: dict[str, Any] | None
    progress: dict[str, Any] | None
    paused: bool
    sync_all: bool
    pending: int
    conflicts: int
    marked: int
    last_error: str | None
    streams: list[StreamRow] = field(default_factory=list)

    @property
    def duration(self) -> str:
        value = (self.last_run or {}).get("duration_s")
        if not isinstance(value, int | float):
            return "\u2013"
        return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _stream_next(context: ApiContext, link: str, stream: str) -> datetime | None:
    jobs = [job for job in context.service.scheduler.jobs if job.link == link]
    own = [job for job in jobs if stream in job.streams]
    chosen = own or [job for job in jobs if not job.streams or stream in job.streams]
    times = [job.next_due for job in chosen if job.next_due is not None]
    return min(times, default=None)


def link_card(context: ApiContext, name: str) -> LinkCard:
    """The dashboard card of link ``name`` (which must exist)."""
    settings = context.config.links[name]
    status = context.service.status(name)[0]
    store = context.store
    runs = store.runs(name, limit=_RECENT_RUNS)
    controls = context.controls.controls(name)
    rows = []
    for stream in settings.streams:
        done = next((run for run in runs if run["outcome"] in ("ok", "warning", "error")
                     and not run["dry_run"] and stream in (run.get("counts") or {})), None)
        rows.append(StreamRow(
            stream, aware(done["finished_at"]) if done else None,
            dict((done.get("counts") or {}).get(stream) or {}) if done else {},
            settings.schedules.get(stream, settings.schedule),
            _stream_next(context, name, stream), stream in controls.paused_streams))
    last = runs[0] if runs else None
    running = status["running"]
    outcome = "running" if running else str(last["outcome"]) if last else "never"
    endpoints = context.config.endpoints
    return LinkCard(
        name=name, a=settings.a, b=settings.b,
        a_connector=endpoints[settings.a].connector if settings.a in endpoints else "?",
        b_connector=endpoints[settings.b].connector if settings.b in endpoints else "?",
        arrow=_ARROWS[settings.direction], direction=settings.direction.value,
        schedule=settings.schedule, last_synced=store.last_synced_at(name), last_run=last,
        outcome=outcome, counts=total_counts(last.get("counts") if last else None),
        next_run=aware(status["next_run"]), running=running, queued=status["queued"],
        progress=context.hub.snapshot(name), paused=controls.paused,
        sync_all=controls.sync_all, pending=len(store.pending_items(name)),
        conflicts=len(store.conflicts(name)), marked=int(status["marked"] or 0),
        last_error=status["last_error"], streams=rows)


def link_cards(context: ApiContext) -> list[LinkCard]:
    """Every link's card, in configuration order."""
    return [link_card(context, name) for name in context.config.links]
