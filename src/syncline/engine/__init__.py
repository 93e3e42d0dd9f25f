"""The sync engine: ``read → plan → check rules → apply → record``.

Public entry points: :class:`SyncEngine` runs a link (for the service's entry point,
:func:`syncline.service.run_link`); :class:`RunRequest` says how; :class:`RunSummary`
says what happened.

The small value types (:mod:`syncline.engine.options`) load with this package;
:class:`SyncEngine` and :func:`open_endpoint` load :mod:`syncline.engine.sync` (the planner,
the state store, SQLAlchemy) when first used, so that importing options and outcomes stays
cheap for commands that only show or check things.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from syncline.engine.options import (
    FieldChange,
    NullProgress,
    PlannedChange,
    ProgressReporter,
    RunMode,
    RunOutcome,
    RunRequest,
    RunSummary,
    StreamCounts,
    Trigger,
)

if TYPE_CHECKING:
    from syncline.engine.sync import SyncEngine, open_endpoint

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
    "SyncEngine",
    "Trigger",
    "open_endpoint",
]

_LAZY = {"SyncEngine": "syncline.engine.sync", "open_endpoint": "syncline.engine.sync"}


def __getattr__(name: str) -> Any:
    """:class:`SyncEngine` and :func:`open_endpoint`, imported on first use.

    Raises:
        AttributeError: ``name`` is neither (submodules are imported as usual).
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
