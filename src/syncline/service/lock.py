"""The run lock: one run per link at a time, across threads, processes and hosts.

The lock is a **lease** row in the state store (see :mod:`syncline.state.service_store`):
taken atomically, renewed by a heartbeat thread while held, released at the end. A holder
that dies without releasing leaves a lease that expires after ``ttl`` seconds (at once when
it was a process of this host that has ended); then the next run takes it over. The engine
is crash-safe, so a run that takes over resumes whatever the dead one left unsettled.

Taking the lock gives the holder a **fence** (:mod:`syncline.state.fencing`): the link's
next fencing token. A run writes through a state store fenced with it, so a holder that
was frozen past its lease (SIGSTOP, a long pause) and lost the link to another process has
its next write refused (LeaseLost) and stops; and a holder that could not renew for more
than half the lease stops before it sends its next batch.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from types import TracebackType

from syncline.errors import LinkBusy
from syncline.service.clock import Clock, SystemClock
from syncline.state.fencing import Fence
from syncline.state.service_store import (
    Lease,
    acquire_lease,
    lease_holder,
    release_lease,
    renew_lease,
)
from syncline.state.store import StateStore

__all__ = ["DEFAULT_TTL", "RunLock", "holder_text"]

DEFAULT_TTL = 60.0
"""Seconds a lease lasts without a heartbeat (the heartbeat renews it every ttl / 3)."""

log = logging.getLogger("syncline.service")


def holder_text(purpose: str, user: str | None) -> str:
    """``PURPOSE by USER on HOST (pid N)``: who holds a lock, for LinkBusy messages."""
    who = f" by {user}" if user else ""
    return f"{purpose}{who} on {socket.gethostname()} (pid {os.getpid()})"


class RunLock:
    """The run lock of one link for one holder. Use as a context manager, or call
    :meth:`acquire` and :meth:`release`."""

    def __init__(self, store: StateStore, link: str, *, holder: str,
                 ttl: float = DEFAULT_TTL, clock: Clock | None = None,
                 heartbeat: bool = True) -> None:
        self.store = store
        self.link = link
        self.holder = holder
        self.ttl = ttl
        self.clock: Clock = clock or SystemClock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.held = False
        self.fence: Fence | None = None
        """The fence of the lease while held (see the module docstring)."""
        self._heartbeat = heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _at(self) -> float:
        return self.clock.now().timestamp()

    def try_acquire(self) -> Lease | None:
        """Take the lock if free; ``None`` when taken, else the holder's lease."""
        current = acquire_lease(self.store, self.link, owner=self.owner, holder=self.holder,
                                pid=os.getpid(), at=self._at(), ttl=self.ttl)
        if isinstance(current, int):
            self.held = True
            self.fence = Fence(self.link, current, self.ttl)
            self._start_heartbeat()
            return None
        return current

    def acquire(self, *, wait: bool = False, poll: float = 1.0,
                on_wait: Callable[[Lease], None] | None = None,
                cancel: threading.Event | None = None) -> None:
        """Take the lock; with ``wait``, wait for it (calling ``on_wait`` once with the
        holder's lease, then checking every ``poll`` seconds).

        Raises:
            LinkBusy: another holder has it and ``wait`` is false (or ``cancel`` was set),
                naming that holder.
        """
        told = False
        stop = cancel or threading.Event()
        while True:
            current = self.try_acquire()
            if current is None:
                return
            if not wait or stop.is_set():
                raise LinkBusy(f"link '{self.link}' is busy: {current.describe()} is running "
                               f"it; try again later, or use --wait to wait for it")
            if not told and on_wait is not None:
                on_wait(current)
                told = True
            self.clock.wait(stop, poll)

    def _start_heartbeat(self) -> None:
        if not self._heartbeat:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{self.link}",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            if not self._beat_once():
                return

    def _beat_once(self) -> bool:
        """Renew the lease once; whether to go on (not when it was taken over: then the
        fence says so, and the run stops at its next write)."""
        try:
            token = self.fence.token if self.fence is not None else None
            if not renew_lease(self.store, self.link, owner=self.owner, at=self._at(),
                               ttl=self.ttl, token=token):
                log.warning("run lock of %s was taken over by another process: the run "
                            "stops before its next write", self.link)
                if self.fence is not None:
                    self.fence.taken_over.set()
                return False
            if self.fence is not None:
                self.fence.renewed()
        except Exception as error:  # keep beating through a passing database hiccup
            log.warning("run lock of %s could not be renewed: %s", self.link, error)
        return True

    def release(self) -> None:
        """Give the lock up (safe to call when not held)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.held:
            release_lease(self.store, self.link, owner=self.owner)
            self.held = False

    def holder_lease(self) -> Lease | None:
        return lease_holder(self.store, self.link)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
