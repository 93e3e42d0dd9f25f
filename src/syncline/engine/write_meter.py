"""Progress of writes: records written and to write per stream, told to a run's reporter.

Terms:

to write
    The records of a stream the run has planned to write so far (it grows as pages are
    read and planned; the applier reports each batch it plans through the run context).
written
    The records of a stream written so far: reported by connectors that write one request
    at a time as each record goes, and by the engine for each batch for the others (see
    :meth:`~syncline.run_context.RunContext.batch_written`).

:class:`WriteMeter` is a :class:`~syncline.engine.options.ProgressReporter` that forwards
to the run's reporter and adds ``written`` calls, from whichever thread wrote: at the first
record written of a stream, then at most every :attr:`WriteMeter.interval` seconds, and at
the stream's end.
"""

from __future__ import annotations

import threading
import time

from syncline.engine.options import ProgressReporter

__all__ = ["WriteMeter"]


class WriteMeter:
    """See the module docstring. Thread-safe."""

    def __init__(self, progress: ProgressReporter, interval: float = 0.2) -> None:
        self.progress = progress
        self.interval = interval
        self._lock = threading.Lock()
        self._written: dict[str, int] = {}
        self._to_write: dict[str, int] = {}
        self._told: dict[str, float] = {}

    # -- the run context's callbacks ---------------------------------------------------------
    def on_planned(self, stream: str, count: int) -> None:
        """``count`` more records of ``stream`` are to be written (told with the next
        records written)."""
        with self._lock:
            self._to_write[stream] = self._to_write.get(stream, 0) + count

    def on_written(self, stream: str, count: int) -> None:
        """``count`` more records of ``stream`` were written."""
        with self._lock:
            self._written[stream] = self._written.get(stream, 0) + count
        self._tell(stream, force=False)

    def counts(self, stream: str) -> tuple[int, int]:
        """``(written, to write)`` of ``stream`` so far."""
        with self._lock:
            return self._written.get(stream, 0), self._to_write.get(stream, 0)

    def _tell(self, stream: str, *, force: bool) -> None:
        moment = time.monotonic()
        with self._lock:
            if not force and moment - self._told.get(stream, 0.0) < self.interval:
                return
            self._told[stream] = moment
            done = self._written.get(stream, 0)
            total = self._to_write.get(stream, 0)
        if total or done:
            self.progress.written(stream, done, max(done, total))

    # -- ProgressReporter --------------------------------------------------------------------
    def stream_started(self, stream: str, total: int | None) -> None:
        self.progress.stream_started(stream, total)

    def advanced(self, stream: str, done: int) -> None:
        self.progress.advanced(stream, done)

    def written(self, stream: str, done: int, total: int) -> None:
        self.progress.written(stream, done, total)

    def stream_finished(self, stream: str) -> None:
        self._tell(stream, force=True)
        self.progress.stream_finished(stream)

    def message(self, text: str) -> None:
        self.progress.message(text)
