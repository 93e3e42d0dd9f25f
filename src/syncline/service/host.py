"""Hosting the service in a process: the scheduler loop in a background thread.

``syncline serve`` starts a :class:`ServiceHost` and waits on it; an ASGI application (the
REST API, later) can instead start it from its lifespan handler and stop it on shutdown,
sharing the one :class:`~syncline.service.service.SyncService` with its routes.
"""

from __future__ import annotations

import logging
import threading

from syncline.service.service import SyncService

__all__ = ["ServiceHost"]

log = logging.getLogger("syncline.service")


class ServiceHost:
    """Runs :meth:`SyncService.run_forever` in a thread until :meth:`stop`."""

    def __init__(self, service: SyncService, *, max_wait: float = 30.0) -> None:
        self.service = service
        self.max_wait = max_wait
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    def start(self) -> None:
        """Start the scheduler thread."""
        self._thread = threading.Thread(target=self._loop, name="syncline-scheduler",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            self.service.run_forever(self.max_wait)
        except Exception:  # the process must not hang with a dead scheduler
            log.exception("the scheduler stopped by an unexpected error")
            self.service.stop()
        finally:
            self.service.shutdown(wait=True)
            self._done.set()

    def stop(self) -> None:
        """Stop starting runs; :meth:`join` returns once the runs going on have finished."""
        self.service.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the host has stopped (signals are still handled meanwhile)."""
        while not self._done.wait(0.2 if timeout is None else timeout):
            if timeout is not None:
                return False
        return True
