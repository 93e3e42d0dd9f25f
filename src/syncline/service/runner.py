"""The one way in: :func:`run_link` runs a link once, whatever asked for the run (``syncline
sync``, ``syncline post``, ``syncline force --now``, the API, the web console, the
schedule of the service).

Around the engine's run (:meth:`~syncline.engine.sync.SyncEngine.run`) it

* keeps the configuration's secrets out of what the run stores (journal, runs, pending
  items), of its summary's messages and of the message of an error it raises (see
  :mod:`syncline.redaction`);
* takes the link's run lock (its lease, see :mod:`syncline.service.lock`) for the run and
  has the run write through a state store fenced by it (see
  :mod:`syncline.state.fencing`);
* records a run that starts while records of the link are marked for resynchronisation
  as ``forced`` (it writes them, action code R), and afterwards writes the logs asked for
  by the force requests it served;
* notifies a failed run or one with blocking errors as the link's ``notify`` settings say.

A dry run (``request.dry_run``) is decided here once: it writes nothing, so it takes no
lock and is not notified; only its secrets are still kept out of its summary.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from syncline.config import Config
from syncline.engine import ProgressReporter, RunMode, RunRequest, RunSummary
from syncline.engine.sync import ConnectorFactory, SyncEngine
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
from syncline.state.fencing import lost_after_error
from syncline.state.service_store import Lease, marked_count
from syncline.state.store import StateStore

__all__ = ["run_link"]

log = logging.getLogger("syncline.service")


def run_link(config: Config, store: StateStore, request: RunRequest, *, holder: str,
             factory: ConnectorFactory | None = None,
             progress: ProgressReporter | None = None, stop: StopSignal | None = None,
             wait: bool = False, on_wait: Callable[[Lease], None] | None = None,
             notify: bool = True, clock: Clock | None = None,
             ttl: float = DEFAULT_TTL) -> RunSummary:
    """Run ``request`` once (see the module docstring) and return what the run did.

    ``holder`` names who holds the lease (``syncline sync by alice on host``); with
    ``wait``, a run that finds the link busy waits for it (calling ``on_wait`` once with
    the holder's lease) until the lock is free or ``stop`` is set. ``factory`` makes the
    connectors (tests). Setting ``stop`` ends the run between two requests. With
    ``notify`` (the default), a failed run or one with blocking errors is notified before
    this returns or raises; the service passes ``False``: its own listener notifies, in the
    background, with the same request.

    Raises:
        LinkBusy: another run holds the lock and ``wait`` is false (or ``stop`` was set
            while waiting), naming who.
        ConfigError, UsageError, RunError: as :meth:`SyncEngine.run` (RunCancelled:
            ``stop`` was set; LeaseLost: the run's lease was taken over, it stopped and
            wrote nothing more).
    """
    engine = SyncEngine(config, store, factory)
    secrets = config_secrets(config)
    redact_store(store, secrets)  # no secret in journal or run rows
    run: Callable[[], RunSummary]
    if request.dry_run:  # it writes nothing: no lock to take, nothing to tell
        notify = False
        run = partial(engine.run, request, progress, stop)
    else:
        run = partial(_run_locked, engine, request, holder=holder, wait=wait, on_wait=on_wait,
                      progress=progress, clock=clock, ttl=ttl, stop=stop)
    try:
        summary = run()
    except SynclineError as error:  # its message is shown: not with a secret in it
        scrub_error(error, secrets)
        if notify and isinstance(error, RunError) \
                and not isinstance(error, LinkBusy | RunCancelled):
            _notify(config, store, request, None, str(error))
        raise
    summary.messages[:] = [scrub(message, secrets) for message in summary.messages]
    if notify:
        _notify(config, store, request, summary, None)
    return summary


def _notify(config: Config, store: StateStore, request: RunRequest,
            summary: RunSummary | None, error: str | None) -> None:
    """Notify the run of ``request`` now, if the link's settings ask for it (never
    raises)."""
    settings = config.links.get(request.link)
    if settings is None or settings.notify is None:
        return
    from syncline.notify import Notifier  # only a link that notifies needs it (start-up)

    notifier = Notifier(config, store)
    try:
        outcome = "failed" if summary is None else summary.outcome.value
        wanted = notifier.wanted(request.link, outcome)
        if wanted is not None:
            notifier.deliver(notifier.notice(request, summary, error), wanted)
    except Exception:  # telling people must not turn a run into a failure
        log.exception("%s: the run could not be notified", request.link)
    finally:
        notifier.close()


def _run_locked(engine: SyncEngine, request: RunRequest, *, holder: str, wait: bool,
                on_wait: Callable[[Lease], None] | None,
                progress: ProgressReporter | None, clock: Clock | None, ttl: float,
                stop: StopSignal | None) -> RunSummary:
    """The engine's run of ``request`` under the link's run lock, through a state store
    fenced by its lease (see :func:`run_link`)."""
    store = engine.store
    link = request.link
    engine.config.link(link)  # an unknown link is a config error, not a lock row
    lock = RunLock(store, link, holder=holder, ttl=ttl, clock=clock)
    lock.acquire(wait=wait, on_wait=on_wait, cancel=stop.event if stop is not None else None)
    try:
        marked = marked_count(store, link, tuple(request.streams))
        if request.mode is RunMode.INCREMENTAL and marked:
            request = replace(request, mode=RunMode.FORCED)
        assert lock.fence is not None
        fenced = copy.copy(engine)  # the run writes through a store fenced by its lease
        fenced.store = store.fenced(lock.fence)
        summary = fenced.run(request, progress, stop)
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
