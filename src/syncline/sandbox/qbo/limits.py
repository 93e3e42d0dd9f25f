"""Per-company request limits of the SANDBOX, and the log of requests it answered.

QBO allows 500 requests per minute and 10 concurrent requests per company (realm); past
either, it answers HTTP 429 with a throttling fault. The sandbox does the same with a
sliding one-minute window; ``minute_seconds`` shortens the minute so tests and benchmarks
run fast (a rate scale of 60 makes a minute last one second). ``Retry-After`` says how long
until the window has room again: whole seconds on a real minute, seconds with a fraction
on a shortened one (a sandbox liberty: HTTP's ``Retry-After`` is whole seconds).

Requests refused with 429 do not count against the window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Limits", "RateLimiter", "RequestLog", "RequestRecord"]


@dataclass(frozen=True, slots=True)
class Limits:
    """``per_minute`` requests per ``minute_seconds`` and ``concurrent`` at once, per realm."""

    per_minute: int = 500
    concurrent: int = 10
    minute_seconds: float = 60.0

    @classmethod
    def scaled(cls, rate_scale: float, *, per_minute: int = 500, concurrent: int = 10
               ) -> Limits:
        """Limits whose minute lasts ``60 / rate_scale`` seconds."""
        if rate_scale <= 0:
            raise ValueError("the rate scale must be positive")
        return cls(per_minute, concurrent, 60.0 / rate_scale)

    def retry_text(self, seconds: float) -> str:
        """``Retry-After`` for a wait of ``seconds``."""
        if self.minute_seconds >= 60:
            return str(max(1, math.ceil(seconds)))
        return f"{max(seconds, 0.001):.3f}"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One answered request: when it arrived (``time.monotonic``), what it was, its status
    and, for a 429, the wait it asked for."""

    arrived: float
    realm: str
    method: str
    path: str
    request_id: str | None
    status: int
    retry_after: float | None = None


@dataclass
class RequestLog:
    """Every request the sandbox answered, in arrival order (thread-safe)."""

    records: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: RequestRecord) -> None:
        with self.lock:
            self.records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self.lock:
            return sorted(self.records, key=lambda record: record.arrived)


class RateLimiter:
    """Admits or refuses requests per realm (see the module docstring)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._admitted: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, realm: str) -> float | None:
        """Admit a request (``None``; call :meth:`release` when answered) or return how many
        seconds to wait before trying again."""
        now = time.monotonic()
        window = self.limits.minute_seconds
        with self._lock:
            admitted = self._admitted.setdefault(realm, deque())
            while admitted and admitted[0] <= now - window:
                admitted.popleft()
            if len(admitted) >= self.limits.per_minute:
                return admitted[0] + window - now
            if self._in_flight.get(realm, 0) >= self.limits.concurrent:
                return window / self.limits.per_minute
            admitted.append(now)
            self._in_flight[realm] = self._in_flight.get(realm, 0) + 1
            return None

    def release(self, realm: str) -> None:
        with self._lock:
            self._in_flight[realm] = max(0, self._in_flight.get(realm, 0) - 1)
