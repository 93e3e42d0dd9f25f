"""What a notification says about a run: :class:`RunNotice`, as JSON (the webhook's body)
and as an e-mail's subject and text.

Terms:

notice
    The facts of one finished run: link, run id, outcome, trigger, mode, who asked, times,
    counts per stream, the run's error (a failed run) and the first records that could not
    go (at most :data:`MAX_ITEMS`, with their error), scrubbed of every secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from syncline.engine.options import RunRequest, RunSummary
from syncline.redaction import scrub
from syncline.state.store import StateStore

__all__ = ["MAX_ITEMS", "RunNotice", "build_notice"]

MAX_ITEMS = 20
"""How many of the records that could not go a notice lists."""


@dataclass(frozen=True)
class RunNotice:
    """See the module docstring. ``outcome`` is ``failed``, ``error``, ``warning`` or
    ``ok``."""

    link: str
    run_id: int | None
    outcome: str
    trigger: str
    mode: str
    requested_by: tuple[str, ...]
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None
    messages: tuple[str, ...] = ()
    pending: int = 0
    items: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The webhook's JSON document (``event`` is ``run.<outcome>``)."""
        return {
            "event": f"run.{self.outcome}",
            "link": self.link,
            "run_id": self.run_id,
            "outcome": self.outcome,
            "trigger": self.trigger,
            "mode": self.mode,
            "requested_by": list(self.requested_by),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_s": self.duration_s,
            "counts": self.counts,
            "error": self.error,
            "messages": list(self.messages),
            "pending": self.pending,
            "items": list(self.items),
        }

    def body(self) -> bytes:
        """:meth:`to_json` as compact UTF-8 JSON with sorted keys (what is signed)."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")

    @property
    def subject(self) -> str:
        what = {"failed": "run failed", "error": "records could not go",
                "warning": "run finished with warnings"}.get(self.outcome, self.outcome)
        run = f" (run {self.run_id})" if self.run_id is not None else ""
        return f"[syncline] {self.link}: {what}{run}"

    def text(self) -> str:
        """The e-mail's plain text."""
        lines = [f"Link:      {self.link}",
                 f"Run:       {self.run_id if self.run_id is not None else '-'}",
                 f"Outcome:   {self.outcome}",
                 f"Trigger:   {self.trigger} ({self.mode})"
                 + (f" by {', '.join(self.requested_by)}" if self.requested_by else ""),
                 f"Started:   {self.started_at.isoformat() if self.started_at else '-'}",
                 f"Finished:  {self.finished_at.isoformat() if self.finished_at else '-'}"]
        if self.duration_s is not None:
            lines.append(f"Duration:  {self.duration_s:.1f} s")
        if self.error:
            lines += ["", "The run could not proceed:", f"  {self.error}"]
        if self.counts:
            lines += ["", "Counts (A create, M modify, D delete, R forced):"]
            for stream, counts in self.counts.items():
                shown = ", ".join(f"{name} {value}" for name, value in counts.items() if value)
                lines.append(f"  {stream}: {shown or 'nothing to do'}")
        if self.pending:
            lines += ["", f"{self.pending} record(s) could not go; they stay pending and are "
                          f"retried by the next run:"]
            for item in self.items:
                lines.append(f"  {item['stream']} {item['side']}:{item['key']} "
                             f"(attempt {item['attempts']}): {item['message']}")
            if self.pending > len(self.items):
                lines.append(f"  ... and {self.pending - len(self.items)} more "
                             f"(syncline errors {self.link})")
        for message in self.messages:
            lines.append(f"Note: {message}")
        return "\n".join(lines) + "\n"


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _failed_run(store: StateStore, request: RunRequest) -> dict[str, Any] | None:
    """The run row of a run that failed without a summary: the link's newest run, when it
    failed and started after the request was made (else the run never got a row)."""
    rows = store.runs(request.link, limit=1)
    if not rows or rows[0]["outcome"] != "failed":
        return None
    started = _aware(rows[0]["started_at"])
    if request.requested_at is not None and (
            started is None or started < request.requested_at - timedelta(seconds=1)):
        return None
    return rows[0]


def _outcome(summary: RunSummary | None, error: str | None) -> str:
    if summary is None:
        return "failed"
    return summary.outcome.value


def build_notice(request: RunRequest, summary: RunSummary | None, error: str | None,
                 store: StateStore | None, secrets: Iterable[str] = ()) -> RunNotice:
    """The notice of the run of ``request`` that ended with ``summary`` (``None``: it
    failed before the engine returned one) and ``error``; the records that could not go
    are read from ``store``. Every text is scrubbed of ``secrets`` and URL passwords."""
    hidden = list(secrets)

    def clean(text: str) -> str:
        return scrub(text, hidden)

    pending: list[dict[str, Any]] = store.pending_items(request.link) if store else []
    items = tuple({"stream": str(row["stream"]), "side": str(row["side"]),
                   "key": str(row["key"]), "attempts": int(row["attempts"]),
                   "message": clean(str(row["message"]))} for row in pending[:MAX_ITEMS])
    if summary is None:
        row = _failed_run(store, request) if store else None
        return RunNotice(request.link, row["id"] if row else None, "failed",
                         request.trigger.value, request.mode.value, request.requested_by,
                         _aware(row["started_at"]) if row else request.requested_at,
                         _aware(row["finished_at"]) if row else datetime.now(UTC),
                         row["duration_s"] if row else None,
                         error=clean(error) if error else None, pending=len(pending),
                         items=items)
    failed_text = error or ("\n".join(summary.messages) if summary.outcome.value == "failed"
                            else None)
    return RunNotice(
        summary.link, summary.run_id, _outcome(summary, error), summary.trigger.value,
        summary.mode.value, request.requested_by, summary.started_at, summary.finished_at,
        summary.duration_s,
        counts={name: counts.to_json() for name, counts in summary.streams.items()},
        error=clean(failed_text) if failed_text else None,
        messages=tuple(clean(message) for message in summary.messages),
        pending=len(pending), items=items)
