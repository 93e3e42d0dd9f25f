"""The service layer: schedules, run locks, triggers, workers and forced resynchronisation.

Public entry points: :class:`SyncService` (trigger, force, status; what ``syncline serve``
and the API drive), :func:`run_locked` (one run under the link's run lock, for the CLI),
:class:`RunLock`, :class:`ForceCriteria`, and the clocks.

Each is imported from its module when first used, so that a command needing one part (the
CLI's ``sync`` takes only the run lock) does not load the scheduler, the worker queue and the
rest at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncline.service.clock import Clock, ManualClock, SystemClock
    from syncline.service.criteria import ForceCriteria
    from syncline.service.force import ForceResult, Selection
    from syncline.service.lock import RunLock
    from syncline.service.requests import RunRequest
    from syncline.service.runner import run_locked
    from syncline.service.scheduler import Job, Scheduler
    from syncline.service.service import (
        SyncService,
        TriggerOptions,
        TriggerResult,
        TriggerStatus,
    )

__all__ = [
    "Clock",
    "ForceCriteria",
    "ForceResult",
    "Job",
    "ManualClock",
    "RunLock",
    "RunRequest",
    "Scheduler",
    "Selection",
    "SyncService",
    "SystemClock",
    "TriggerOptions",
    "TriggerResult",
    "TriggerStatus",
    "run_locked",
]

_LAZY = {
    "Clock": "clock", "ManualClock": "clock", "SystemClock": "clock",
    "ForceCriteria": "criteria", "ForceResult": "force", "Selection": "force",
    "RunLock": "lock", "RunRequest": "requests", "run_locked": "runner",
    "Job": "scheduler", "Scheduler": "scheduler", "SyncService": "service",
    "TriggerOptions": "service", "TriggerResult": "service", "TriggerStatus": "service",
}


def __getattr__(name: str) -> Any:
    """The public names above, imported from their modules on first use.

    Raises:
        AttributeError: ``name`` is none of them (submodules are imported as usual).
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
