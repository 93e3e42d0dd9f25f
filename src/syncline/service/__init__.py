"""The service layer: schedules, run locks, triggers, workers and forced resynchronisation.

Public entry points: :class:`SyncService` (trigger, force, status; what ``syncline serve``
and the API drive), :func:`run_locked` (one run under the link's run lock, for the CLI),
:class:`RunLock`, :class:`ForceCriteria`, and the clocks.
"""

from __future__ import annotations

from syncline.service.clock import Clock, ManualClock, SystemClock
from syncline.service.criteria import ForceCriteria
from syncline.service.force import ForceResult, Selection
from syncline.service.lock import RunLock
from syncline.service.requests import RunRequest
from syncline.service.runner import run_locked
from syncline.service.scheduler import Job, Scheduler
from syncline.service.service import SyncService, TriggerOptions, TriggerResult, TriggerStatus

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
