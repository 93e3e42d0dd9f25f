"""One run of a link under its run lock: what ``syncline sync``, ``syncline force --now`` and
the service all call.

A dry run writes nothing and takes no lock. A run that starts while records of the link are
marked for resynchronisation is recorded as ``forced`` (it writes them, action code R).
After the run, the logs asked for by force requests it served are written. The
configuration's secrets are kept out of what the run stores (journal, runs, pending
items), of its summary's messages and of the message of an error it raises (see
:mod:`syncline.redaction`).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from syncline.engine import ProgressReporter, RunMode, RunSummary, SyncEngine, SyncOptions
from syncline.errors import (
    LeaseLost,
    LinkBusy,
    RunCancelled,
    RunError,
    StateUnavailable,
    SynclineError,
)
from syncline.redaction import config_secrets, redact_store, scrub, scrub_error
from syncline.run_context import StopSignal
from syncline.service.clock import Clock
from syncline.service.forcelog import write_pending_logs
from syncline.service.lock import DEFAULT_TTL, RunLock
from syncline.service.requests import RunRequest
from syncline.state.fencing import lost_after_error
from syncline.state.service_store import Lease, marked_count

__all__ = ["run_locked"]

log = logging.getLogger("syncline.service")


def run_locked(engine: SyncEngine, link: str, options: SyncOptions, *, holder: str,
               wait: bool = False, on_wait: Callable[[Lease], None] | None = None,
               progress: ProgressReporter | None = None, clock: Clock | None = None,
               ttl: float = DEFAULT_TTL, poll: float = 1.0,
               cancel: threading.Event | None = None, notify: bool = True,
               stop: StopSignal | None = None) -> RunSummary:
    """Run ``link`` once while holding its run lock (see the module docstring). Setting
    ``stop`` ends the run between two requests (see :meth:`SyncEngine.run`). With
    ``notify``, a failed run or one with blocking errors is notified as the link's
    ``notify`` settings say, before this returns or raises (the service passes ``False``:
    it notifies from its own listener, in the background).

    Raises:
        LinkBusy: another run holds the lock and ``wait`` is false, naming who.
        ConfigError, UsageError, RunError: as :meth:`SyncEngine.run` (RunCancelled:
            ``stop`` was set; LeaseLost: the run's lease was taken over, it stopped and
            wrote nothing more: the run writes through a state store fenced by its lease,
            see :mod:`syncline.state.fencing`).
    """
    secrets = config_secrets(engine.config)
    redact_store(engine.store, secrets)  # no secret in journal or run rows
    try:
        summary = _run_locked(engine, link, options, holder=holder, wait=wait,
                              on_wait=on_wait, progress=progress, clock=clock, ttl=ttl,
                              poll=poll, cancel=cancel, stop=stop)
    except SynclineError as error:  # its message is shown: not with a secret in it
        scrub_error(error, secrets)
        if notify and isinstance(error, RunError) \
                and not isinstance(error, LinkBusy | RunCancelled) and not options.dry_run:
            _notify(engine, link, options, None, str(error))
        raise
    summary.messages[:] = [scrub(message, secrets) for message in summary.messages]
    if notify and not options.dry_run:
        _notify(engine, link, options, summary, None)
    return summary


def _notify(engine: SyncEngine, link: str, options: SyncOptions, summary: RunSummary | None,
            error: str | None) -> None:
    """Notify the run now, if the link's settings ask for it (never raises)."""
    settings = engine.config.links.get(link)
    if settings is None or settings.notify is None:
        return
    from syncline.notify import Notifier  # here: the notifier imports the service layer

    notifier = Notifier(engine.config, engine.store)
    try:
        outcome = "failed" if summary is None else summary.outcome.value
        wanted = notifier.wanted(link, outcome)
        if wanted is None:
            return
        request = RunRequest(link, options.mode, frozenset(options.streams), options.scope,
                             options.trigger, (options.user,) if options.user else (),
                             options.allow_mass_delete)
        notifier.deliver(notifier.notice(request, summary, error), wanted)
    except Exception:  # telling people must not turn a run into a failure
        log.exception("%s: the run could not be notified", link)
    finally:
        notifier.close()


def _run_locked(engine: SyncEngine, link: str, options: SyncOptions, *, holder: str,
                wait: bool, on_wait: Callable[[Lease], None] | None,
                progress: ProgressReporter | None, clock: Clock | None, ttl: float,
                poll: float, cancel: threading.Event | None,
                stop: StopSignal | None) -> RunSummary:
    store = engine.store
    if options.dry_run:
        return engine.run(link, options, progress, stop)
    engine.config.link(link)  # an unknown link is a config error, not a lock row
    lock = RunLock(store, link, holder=holder, ttl=ttl, clock=clock)
    lock.acquire(wait=wait, on_wait=on_wait, poll=poll, cancel=cancel)
    try:
        if options.mode is RunMode.INCREMENTAL and marked_count(store, link, options.streams):
            options = replace(options, mode=RunMode.FORCED)
        assert lock.fence is not None
        fenced = copy.copy(engine)  # the run writes through a store fenced by its lease
        fenced.store = store.fenced(lock.fence)
        summary = fenced.run(link, options, progress, stop)
    except LeaseLost as error:
        log.error("%s", error)
        raise
    except StateUnavailable as error:  # the taker may have ended this run's sessions
        lost = lost_after_error(store.engine, lock.fence) if lock.fence is not None else None
        if lost is None:
            raise
        log.error("%s", lost)
        raise lost from error
    finally:
        lock.release()
    if summary.run_id is not None:
        write_pending_logs(store, link, summary.run_id)
    return summary
