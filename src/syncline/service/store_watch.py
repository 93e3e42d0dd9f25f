"""The service's side of state store outages (see :mod:`syncline.state.outage`).

While the state store is unreachable, the service starts no run: :meth:`StoreWatch.ready`
says whether to go on, trying the store again with backoff (the store's
:class:`~syncline.state.outage.StoreHealth`), and logs when scheduled runs start being
skipped and when they resume. Once the store answers after an outage (and once at start),
runs this host left ``running`` (by this process, cut short by the outage, or by a process
that has ended) are marked ``failed`` as interrupted, their counts rebuilt from the
journal (:meth:`~syncline.state.store.StateStore.close_interrupted_runs`), and the run
locks those runs of this process could not release are given up
(:func:`~syncline.state.service_store.release_leases_of_process`), so that the next run
need not wait for them to expire.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from syncline.errors import StateUnavailable
from syncline.state.outage import health_of
from syncline.state.service_store import release_leases_of_process
from syncline.state.store import StateStore

__all__ = ["StoreWatch"]

log = logging.getLogger("syncline.service")


class StoreWatch:
    """Outage handling for one service (see the module docstring). ``busy`` gives the links
    whose runs the service has going (their rows and locks are left alone); ``guard`` is
    held while recovering, so that no run of the service starts meanwhile."""

    def __init__(self, store: StateStore, busy: Callable[[], list[str]],
                 guard: threading.Condition) -> None:
        self.store = store
        self.health = health_of(store.engine)
        self._busy = busy
        self._guard = guard
        self._recover = True
        self._skipping = False

    @property
    def down(self) -> bool:
        """Whether the last use of the store found it unreachable."""
        return self._skipping or (self.health is not None and self.health.down)

    def note_outage(self, error: StateUnavailable) -> None:
        """A run (or anything else) met an outage: recover its run once the store is back."""
        self._recover = True
        if self.health is not None and not self.health.down:
            self.health.mark_down(error.reason)

    def ready(self) -> bool:
        """Whether runs may start now: the store answers (tried again with backoff while it
        does not) and the runs an outage interrupted are marked."""
        if self.health is not None and self.health.down:
            self._recover = True
            if not self.health.due():
                return False
        if self._recover:
            try:
                with self._guard:
                    busy = self._busy()
                    marked = self.store.close_interrupted_runs(own=True, busy=busy)
                    released = release_leases_of_process(self.store, keep=busy)
            except StateUnavailable as error:
                self.skipped(error)
                return False
            self._recover = False
            if marked:
                log.warning("run%s %s left running by an interruption marked failed "
                            "(interrupted), counts rebuilt from the journal",
                            "s" if len(marked) > 1 else "", ", ".join(map(str, marked)))
            if released:
                log.warning("run lock%s of %s left by an interrupted run released",
                            "s" if len(released) > 1 else "", ", ".join(released))
        if self._skipping:
            self._skipping = False
            log.warning("the state store is reachable again; runs resume")
        return True

    def skipped(self, error: StateUnavailable) -> None:
        """Runs are not started because of ``error``: logged once per outage."""
        self._recover = True
        if self.health is not None:
            self.health.mark_down(error.reason)
        if not self._skipping:
            self._skipping = True
            log.error("%s; scheduled runs are skipped until it answers (trying again with "
                      "backoff)", error)
        else:
            log.info("the state store is still unreachable; scheduled runs skipped")
