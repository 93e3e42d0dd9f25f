"""What a run hands its connectors: a way to be told to stop, and a place to report writes.

Terms:

stop request
    Someone asked the run to end early: the first Ctrl-C of ``syncline sync``, or the
    service shutting down. The run stops at the next point where it can stop cleanly:
    between two requests of a batch, between batches, between pages. A request in flight
    finishes; what was written is settled (intent → write → settle holds); the rest stays
    for the next run. The run then ends with :class:`~syncline.errors.RunCancelled`.
grace
    The seconds a stop request leaves the run to end cleanly (:data:`DEFAULT_GRACE`). A
    request started after the stop request gets no more than what is left of it as its
    timeout (:meth:`RunContext.timeout`).
not sent
    An operation of a batch that a connector did not send because the run was asked to
    stop: its result carries :class:`NotSent`. The engine records nothing for it (no
    mapping, no journal row, no pending item): the record's change is read again next run,
    as the cursors did not move.
run context
    :class:`RunContext`: the stop signal plus the write-progress callback; the engine sets
    it on each connector of a run (:attr:`syncline.connectors.base.Connector.context`). A
    connector that writes a batch one request at a time checks :meth:`RunContext.stopping`
    before each request and calls :meth:`RunContext.written` after each one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from syncline.errors import ItemError, RunCancelled

__all__ = ["DEFAULT_GRACE", "NotSent", "RunContext", "StopSignal"]

DEFAULT_GRACE = 1.5
"""Seconds a stop request leaves a run to end cleanly (``syncline sync`` exits within 2 s
of a Ctrl-C: the rest is for settling and closing)."""


class NotSent(ItemError):
    """An operation a connector did not send because the run was asked to stop (see the
    module docstring); it goes with the next run."""


class StopSignal:
    """A stop request shared between the thread that asks (a signal handler, the service)
    and the threads of the run. Thread-safe; asking twice keeps the first reason and grace."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self.reason = ""

    def request(self, reason: str, grace: float = DEFAULT_GRACE) -> None:
        """Ask the run to stop (``reason`` says who asked: ``"Ctrl-C"``, ``"the service
        is shutting down"``) within ``grace`` seconds."""
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._deadline = time.monotonic() + grace
            self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    @property
    def event(self) -> threading.Event:
        """The event set when a stop is asked (to wait on with other waits)."""
        return self._event

    def remaining(self) -> float | None:
        """Seconds of grace left (``0.0`` when spent); ``None`` when no stop was asked."""
        deadline = self._deadline
        if deadline is None:
            return None
        return max(0.0, deadline - time.monotonic())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until a stop is asked or ``timeout`` passes; whether it was asked."""
        return self._event.wait(timeout)

    def check(self) -> None:
        """Raise if a stop was asked.

        Raises:
            RunCancelled: naming who asked.
        """
        if self._event.is_set():
            raise RunCancelled(self.reason)


CountCallback = Callable[[str, int], None]
"""Told ``(stream, count)``: ``count`` more records of a stream were written, or are to be
written."""


class RunContext:
    """The run context of one run (see the module docstring). A connector outside a run
    has one that never stops and reports nowhere."""

    def __init__(self, stop: StopSignal | None = None, on_written: CountCallback | None = None,
                 on_planned: CountCallback | None = None) -> None:
        self.stop = stop if stop is not None else StopSignal()
        self.on_written = on_written
        self.on_planned = on_planned
        self._lock = threading.Lock()
        self._reported: dict[str, int] = {}

    def stopping(self) -> bool:
        """Whether the run was asked to stop: send no further request of a batch."""
        return self.stop.requested

    def check(self) -> None:
        """Raise if the run was asked to stop.

        Raises:
            RunCancelled: naming who asked.
        """
        self.stop.check()

    def timeout(self, configured: float) -> float:
        """The timeout of a request starting now: ``configured``, or what is left of the
        grace when a stop was asked (at least a tenth of a second)."""
        left = self.stop.remaining()
        return configured if left is None else max(0.1, min(configured, left))

    def written(self, stream: str, count: int = 1) -> None:
        """Report that ``count`` more records of ``stream`` were written (cheap; any
        thread)."""
        with self._lock:
            self._reported[stream] = self._reported.get(stream, 0) + count
        if self.on_written is not None and count:
            self.on_written(stream, count)

    def reported(self, stream: str) -> int:
        """How many records of ``stream`` were reported written so far."""
        with self._lock:
            return self._reported.get(stream, 0)

    def batch_written(self, stream: str, ok: int, before: int) -> None:
        """The engine's side of :meth:`written`: a batch wrote ``ok`` records of ``stream``;
        those the connector did not report itself while writing it (it had reported
        ``before`` when the batch started) are reported now."""
        self.written(stream, max(0, ok - (self.reported(stream) - before)))

    def planned(self, stream: str, count: int) -> None:
        """Report that ``count`` more records of ``stream`` are to be written."""
        if self.on_planned is not None and count:
            self.on_planned(stream, count)

    def not_sent(self, stream: str, key: str | None) -> NotSent:
        """The error of an operation left out because the run was asked to stop."""
        return NotSent(f"{stream} {key or '(new)'}: not sent, the run was stopped "
                       f"({self.stop.reason}); it goes with the next run", stream=stream,
                       key=key)
