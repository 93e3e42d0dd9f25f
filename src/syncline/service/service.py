"""The sync service: schedules, triggers, coalescing and workers, in one object the CLI,
``syncline serve`` and (later) the REST API call.

Terms:

trigger
    Why a run is asked for: ``schedule``, ``startup``, ``manual`` (CLI), ``api``, or
    ``force`` (Force Sync: a full run that reconciles both sides completely; or a forced
    resynchronisation run with ``--now``).
one run per link
    A link has at most one run going (also across processes: the run lock in the state
    store) and at most one request waiting; further triggers coalesce into the waiting one
    (see :mod:`syncline.service.requests`). Each run goes through the one way in,
    :func:`~syncline.service.runner.run_link`, with the request as it was queued. A run
    that finds the lock held by another process (a CLI ``syncline sync``) stays queued
    and is tried again ``busy_retry`` seconds later.

Runs go in worker threads (``max_workers`` links at a time). :meth:`SyncService.tick`
dispatches what is due; :meth:`SyncService.run_forever` calls it until :meth:`stop`. Runs
going on finish, unless :meth:`SyncService.cancel_runs` (or ``stop(cancel_runs=True)``)
asks them to stop (:class:`~syncline.run_context.StopSignal`, as Ctrl-C does for
``syncline sync``): they end between two requests, with what they wrote settled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from syncline.config import Config
from syncline.engine import ProgressReporter, RunMode, RunRequest, RunSummary, Trigger
from syncline.engine.sync import ConnectorFactory, open_endpoint
from syncline.errors import LinkBusy, StateUnavailable, SynclineError, UsageError
from syncline.run_context import StopSignal
from syncline.service.clock import Clock, SystemClock
from syncline.service.criteria import ForceCriteria
from syncline.service.force import ForceResult, authoritative_side, mark_for_force
from syncline.service.lock import DEFAULT_TTL, holder_text
from syncline.service.requests import coalesce
from syncline.service.runner import run_link
from syncline.service.scheduler import Scheduler
from syncline.service.store_watch import StoreWatch
from syncline.state.controls_store import ControlsStore
from syncline.state.service_store import lease_holder, marked_count
from syncline.state.store import StateStore

__all__ = ["LinkRunner", "ProgressFactory", "RunListener", "SyncService", "TriggerResult",
           "TriggerStatus"]

log = logging.getLogger("syncline.service")

LinkRunner = Callable[[RunRequest], RunSummary]
"""Runs one request (under the run lock) and returns what it did; raises LinkBusy when
another process holds the lock, RunError when the run could not proceed."""

ProgressFactory = Callable[[RunRequest], ProgressReporter | None]
"""Makes the progress reporter of one run (the API publishes it to its subscribers)."""

RunListener = Callable[[RunRequest, RunSummary | None, str | None], None]
"""Told when a run ended: the request, its summary (``None`` when it failed before the
engine returned one) and the error text; not called for a run that found its link busy."""


class TriggerStatus(StrEnum):
    STARTED = "started"
    QUEUED = "queued"
    COALESCED = "coalesced"
    PAUSED = "paused"


@dataclass(frozen=True)
class TriggerResult:
    """What became of a trigger: started now, queued behind the running run, or merged into
    an already waiting request (``request`` is then the merged one)."""

    link: str
    status: TriggerStatus
    request: RunRequest


@dataclass
class _LinkState:
    running: RunRequest | None = None
    queued: RunRequest | None = None
    not_before: datetime | None = None
    last: RunSummary | None = None
    last_error: str | None = None
    completed: list[RunRequest] = field(default_factory=list)
    stop: StopSignal | None = None
    """The stop signal of the run going on."""


class SyncService:
    """See the module docstring. ``runner`` replaces how a request is run (tests);
    ``factory`` how connectors are made."""

    def __init__(self, config: Config, store: StateStore, *, clock: Clock | None = None,
                 factory: ConnectorFactory | None = None, runner: LinkRunner | None = None,
                 max_workers: int = 4, holder: str = "syncline serve",
                 lease_ttl: float = DEFAULT_TTL, busy_retry: float = 30.0,
                 progress: ProgressFactory | None = None) -> None:
        self.config = config
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.factory = factory
        self.holder = holder_text(holder, None)
        self.lease_ttl = lease_ttl
        self.busy_retry = busy_retry
        self.scheduler = Scheduler(config, self.clock, self._last_started)
        self._runner: LinkRunner = runner or self._run_request
        self.progress = progress
        self.controls = ControlsStore(store)
        self._listeners: list[RunListener] = []
        self._states = {name: _LinkState() for name in config.links}
        self._condition = threading.Condition()
        self._wake = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=max_workers,
                                            thread_name_prefix="syncline-run")
        self._stopping = False
        self._started = False
        self.store_watch = StoreWatch(store, self.running_links, self._condition)

    # -- asking for runs ----------------------------------------------------------------
    def trigger(self, link: str, mode: RunMode = RunMode.INCREMENTAL,
                streams: Iterable[str] = (), requested_by: str | None = None,
                trigger: Trigger = Trigger.MANUAL) -> TriggerResult:
        """Ask for a run of ``link`` over its whole scope (see :meth:`submit`; a request
        with a scope or consent to mass deletions is submitted whole).

        Raises:
            ConfigError: no such link.
            UsageError: a stream the link does not sync.
        """
        return self.submit(RunRequest(link, mode, frozenset(streams), trigger=trigger,
                                      requested_by=(requested_by,) if requested_by else ()))

    def submit(self, request: RunRequest) -> TriggerResult:
        """Queue ``request`` (stamped with the time it was made, unless it says) and start
        it when its link is idle (see the module docstring for coalescing).

        Raises:
            ConfigError: no such link.
            UsageError: a stream the link does not sync, or a dry run (the service runs
                only runs that write; a dry run goes to :func:`run_link` directly).
        """
        settings = self.config.link(request.link)
        settings.check_streams(request.link, sorted(request.streams))
        if request.dry_run:
            raise UsageError("the service does not queue dry runs")
        if request.requested_at is None:
            request = replace(request, requested_at=self.clock.now())
        return self._submit(request)

    def force_sync(self, link: str, requested_by: str | None = None) -> TriggerResult:
        """Force Sync: an immediate full run of every stream, reconciling both sides."""
        return self.trigger(link, RunMode.FULL, requested_by=requested_by,
                            trigger=Trigger.FORCE)

    def force(self, link: str, criteria: ForceCriteria, *, requested_by: str | None = None,
              now: bool = False, log_path: Path | None = None) -> ForceResult:
        """Mark records for forced resynchronisation (see :mod:`syncline.service.force`);
        with ``now``, also ask for a forced run at once (else the next run writes them).

        Raises:
            ConfigError, UsageError: wrong link, streams or criteria.
            RunError: the authoritative endpoint cannot be read.
        """
        settings = self.config.link(link)
        side = authoritative_side(settings, criteria.source,
                                  settings.check_streams(link, criteria.streams))
        name = settings.a if side.value == "a" else settings.b
        connector = (self.factory or (lambda endpoint: open_endpoint(self.config, endpoint)))(
            name)
        connector.open()
        try:
            result = mark_for_force(self.store, self.config, link, criteria,
                                    connector=connector, side=side,
                                    requested_by=requested_by, log_path=log_path)
        finally:
            connector.close()
        if now:
            self.trigger(link, RunMode.FORCED, requested_by=requested_by,
                         trigger=Trigger.FORCE)
        return result

    def add_listener(self, listener: RunListener) -> None:
        """Call ``listener`` after each run (in the worker thread; it must not raise)."""
        self._listeners.append(listener)

    def _unpaused(self, request: RunRequest) -> RunRequest | None:
        """``request`` without its paused streams; ``None`` when its link is paused or every
        stream it asks for is (see :mod:`syncline.state.controls_store`)."""
        controls = self.controls.controls(request.link)
        if controls.paused:
            return None
        if not controls.paused_streams:
            return request
        asked = request.streams or frozenset(self.config.link(request.link).streams)
        left = asked - controls.paused_streams
        return replace(request, streams=left) if left else None

    def _submit(self, request: RunRequest) -> TriggerResult:
        unpaused = self._unpaused(request)
        if unpaused is None:
            log.info("%s: paused; %s run not started", request.link, request.trigger.value)
            return TriggerResult(request.link, TriggerStatus.PAUSED, request)
        request = unpaused
        with self._condition:
            state = self._states[request.link]
            if state.queued is not None:
                state.queued = coalesce(state.queued, request)
                result = TriggerResult(request.link, TriggerStatus.COALESCED, state.queued)
            else:
                state.queued = request
                status = TriggerStatus.QUEUED if state.running is not None \
                    else TriggerStatus.STARTED
                result = TriggerResult(request.link, status, request)
            if self._started:
                self._dispatch()
        self._wake.set()
        return result

    # -- running ------------------------------------------------------------------------
    def start(self) -> None:
        """Begin: queue the ``on_startup`` runs and dispatch them."""
        with self._condition:
            self._started = True
        for request in self.scheduler.startup_requests():
            log.info("%s: runs on start-up", request.link)
            self._submit(request)

    def tick(self) -> None:
        """Queue the scheduled runs that are due and start what may start; nothing while
        the state store is unreachable (see :mod:`syncline.service.store_watch`)."""
        if not self.store_watch.ready():
            return
        try:
            if not self._started:
                self.start()
            due: dict[str, RunRequest] = {}
            for request in self.scheduler.due():  # jobs of one link due together: one run
                known = due.get(request.link)
                due[request.link] = request if known is None else coalesce(known, request)
            for request in due.values():
                self._submit(request)
        except StateUnavailable as error:
            self.store_watch.skipped(error)
            return
        with self._condition:
            self._dispatch()

    def _dispatch(self) -> None:
        """Start every queued request whose link is idle (caller holds the condition); none
        while the state store is unreachable (they start once it answers)."""
        if self._stopping or self.store_watch.down:
            return
        moment = self.clock.now()
        for name, state in self._states.items():
            if state.running is not None or state.queued is None:
                continue
            if state.not_before is not None and moment < state.not_before:
                continue
            state.running, state.queued, state.not_before = state.queued, None, None
            state.stop = StopSignal()
            self._executor.submit(self._work, name, state.running)

    def _work(self, name: str, request: RunRequest) -> None:
        summary: RunSummary | None = None
        error: str | None = None
        busy = False
        outage: StateUnavailable | None = None
        try:
            summary = self._runner(request)
        except LinkBusy as caught:
            busy = True
            error = str(caught)
            log.info("%s: %s; trying again in %.0f s", name, caught, self.busy_retry)
        except StateUnavailable as caught:
            error = str(caught)
            log.error("%s: run interrupted: %s", name, caught)
            outage = caught
        except SynclineError as caught:
            error = str(caught)
            log.error("%s: run failed: %s", name, caught)
        except Exception:  # a bug must not stop the service; it is logged with its trace
            log.exception("%s: run stopped by an unexpected error", name)
            error = "unexpected error (see the service log)"
        with self._condition:
            state = self._states[name]
            state.running = None
            if busy:
                state.queued = request if state.queued is None \
                    else coalesce(request, state.queued)
                state.not_before = self.clock.now() + timedelta(seconds=self.busy_retry)
            else:
                state.completed.append(request)
                state.last, state.last_error = summary, error
            self._dispatch()
            self._condition.notify_all()
        if outage is not None:  # its run row is marked once the store answers again
            self.store_watch.note_outage(outage)
        self._wake.set()
        if not busy:
            for listener in self._listeners:
                try:
                    listener(request, summary, error)
                except Exception:  # a listener's bug must not stop the service
                    log.exception("%s: a run listener failed", name)

    def _run_request(self, request: RunRequest) -> RunSummary:
        settings = self.config.link(request.link)
        if settings.sync_user:  # the run is done as the link's sync user
            request = replace(request, run_as=settings.sync_user)
        progress = self.progress(request) if self.progress is not None else None
        with self._condition:
            stop = self._states[request.link].stop
        summary = run_link(self.config, self.store, request, holder=self.holder,
                           factory=self.factory, clock=self.clock, ttl=self.lease_ttl,
                           progress=progress, stop=stop,
                           notify=False)  # the service's listeners notify
        counts = ", ".join(f"{stream} " + " ".join(f"{code}{value}" for code, value in
                                                   counts.to_json().items() if value)
                           for stream, counts in summary.streams.items())
        log.info("%s: run %s (%s, %s) %s in %.2f s%s", request.link, summary.run_id,
                 summary.trigger.value, summary.mode.value, summary.outcome.value,
                 summary.duration_s or 0.0, f": {counts}" if counts.strip() else "")
        for message in summary.messages:
            log.info("%s: %s", request.link, message)
        return summary

    def run_forever(self, max_wait: float = 30.0) -> None:
        """Tick until :meth:`stop`, sleeping until the next due time or a trigger."""
        while not self._stopping:
            self.tick()  # starts the service on its first call
            try:
                due = self.scheduler.next_due()
            except StateUnavailable as error:
                self.store_watch.skipped(error)
                due = None
            wait = max_wait if due is None else \
                max(0.0, min(max_wait, (due - self.clock.now()).total_seconds()))
            with self._condition:
                waiting = [state.not_before for state in self._states.values()
                           if state.queued is not None and state.not_before is not None]
            if waiting:
                wait = min(wait, max(0.0, (min(waiting) - self.clock.now()).total_seconds()))
            if self.store_watch.down:  # try the store again soon (its health paces tries)
                wait = min(wait, 1.0)
            self.clock.wait(self._wake, wait)
            self._wake.clear()

    def cancel_runs(self, reason: str = "the service is shutting down") -> list[str]:
        """Ask the runs going on to stop (they end between two requests, with what they
        wrote settled, recorded as interrupted for ``reason``); their links."""
        with self._condition:
            asked = [name for name, state in self._states.items()
                     if state.running is not None and state.stop is not None]
            for name in asked:
                stop = self._states[name].stop
                assert stop is not None
                stop.request(reason)
        return asked

    def stop(self, *, cancel_runs: bool = False) -> None:
        """Stop starting runs (runs going on finish, or with ``cancel_runs`` are asked to
        stop: :meth:`cancel_runs`); waiting requests are dropped."""
        with self._condition:
            self._stopping = True
            dropped = [name for name, state in self._states.items() if state.queued]
            for name in dropped:
                self._states[name].queued = None
            self._condition.notify_all()
        if cancel_runs:
            self.cancel_runs()
        for name in dropped:
            log.info("%s: waiting run dropped at shutdown; the schedule asks again", name)
        self._wake.set()

    def running_links(self) -> list[str]:
        with self._condition:
            return [name for name, state in self._states.items() if state.running]

    def shutdown(self, wait: bool = True) -> None:
        """:meth:`stop`, then wait for the runs going on to finish (``wait``)."""
        self.stop()
        self._executor.shutdown(wait=wait, cancel_futures=True)

    def wait_idle(self, timeout: float) -> bool:
        """Wait (real time, at most ``timeout`` seconds) until no run goes on and none that
        may start waits; whether that happened."""
        def idle() -> bool:
            moment = self.clock.now()
            return all(state.running is None and (
                state.queued is None or (state.not_before is not None
                                         and moment < state.not_before))
                for state in self._states.values())

        with self._condition:
            return self._condition.wait_for(idle, timeout)

    # -- status -------------------------------------------------------------------------
    def completed(self, link: str) -> list[RunRequest]:
        """The requests run (or failed) for ``link`` since the service started, in order."""
        with self._condition:
            return list(self._states[link].completed)

    def status(self, link: str | None = None) -> list[dict[str, Any]]:
        """Per link: running and waiting requests, next scheduled run, last run, marks
        waiting, the run lock's holder."""
        names = [link] if link is not None else list(self.config.links)
        out: list[dict[str, Any]] = []
        for name in names:
            self.config.link(name)
            with self._condition:
                state = self._states[name]
                running, queued = state.running, state.queued
                last_error = state.last_error
            runs = self.store.runs(name, limit=1)
            holder = lease_holder(self.store, name)
            due = self.scheduler.next_due(name)
            out.append({
                "link": name,
                "running": _describe(running),
                "queued": _describe(queued),
                "next_run": due.isoformat() if due is not None else None,
                "last_run": runs[0] if runs else None,
                "last_error": last_error,
                "marked": marked_count(self.store, name),
                "lock": holder.describe() if holder is not None else None,
            })
        return out

    def _last_started(self, link: str) -> datetime | None:
        runs = self.store.runs(link, limit=1)
        started = runs[0]["started_at"] if runs else None
        if isinstance(started, datetime) and started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        return started if isinstance(started, datetime) else None


def _describe(request: RunRequest | None) -> dict[str, Any] | None:
    if request is None:
        return None
    return {"mode": request.mode.value, "trigger": request.trigger.value,
            "streams": sorted(request.streams), "requested_by": list(request.requested_by),
            "merged": request.merged_count}


