"""The applier's background threads: state-store settles and bulk creates, off the main thread.

Terms:

settle thread
    The one thread that writes the state store while a lane is open: settle work, and the
    intents and settles of create jobs, one at a time, in the order they were queued. One
    writer means no thread waits for another's write lock on the state store.
settle work
    A function that writes one settle transaction to the state store (the applier's
    buffered mappings, journal rows and pending items), or a whole bulk-create job.
create job
    A batch of bulk creates (:class:`~syncline.engine.bulk_creates.CreateJob`), carried out
    in three steps: its intent (:func:`~syncline.engine.bulk_creates.write_intent`) on the
    settle thread, the records written on the endpoint
    (:func:`~syncline.engine.bulk_creates.write_created`) on the *write thread* once the
    intent is in, and :func:`~syncline.engine.bulk_creates.settle_created` on the settle
    thread once the write is done. The settle of a job is queued only behind the intent of
    the next job (or when the lane drains), so the write thread writes batch *n + 1* while
    the settle thread settles batch *n*, and meanwhile the main thread reads and plans the
    next page. The SQLite work of the writes and settles runs with the GIL released, so
    both cores stay busy.
in flight
    Submitted and not yet collected. At most :attr:`SettleLane.depth` create jobs are in
    flight (the default, 2, lets one write overlap one settle); plain settle work waits
    until nothing else is, so every other state write keeps the order intent → write →
    settle.

When a job fails, the jobs submitted after it that have not started are cancelled and the
ones running are waited for, so no thread touches a connector after the applier closes.
Their intents stay in the state store; the next run settles them (crash recovery). A job
behind the failed one that did finish, settle included, is not lost from the counts:
:meth:`SettleLane.close` returns its outcome.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass

from syncline.connectors.base import Connector, CreatedRows
from syncline.engine.bulk_creates import (
    CreateJob,
    CreateOutcome,
    settle_created,
    write_created,
    write_intent,
)
from syncline.state.store import StateStore

__all__ = ["SettleLane", "SettleWork"]

SettleWork = Callable[[], CreateOutcome | None]
"""Settle work (see the module docstring); returns the outcome of a create job, else None."""


@dataclass
class _Flight:
    """Work in flight: plain settle work (``settled`` only), or a create job whose write
    is ``written`` and whose settle, once queued, is ``settled``."""

    settled: Future[CreateOutcome | None] | None
    written: Future[CreatedRows] | None = None
    job: CreateJob | None = None
    store: StateStore | None = None


class SettleLane:
    """The write and settle threads of one applier (see the module docstring)."""

    def __init__(self, depth: int = 2) -> None:
        self.depth = depth
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write")
        self._settler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="settle")
        self._in_flight: deque[_Flight] = deque()
        self._finished_late: list[CreateOutcome] = []
        """Outcomes of jobs that finished behind a failed one (returned by :meth:`close`)."""

    def submit(self, work: SettleWork) -> list[CreateOutcome]:
        """Run ``work`` on the settle thread once everything in flight is done.

        Returns the outcomes of the create jobs collected while waiting.

        Raises:
            whatever work in flight raised (``work`` is then not submitted).
        """
        outcomes = self.drain()
        self._in_flight.append(_Flight(self._settler.submit(work)))
        return outcomes

    def submit_create(self, job: CreateJob, store: StateStore,
                      connector: Connector) -> list[CreateOutcome]:
        """Write ``job``'s intent on the settle thread, its records on the write thread,
        and queue the settles of the jobs before it (see the module docstring).

        Returns the outcomes collected while waiting for room (at most :attr:`depth` jobs
        are in flight).

        Raises:
            whatever work in flight raised (``job`` is then not submitted).
        """
        outcomes: list[CreateOutcome] = []
        while len(self._in_flight) >= self.depth:
            outcome = self._collect_oldest()
            if outcome is not None:
                outcomes.append(outcome)
        intended = self._settler.submit(write_intent, job, store)
        written = self._writer.submit(_write_when_intended, job, connector, intended)
        self._queue_settles()
        self._in_flight.append(_Flight(None, written, job, store))
        return outcomes

    def drain(self) -> list[CreateOutcome]:
        """Wait for all work in flight; returns the create jobs' outcomes, oldest first.

        Raises:
            the first error of the work in flight, after the rest was cancelled or waited
            for.
        """
        self._queue_settles()
        outcomes: list[CreateOutcome] = []
        while self._in_flight:
            outcome = self._collect_oldest()
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def close(self) -> list[CreateOutcome]:
        """Drain, then stop both threads (they are stopped even when draining raises).

        Raises:
            as :meth:`drain`.
        """
        try:
            outcomes = self.drain()
        finally:
            self._writer.shutdown(wait=True)
            self._settler.shutdown(wait=True)
        late, self._finished_late = self._finished_late, []
        return late + outcomes

    def _queue_settles(self, count: int | None = None) -> None:
        """Queue the settle of every job in flight (of the oldest ``count`` when given)
        whose settle is not queued yet."""
        for flight in list(self._in_flight)[:count]:
            if flight.settled is None:
                assert flight.job is not None and flight.store is not None \
                    and flight.written is not None
                flight.settled = self._settler.submit(_settle_when_written, flight.job,
                                                      flight.store, flight.written)

    def _collect_oldest(self) -> CreateOutcome | None:
        """Wait for the oldest work in flight (queueing its settle if it is not queued:
        only its own, so that the next job's intent can still go first)."""
        self._queue_settles(1)
        settled = self._in_flight.popleft().settled
        assert settled is not None
        try:
            return settled.result()
        except BaseException:
            self._abandon_rest()
            raise

    def _abandon_rest(self) -> None:
        """Cancel what has not started and wait for what has; their errors are dropped
        (the first error is the one raised; intents left behind are recovered later), the
        outcomes of those that finished are kept for :meth:`close`."""
        rest = list(self._in_flight)
        self._in_flight.clear()
        for flight in rest:
            if flight.settled is not None:
                flight.settled.cancel()
            if flight.written is not None:
                flight.written.cancel()
        for flight in rest:
            if flight.written is not None:
                with suppress(CancelledError, Exception):  # the first error is the one raised
                    flight.written.result()
            if flight.settled is None:
                continue
            with suppress(CancelledError, Exception):
                outcome = flight.settled.result()
                if outcome is not None:
                    self._finished_late.append(outcome)


def _write_when_intended(job: CreateJob, connector: Connector,
                         intended: Future[None]) -> CreatedRows:
    """Write ``job``'s records once its intent is in (on the write thread).

    Raises:
        whatever writing the intent raised, or :func:`write_created` raises.
    """
    intended.result()
    return write_created(job, connector)


def _settle_when_written(job: CreateJob, store: StateStore,
                         written: Future[CreatedRows]) -> CreateOutcome:
    """Settle ``job`` once its write is done (on the settle thread).

    Raises:
        whatever the write raised, or :func:`settle_created` raises.
    """
    return settle_created(job, store, written.result())
