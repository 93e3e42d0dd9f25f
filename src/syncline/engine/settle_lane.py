"""The applier's background threads: state-store settles and bulk creates, off the main thread.

Terms:

settle work
    A function that writes one settle transaction to the state store (the applier's
    buffered mappings, journal rows and pending items), or a whole bulk-create job.
    Settle work runs on the *settle thread*, one at a time, in the order it was submitted.
create job
    A batch of bulk creates (:class:`~syncline.engine.bulk_creates.CreateJob`), carried out
    in two halves: :func:`~syncline.engine.bulk_creates.write_created` (intent row, then the
    records written on the endpoint) on the *write thread*, and
    :func:`~syncline.engine.bulk_creates.settle_created` on the settle thread once its write
    is done. Meanwhile the main thread reads and plans the next page; the SQLite work of
    both threads runs with the GIL released. With a depth above 1 (see *in flight*), the
    write thread writes batch *n + 1* while the settle thread settles batch *n*.
in flight
    Submitted and not yet collected. At most :attr:`SettleLane.depth` create jobs are in
    flight; plain settle work waits until nothing else is, so every other state write
    keeps the order intent → write → settle. The default depth is 1: with two jobs in
    flight, the intent of one waits for the state store's write lock held by the settle of
    the other, and a first sync of 300,000 contacts measured no faster.

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
from functools import partial

from syncline.connectors.base import Connector, CreatedRows
from syncline.engine.bulk_creates import CreateJob, CreateOutcome, settle_created, write_created
from syncline.state.store import StateStore

__all__ = ["SettleLane", "SettleWork"]

SettleWork = Callable[[], CreateOutcome | None]
"""Settle work (see the module docstring); returns the outcome of a create job, else None."""


class SettleLane:
    """The write and settle threads of one applier (see the module docstring)."""

    def __init__(self, depth: int = 1) -> None:
        self.depth = depth
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write")
        self._settler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="settle")
        self._in_flight: deque[tuple[Future[CreateOutcome | None], Future[CreatedRows] | None]] \
            = deque()
        self._finished_late: list[CreateOutcome] = []
        """Outcomes of jobs that finished behind a failed one (returned by :meth:`close`)."""

    def submit(self, work: SettleWork) -> list[CreateOutcome]:
        """Run ``work`` on the settle thread once everything in flight is done.

        Returns the outcomes of the create jobs collected while waiting.

        Raises:
            whatever work in flight raised (``work`` is then not submitted).
        """
        outcomes = self.drain()
        self._in_flight.append((self._settler.submit(work), None))
        return outcomes

    def submit_create(self, job: CreateJob, store: StateStore,
                      connector: Connector) -> list[CreateOutcome]:
        """Write ``job`` on the write thread, then settle it on the settle thread.

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
        written = self._writer.submit(write_created, job, store, connector)
        settled: Future[CreateOutcome | None] = self._settler.submit(
            partial(_settle_when_written, job, store, written))
        self._in_flight.append((settled, written))
        return outcomes

    def drain(self) -> list[CreateOutcome]:
        """Wait for all work in flight; returns the create jobs' outcomes, oldest first.

        Raises:
            the first error of the work in flight, after the rest was cancelled or waited
            for.
        """
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

    def _collect_oldest(self) -> CreateOutcome | None:
        settled, _ = self._in_flight.popleft()
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
        for settled, written in rest:
            settled.cancel()
            if written is not None:
                written.cancel()
        for settled, written in rest:
            if written is not None:
                with suppress(CancelledError, Exception):  # the first error is the one raised
                    written.result()
            with suppress(CancelledError, Exception):
                outcome = settled.result()
                if outcome is not None:
                    self._finished_late.append(outcome)


def _settle_when_written(job: CreateJob, store: StateStore,
                         written: Future[CreatedRows]) -> CreateOutcome:
    """Settle ``job`` once its write is done (on the settle thread).

    Raises:
        whatever the write raised, or :func:`settle_created` raises.
    """
    return settle_created(job, store, written.result())
