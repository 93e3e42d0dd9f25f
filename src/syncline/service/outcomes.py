"""What a run reports, as the faces show it: its summary (per-stream counts, messages, the
planned changes of a dry run), its outcome, and the interface a face implements to draw the
progress of a run.

These are plain values (and one protocol) defined with the engine's run options
(:mod:`syncline.engine.options`); they are re-exported here so that the faces name them
without importing the engine. Importing this module is cheap (no planner, no store).
"""

from __future__ import annotations

from syncline.engine.options import (
    FieldChange,
    NullProgress,
    PlannedChange,
    ProgressReporter,
    RunOutcome,
    RunSummary,
    StreamCounts,
)

__all__ = [
    "FieldChange",
    "NullProgress",
    "PlannedChange",
    "ProgressReporter",
    "RunOutcome",
    "RunSummary",
    "StreamCounts",
]
