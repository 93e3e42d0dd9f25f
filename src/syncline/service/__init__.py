"""The service layer: the one way in for every run, schedules, run locks, triggers, workers
and forced resynchronisation.

Public entry points: :func:`run_link` (the one function every run goes through, whatever
started it: it takes the link's lease, redacts secrets, journals and notifies),
:class:`SyncService` (trigger, force, status; what ``syncline serve`` and the API drive),
:class:`RunLock`, :class:`ForceCriteria`, and the clocks. The faces (CLI, API, web console)
take the words of a run request from here too: :class:`RunRequest` (the one shape of a
request, from the face to the engine and the notification), :class:`RunMode`,
:class:`Trigger` and :class:`ReadScope`, and the :class:`Lease` of a run that holds a link
(what :func:`run_link` shows a caller waiting for it).

Each is imported from its module when first used, so that a command needing one part (the
CLI's ``sync`` takes only the run lock) does not load the scheduler, the worker queue and the
rest at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncline.connectors.base import ReadScope
    from syncline.engine.options import RunMode, RunRequest, Trigger
    from syncline.service.clock import Clock, ManualClock, SystemClock
    from syncline.service.criteria import ForceCriteria
    from syncline.service.force import ForceResult, Selection
    from syncline.service.lock import RunLock
    from syncline.service.requests import coalesce
    from syncline.service.runner import run_link
    from syncline.service.scheduler import Job, Scheduler
    from syncline.service.service import SyncService, TriggerResult, TriggerStatus
    from syncline.state.service_store import Lease

__all__ = [
    "Clock",
    "ForceCriteria",
    "ForceResult",
    "Job",
    "Lease",
    "ManualClock",
    "ReadScope",
    "RunLock",
    "RunMode",
    "RunRequest",
    "Scheduler",
    "Selection",
    "SyncService",
    "SystemClock",
    "Trigger",
    "TriggerResult",
    "TriggerStatus",
    "coalesce",
    "run_link",
]

_LAZY = {
    "ReadScope": "syncline.connectors.base",
    "RunMode": "syncline.engine.options", "RunRequest": "syncline.engine.options",
    "Trigger": "syncline.engine.options",
    "Clock": "syncline.service.clock", "ManualClock": "syncline.service.clock",
    "SystemClock": "syncline.service.clock",
    "ForceCriteria": "syncline.service.criteria", "ForceResult": "syncline.service.force",
    "Selection": "syncline.service.force", "RunLock": "syncline.service.lock",
    "coalesce": "syncline.service.requests", "run_link": "syncline.service.runner",
    "Job": "syncline.service.scheduler", "Scheduler": "syncline.service.scheduler",
    "SyncService": "syncline.service.service", "TriggerResult": "syncline.service.service",
    "TriggerStatus": "syncline.service.service",
    "Lease": "syncline.state.service_store",
}


def __getattr__(name: str) -> Any:
    """The public names above, imported from their modules on first use.

    Raises:
        AttributeError: ``name`` is none of them (submodules are imported as usual).
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
