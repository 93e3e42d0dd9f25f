"""What a caller asks of a run (:class:`RunRequest`), what it is told while the run goes on
(:class:`ProgressReporter`) and what it gets back (:class:`RunSummary`).

Terms:

run request
    A wish to run a link, in the one shape it keeps from the face that asked for it (CLI,
    API, web console, schedule) through the service's queue and its coalescing (see
    :mod:`syncline.service.requests`) to the engine and the notification of the run: the
    link, the mode, the streams (empty: all of the link's), the scope, why (the trigger)
    and who asked (every requester of a coalesced request), consent to mass deletions,
    whether it is a dry run, and the user the run is done as.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from syncline.connectors.base import ReadScope

__all__ = [
    "FieldChange",
    "NullProgress",
    "PlannedChange",
    "ProgressReporter",
    "RunMode",
    "RunOutcome",
    "RunRequest",
    "RunSummary",
    "StreamCounts",
    "Trigger",
]


class RunMode(StrEnum):
    """``incremental``: changes since the stored cursors; ``full``: both sides read completely
    and reconciled (Force Sync); ``forced``: records marked for resynchronisation are sent
    again (action code R) along with the incremental changes. Any run (but a dry run) writes
    the marks waiting for its streams; ``forced`` records that it was started for them."""

    INCREMENTAL = "incremental"
    FULL = "full"
    FORCED = "forced"


class Trigger(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    STARTUP = "startup"
    API = "api"
    FORCE = "force"


class RunOutcome(StrEnum):
    """``ok``: everything went; ``warning``: went, with warnings; ``error``: some records did
    not go (they stay pending); ``failed``: the run could not proceed; ``running``."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    FAILED = "failed"
    RUNNING = "running"


@dataclass(frozen=True)
class RunRequest:
    """One (possibly coalesced) request to run ``link``; see the module docstring.

    ``streams`` empty means all of the link's streams (the engine runs them in the link's
    order). A non-empty ``scope`` (dates or key range) reads only that part and never moves
    the cursors. ``requested_by`` lists everyone who asked (``schedule`` for the
    schedule), in the order they asked; ``run_as`` is the link's sync user when the run is
    done as that user (see :attr:`user`). A ``dry_run`` plans and writes nothing.
    ``requested_at`` is when the (first) request was made and ``merged_count`` how many
    requests were coalesced into this one.
    """

    link: str
    mode: RunMode = RunMode.INCREMENTAL
    streams: frozenset[str] = frozenset()
    scope: ReadScope = field(default_factory=ReadScope)
    trigger: Trigger = Trigger.MANUAL
    requested_by: tuple[str, ...] = ()
    allow_mass_delete: bool = False
    requested_at: datetime | None = None
    merged_count: int = 1
    dry_run: bool = False
    run_as: str | None = None

    def ordered_streams(self, link_streams: Sequence[str]) -> tuple[str, ...]:
        """The streams asked for, in the link's order (``link_streams``); empty when they
        are all of the link's (so is a request for the whole link recorded)."""
        if not self.streams or not set(link_streams) - self.streams:
            return ()
        return tuple(stream for stream in link_streams if stream in self.streams)

    @property
    def user(self) -> str | None:
        """Who the run is recorded as done by: the requesters (``alice, bob``), or, with
        ``run_as``, ``alice as <run_as>`` (the schedule is no person: a scheduled run is
        done as ``<run_as>``); ``None`` when nobody is named."""
        if self.run_as is None:
            return ", ".join(self.requested_by) or None
        asked = ", ".join(who for who in self.requested_by if who != "schedule")
        return f"{asked} as {self.run_as}" if asked else self.run_as


class ProgressReporter(Protocol):
    """Receives progress while a run goes on, per stream: ``stream_started`` (with the
    number of records to read, when known), ``advanced`` (records read so far),
    ``written`` (records written so far and to write so far: the second grows as the run
    plans more; called from the thread that wrote, at most a few times a second),
    ``stream_finished``, and free-text ``message`` lines. Implementations must be cheap
    and thread-safe."""

    def stream_started(self, stream: str, total: int | None) -> None: ...

    def advanced(self, stream: str, done: int) -> None: ...

    def written(self, stream: str, done: int, total: int) -> None: ...

    def stream_finished(self, stream: str) -> None: ...

    def message(self, text: str) -> None: ...


class NullProgress:
    """A reporter that ignores everything."""

    def stream_started(self, stream: str, total: int | None) -> None:
        return None

    def advanced(self, stream: str, done: int) -> None:
        return None

    def written(self, stream: str, done: int, total: int) -> None:
        return None

    def stream_finished(self, stream: str) -> None:
        return None

    def message(self, text: str) -> None:
        return None


@dataclass
class StreamCounts:
    """Per stream: journal rows by action code, and errors / warnings / conflicts."""

    A: int = 0
    M: int = 0
    D: int = 0
    R: int = 0
    errors: int = 0
    warnings: int = 0
    conflicts: int = 0
    skipped: int = 0

    def to_json(self) -> dict[str, int]:
        return {"A": self.A, "M": self.M, "D": self.D, "R": self.R, "errors": self.errors,
                "warnings": self.warnings, "conflicts": self.conflicts, "skipped": self.skipped}

    def add_action(self, code: str) -> None:
        setattr(self, code, getattr(self, code) + 1)


@dataclass(frozen=True)
class FieldChange:
    """One field a planned write changes on its target: the value there now and the value
    it will hold, shortened for display (``None``: empty)."""

    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class PlannedChange:
    """One change a dry run would make. ``fields`` are the fields a modification (M or R)
    changes on its target (the side ``direction`` points to), in the link's field order."""

    stream: str
    action: str
    direction: str
    a_key: str | None
    b_key: str | None
    detail: str
    fields: tuple[FieldChange, ...] = ()


@dataclass
class RunSummary:
    """What a run did. ``to_json`` gives the documented ``sync --json`` shape."""

    link: str
    run_id: int | None
    mode: RunMode
    trigger: Trigger
    started_at: datetime
    finished_at: datetime | None = None
    outcome: RunOutcome = RunOutcome.RUNNING
    streams: dict[str, StreamCounts] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    planned: list[PlannedChange] = field(default_factory=list)
    user: str | None = None
    dry_run: bool = False

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "run_id": self.run_id,
            "mode": self.mode.value,
            "trigger": self.trigger.value,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_s": self.duration_s,
            "outcome": self.outcome.value,
            "streams": {name: counts.to_json() for name, counts in self.streams.items()},
            "messages": list(self.messages),
            "dry_run": self.dry_run,
        }
