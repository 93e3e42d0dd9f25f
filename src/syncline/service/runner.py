"""One run of a link under its run lock: what ``syncline sync``, ``syncline force --now`` and
the service all call.

A dry run writes nothing and takes no lock. A run that starts while records of the link are
marked for resynchronisation is recorded as ``forced`` (it writes them, action code R).
After the run, the logs asked for by force requests it served are written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from syncline.engine import ProgressReporter, RunMode, RunSummary, SyncEngine, SyncOptions
from syncline.service.clock import Clock
from syncline.service.forcelog import write_pending_logs
from syncline.service.lock import DEFAULT_TTL, RunLock
from syncline.state.service_store import Lease, marked_count

__all__ = ["run_locked"]


def run_locked(engine: SyncEngine, link: str, options: SyncOptions, *, holder: str,
               wait: bool = False, on_wait: Callable[[Lease], None] | None = None,
               progress: ProgressReporter | None = None, clock: Clock | None = None,
               ttl: float = DEFAULT_TTL, poll: float = 1.0,
               cancel: threading.Event | None = None) -> RunSummary:
    """Run ``link`` once while holding its run lock (see the module docstring).

    Raises:
        LinkBusy: another run holds the lock and ``wait`` is false, naming who.
        ConfigError, UsageError, RunError: as :meth:`SyncEngine.run`.
    """
    store = engine.store
    if options.dry_run:
        return engine.run(link, options, progress)
    engine.config.link(link)  # an unknown link is a config error, not a lock row
    lock = RunLock(store, link, holder=holder, ttl=ttl, clock=clock)
    lock.acquire(wait=wait, on_wait=on_wait, poll=poll, cancel=cancel)
    try:
        if options.mode is RunMode.INCREMENTAL and marked_count(store, link, options.streams):
            options = replace(options, mode=RunMode.FORCED)
        summary = engine.run(link, options, progress)
    finally:
        lock.release()
    if summary.run_id is not None:
        write_pending_logs(store, link, summary.run_id)
    return summary
