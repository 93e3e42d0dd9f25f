"""The sync engine: ``read → plan → check rules → apply → record``.

Public entry points: :class:`SyncEngine` runs a link; :class:`SyncOptions` says how;
:class:`RunSummary` says what happened.
"""

from __future__ import annotations

from syncline.engine.options import (
    NullProgress,
    PlannedChange,
    ProgressReporter,
    RunMode,
    RunOutcome,
    RunSummary,
    StreamCounts,
    SyncOptions,
    Trigger,
)
from syncline.engine.sync import SyncEngine, open_endpoint

__all__ = [
    "NullProgress",
    "PlannedChange",
    "ProgressReporter",
    "RunMode",
    "RunOutcome",
    "RunSummary",
    "StreamCounts",
    "SyncEngine",
    "SyncOptions",
    "Trigger",
    "open_endpoint",
]
