"""Fewer passes of Python's cyclic garbage collector while a sync runs.

Terms:

cyclic garbage collector
    CPython frees most objects by reference counting; the collector (module :mod:`gc`) only
    looks for reference cycles. It runs a pass each time the number of container objects
    allocated minus those freed exceeds a threshold (700 by default), and every pass walks
    all young containers.
collection pause
    A sync allocates millions of short-lived containers (rows, records, plans) that almost
    never form cycles, so with the default threshold a first sync of a million records
    spends a third of its time in collector passes that free nothing. While a run is in
    :func:`fewer_collections`, the young-generation threshold is raised to
    :data:`RUN_THRESHOLD` and the objects alive at its start (modules, configuration,
    connections) are moved out of the collector's sight with :func:`gc.freeze`. Cycles
    are still collected, only in larger passes; memory stays bounded because a pass still
    runs every :data:`RUN_THRESHOLD` net allocations.

Several runs may overlap in one process (the service runs links in threads): the settings
are changed when the first run starts and restored when the last one ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RUN_THRESHOLD", "fewer_collections"]

RUN_THRESHOLD = 100_000
"""Net container allocations between two young-generation passes while a run goes."""

_RUN_THRESHOLDS = (RUN_THRESHOLD, 50, 100)


class _Pause:
    """Counts the runs in progress; the first changes the collector, the last restores it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self._saved: tuple[int, int, int] = gc.get_threshold()

    def enter(self) -> None:
        with self._lock:
            if self._runs == 0:
                self._saved = gc.get_threshold()
                gc.freeze()
                gc.set_threshold(*_RUN_THRESHOLDS)
            self._runs += 1

    def leave(self) -> None:
        with self._lock:
            self._runs -= 1
            if self._runs == 0:
                gc.set_threshold(*self._saved)
                gc.unfreeze()


_PAUSE = _Pause()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the body with the collection pause described in the module docstring.

    Never raises by itself; the previous thresholds are restored however the body ends.
    """
    _PAUSE.enter()
    try:
        yield
    finally:
        _PAUSE.leave()
