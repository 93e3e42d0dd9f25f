"""State store outages: telling "the database is not there" from every other database error.

Terms:

outage
    The state store's database cannot be reached: its server is stopped or restarting, the
    connection was refused or dropped, a SQLite file cannot be opened or read. Unlike a
    schema or a constraint error, an outage says nothing about the data: what was settled
    stays settled, and trying again later succeeds once the database is back.
health
    :class:`StoreHealth`: whether the last use of the store found it reachable, since when
    it is not, and when to try again (exponential backoff, for the service's reconnecting).

:func:`watch_outages` hooks an engine so that every outage, whichever statement or
connection meets it, is raised as :class:`~syncline.errors.StateUnavailable` (one line for
people: ``the state store at URL is unreachable: connection refused; ...``) instead of the
driver's ``OperationalError``, and is noted in the engine's :class:`StoreHealth`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from syncline.errors import StateUnavailable

__all__ = ["StoreHealth", "health_of", "outage_reason", "watch_outages"]

log = logging.getLogger("syncline.state")

_REASONS = (
    ("connection refused", "connection refused"),
    ("terminating connection", "its server shut down"),
    ("server closed the connection", "its server closed the connection"),
    ("connection already closed", "the connection was closed"),
    ("the connection is closed", "the connection was closed"),
    ("connection is lost", "the connection was lost"),
    ("consuming input failed", "the connection was lost"),
    ("timeout expired", "the connection timed out"),
    ("timed out", "the connection timed out"),
    ("could not translate host name", "its host name is unknown"),
    ("name or service not known", "its host name is unknown"),
    ("no route to host", "no route to its host"),
    ("the database system is starting up", "its server is starting up"),
    ("the database system is shutting down", "its server is shutting down"),
    ("the database system is in recovery mode", "its server is recovering"),
    ("unable to open database file", "its file cannot be opened"),
    ("disk i/o error", "its file cannot be read or written (disk I/O error)"),
)
"""Driver messages (lower case) and the words people get for them."""

_SQLITE_OUTAGES = ("unable to open database file", "disk i/o error")


def outage_reason(error: BaseException) -> str:
    """The cause of an outage in a few words, from the driver's error (its first line when
    no known phrase matches)."""
    text = str(error).strip()
    lowered = text.lower()
    for phrase, words in _REASONS:
        if phrase in lowered:
            return words
    first = text.splitlines()[0].strip() if text else type(error).__name__
    return first[:200]


def _is_outage(context: ExceptionContext) -> bool:
    """Whether the error ``context`` describes means the database cannot be reached (see
    the module docstring), not that a statement was wrong."""
    if context.is_disconnect:
        return True
    error = context.original_exception
    if type(error).__name__ != "OperationalError" and not \
            type(error).__name__.endswith(("ConnectionException", "AdminShutdown",
                                           "CannotConnectNow", "CrashShutdown")):
        return False
    state = getattr(error, "sqlstate", None)
    if isinstance(state, str) and state.startswith(("08", "57P")):
        return True
    if context.dialect is not None and context.dialect.name == "sqlite":
        return any(phrase in str(error).lower() for phrase in _SQLITE_OUTAGES)
    return context.connection is None  # failed while connecting


class StoreHealth:
    """Whether the state store was reachable when last used (see the module docstring).

    ``down_since`` is the monotonic time the current outage was first met (``None``: up);
    ``reason`` its cause. :meth:`due` says when the next try to reconnect is, doubling the
    wait after each failed try from ``first_wait`` up to ``max_wait`` seconds.
    """

    def __init__(self, url: str, *, first_wait: float = 1.0, max_wait: float = 30.0) -> None:
        self.url = url
        self.first_wait = first_wait
        self.max_wait = max_wait
        self.down_since: float | None = None
        self.reason: str | None = None
        self._wait = first_wait
        self._next_try = 0.0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def mark_down(self, reason: str) -> None:
        """Note an outage (the first one logs it)."""
        with self._lock:
            now = time.monotonic()
            if self.down_since is None:
                self.down_since = now
                self._wait = self.first_wait
                self._next_try = now + self._wait
                log.info("the state store at %s is unreachable: %s",
                          self.url, reason)
            self.reason = reason

    def mark_up(self) -> bool:
        """Note that the store answered; whether that ends an outage (it is logged)."""
        with self._lock:
            if self.down_since is None:
                return False
            lasted = time.monotonic() - self.down_since
            self.down_since, self.reason = None, None
        log.info("the state store at %s is reachable again after %.0f s", self.url, lasted)
        return True

    def due(self) -> bool:
        """Whether it is time to try the store again (always, when it is up); a ``True``
        during an outage moves the next try further (backoff)."""
        with self._lock:
            if self.down_since is None:
                return True
            now = time.monotonic()
            if now < self._next_try:
                return False
            self._wait = min(self.max_wait, self._wait * 2)
            self._next_try = now + self._wait
            return True

    def error(self) -> StateUnavailable:
        """The error for the current outage (also when it was not yet met by this process)."""
        return StateUnavailable(self.url, self.reason or "not answering")


def watch_outages(engine: Engine, url: str) -> StoreHealth:
    """Raise outages met on ``engine`` as :class:`~syncline.errors.StateUnavailable` naming
    ``url`` (give it with the password hidden) and track them in the :class:`StoreHealth`
    it returns (also found by :func:`health_of`). Any other error passes unchanged."""
    health = StoreHealth(url)
    setattr(engine, "_syncline_health", health)  # noqa: B010 - an attribute of our own

    @event.listens_for(engine, "handle_error")
    def _outage(context: ExceptionContext) -> None:
        if not _is_outage(context):
            return
        reason = outage_reason(context.original_exception)
        health.mark_down(reason)
        raise StateUnavailable(url, reason)

    @event.listens_for(engine, "connect")
    def _reached(_dbapi_connection: Any, _record: Any) -> None:
        health.mark_up()  # a new connection: the database answers again

    return health


def health_of(engine: Any) -> StoreHealth | None:
    """The :class:`StoreHealth` :func:`watch_outages` gave ``engine`` (``None``: none)."""
    found = getattr(engine, "_syncline_health", None)
    return found if isinstance(found, StoreHealth) else None
