"""The Xero sandbox's rate limits, per tenant: calls per minute, per day, and at once.

Xero's limits per connected organisation are 60 calls in any rolling minute, 5000 in any
rolling day and 5 in progress at once (plus 10,000 calls a minute per app across all
organisations). A call over a limit is answered ``429 Too Many Requests`` with
``Retry-After`` (seconds until a call would be accepted) and ``X-Rate-Limit-Problem``
(``minute``, ``day``, ``concurrent`` or ``appminute``); every answer carries
``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and ``X-AppMinLimit-Remaining``.

``scale`` speeds time up for tests: with ``scale=60`` a "minute" lasts one second and a
"day" 24 minutes. ``Retry-After`` is then given in real seconds with three decimals (the
real service gives whole seconds); rejected calls do not count towards the limits.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Limits", "RateLimiter", "Rejection"]


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits and the time scale (see the module docstring)."""

    per_minute: int = 60
    per_day: int = 5000
    concurrent: int = 5
    app_per_minute: int = 10_000
    scale: float = 1.0

    @property
    def minute(self) -> float:
        """How long a "minute" lasts, in real seconds."""
        return 60.0 / self.scale

    @property
    def day(self) -> float:
        return 86_400.0 / self.scale


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a call is refused and how long to wait (real seconds)."""

    problem: str
    retry_after: float

    def header(self, scale: float) -> str:
        """The ``Retry-After`` value: whole seconds at scale 1, else three decimals, always
        rounded up so that waiting that long is enough."""
        if scale == 1.0:
            return str(max(1, math.ceil(self.retry_after)))
        return f"{math.ceil(self.retry_after * 1000) / 1000:.3f}"


@dataclass
class _Window:
    minute: deque[float] = field(default_factory=deque)
    day: deque[float] = field(default_factory=deque)
    in_progress: int = 0


class RateLimiter:
    """Counts calls per tenant (see the module docstring). Thread-safe."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._tenants: dict[str, _Window] = {}
        self._app: deque[float] = deque()

    def _window(self, tenant: str, now: float) -> _Window:
        window = self._tenants.setdefault(tenant, _Window())
        while window.minute and window.minute[0] <= now - self.limits.minute:
            window.minute.popleft()
        while window.day and window.day[0] <= now - self.limits.day:
            window.day.popleft()
        while self._app and self._app[0] <= now - self.limits.minute:
            self._app.popleft()
        return window

    def acquire(self, tenant: str, now: float) -> Rejection | None:
        """Count a call arriving at ``now`` (monotonic seconds) and hold a concurrency slot,
        or say why it is refused (then nothing is counted or held)."""
        limits = self.limits
        with self._lock:
            window = self._window(tenant, now)
            if len(window.day) >= limits.per_day:
                return Rejection("day", window.day[0] + limits.day - now)
            if len(self._app) >= limits.app_per_minute:
                return Rejection("appminute", self._app[0] + limits.minute - now)
            if len(window.minute) >= limits.per_minute:
                return Rejection("minute", window.minute[0] + limits.minute - now)
            if window.in_progress >= limits.concurrent:
                return Rejection("concurrent", 1.0 / limits.scale)
            window.minute.append(now)
            window.day.append(now)
            self._app.append(now)
            window.in_progress += 1
            return None

    def release(self, tenant: str) -> None:
        """End a call that :meth:`acquire` admitted."""
        with self._lock:
            window = self._tenants.get(tenant)
            if window is not None and window.in_progress > 0:
                window.in_progress -= 1

    def remaining(self, tenant: str, now: float) -> dict[str, str]:
        """The ``X-*Limit-Remaining`` headers for ``tenant``."""
        with self._lock:
            window = self._window(tenant, now)
            return {
                "X-MinLimit-Remaining": str(max(0, self.limits.per_minute - len(window.minute))),
                "X-DayLimit-Remaining": str(max(0, self.limits.per_day - len(window.day))),
                "X-AppMinLimit-Remaining": str(max(0, self.limits.app_per_minute
                                                   - len(self._app))),
            }

    def reset(self) -> None:
        with self._lock:
            self._tenants.clear()
            self._app.clear()
