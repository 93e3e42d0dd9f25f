"""Publishing a run's progress through the state store, for services on the same store.

:class:`ProgressRecorder` is a :class:`~syncline.engine.options.ProgressReporter` that
forwards everything to the caller's reporter and keeps, per stream, what was read and
written; a background thread writes it into the state store
(:func:`~syncline.state.progress_store.record_progress`) at most once every
:attr:`ProgressRecorder.interval` seconds, and only when it changed. Progress is
best-effort: a write that fails is logged and tried again at the next tick, it never stops
the run.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Any

from syncline.engine.options import ProgressReporter
from syncline.state.progress_store import forget_progress, record_progress
from syncline.state.store import StateStore

__all__ = ["ProgressRecorder"]

log = logging.getLogger("syncline.engine")


class ProgressRecorder:
    """See the module docstring. :meth:`start` it when the run starts, :meth:`close` it
    when the run ends."""

    def __init__(self, progress: ProgressReporter, store: StateStore, run_id: int,
                 interval: float = 1.0) -> None:
        self.progress = progress
        self.store = store
        self.run_id = run_id
        self.interval = interval
        self._lock = threading.Lock()
        self._streams: dict[str, dict[str, Any]] = {}
        self._changed = True  # the first tick says the run goes, before any stream starts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread that records the progress."""
        self._thread = threading.Thread(target=self._loop, name=f"progress-{self.run_id}",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop recording and remove the run's progress (safe to call twice)."""
        self._stop.set()
        if self._thread is None:
            return
        self._thread.join()
        self._thread = None
        try:
            forget_progress(self.store, self.run_id)
        except Exception as error:  # a leftover row only shows while the run is 'running'
            log.warning("run %s: progress not removed: %s", self.run_id, error)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._record()

    def _record(self) -> None:
        with self._lock:
            if not self._changed:
                return
            self._changed = False
            streams = copy.deepcopy(self._streams)
        try:
            record_progress(self.store, self.run_id, {"streams": streams})
        except Exception as error:  # progress must never stop a run
            log.warning("run %s: progress not recorded: %s", self.run_id, error)
            with self._lock:
                self._changed = True

    def _set(self, stream: str, **values: Any) -> None:
        with self._lock:
            entry = self._streams.setdefault(stream, {
                "total": None, "done": 0, "written": 0, "to_write": 0, "finished": False})
            entry.update(values)
            self._changed = True

    # -- ProgressReporter --------------------------------------------------------------------
    def stream_started(self, stream: str, total: int | None) -> None:
        self._set(stream, total=total)
        self.progress.stream_started(stream, total)

    def advanced(self, stream: str, done: int) -> None:
        self._set(stream, done=done)
        self.progress.advanced(stream, done)

    def written(self, stream: str, done: int, total: int) -> None:
        self._set(stream, written=done, to_write=total)
        self.progress.written(stream, done, total)

    def stream_finished(self, stream: str) -> None:
        self._set(stream, finished=True)
        self.progress.stream_finished(stream)

    def message(self, text: str) -> None:
        self.progress.message(text)
