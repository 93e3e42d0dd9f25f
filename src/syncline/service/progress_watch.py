"""Following the runs of other processes through the state store.

A ``syncline sync`` started from a shell while ``syncline serve`` runs on the same state
store records its progress in its run's row (:mod:`syncline.state.progress_store`).
:class:`RunWatcher` reads those rows every :attr:`RunWatcher.interval` seconds in a
background thread and tells a :class:`RunFollower` (the API's progress hub) what changed:
a run it had not seen, new progress of one it follows, and the end of one (with its
outcome). Runs of this process are left out (the service reports its own directly).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any, Protocol

from syncline.errors import StateUnavailable
from syncline.state.progress_store import live_runs, run_outcome
from syncline.state.store import StateStore

__all__ = ["RunFollower", "RunWatcher"]

log = logging.getLogger("syncline.service")


class RunFollower(Protocol):
    """Told by a :class:`RunWatcher` about the runs of other processes."""

    def external_progress(self, link: str, run: dict[str, Any]) -> None:
        """Run ``run`` (a row of :func:`~syncline.state.progress_store.live_runs`) of
        ``link`` goes on; its progress changed (or it is new)."""

    def external_finished(self, link: str, run_id: int,
                          outcome: dict[str, Any] | None) -> None:
        """Run ``run_id`` of ``link`` ended (``outcome``: see
        :func:`~syncline.state.progress_store.run_outcome`)."""


class RunWatcher:
    """See the module docstring. :meth:`start` it; :meth:`close` stops it."""

    def __init__(self, store: StateStore, follower: RunFollower,
                 interval: float = 1.0) -> None:
        self.store = store
        self.follower = follower
        self.interval = interval
        self._seen: dict[str, tuple[int, Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._host = socket.gethostname()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="run-watcher", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop watching (safe to call twice)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except StateUnavailable as error:  # the service logs the outage itself
                log.debug("runs of other processes could not be read: %s", error)
            except Exception as error:  # a passing database hiccup: try again next tick
                log.warning("runs of other processes could not be read: %s", error)

    def check(self) -> None:
        """Compare the runs going on with what was seen, and tell the follower."""
        now: dict[str, dict[str, Any]] = {}
        for run in live_runs(self.store):
            if run["host"] == self._host and run["pid"] == os.getpid():
                continue  # this process's own runs are reported directly
            now[run["link"]] = run
        for link, run in now.items():
            seen = self._seen.get(link)
            if seen is not None and seen[0] != run["id"]:
                self._finished(link, seen[0])
                seen = None
            if seen is None or seen[1] != run["progress"]:
                self._seen[link] = (run["id"], run["progress"])
                self.follower.external_progress(link, run)
        for link in [link for link in self._seen if link not in now]:
            run_id = self._seen[link][0]
            self._finished(link, run_id)

    def _finished(self, link: str, run_id: int) -> None:
        self._seen.pop(link, None)
        self.follower.external_finished(link, run_id, run_outcome(self.store, run_id))
