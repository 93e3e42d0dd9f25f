"""Slowing down password guessing at the console's sign-in.

Terms:

failure
    A sign-in whose password was checked and was wrong (or whose user does not exist).
    Failures are counted per **account** (the user name as typed, case-folded) and per
    **client address** (the peer address; behind a proxy trusted with
    ``--forwarded-allow-ips``, the address it forwards), each within a sliding **window**
    (15 minutes).
lock
    After :attr:`SignInThrottle.free` (5) failures within the window, each further failure
    locks the account (and the address) for a delay that doubles: 1 s after the 6th, 2 s
    after the 7th, … up to the window. While locked, a sign-in is refused with 429 and
    ``Retry-After`` before its password is even looked at, so the right password is refused
    too until the lock ends; refused attempts do not lengthen the lock. Each new lock is
    logged once as a warning (``sign-in of 'NAME' from ADDRESS locked for N s after M failed
    attempts``). A successful sign-in forgets the account's failures.

Where it is kept: in the memory of the ``syncline serve`` process, not in the state store.
Counting there would write to the database on every failed guess (a way to load it) and
would need a schema change; the price is that each process counts on its own and a restart
forgets, which still holds a guesser to a few attempts per second per process at most.
At most :data:`MAX_KEYS` accounts and addresses are remembered (the oldest go first).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MAX_KEYS", "SignInThrottle", "Verdict"]

log = logging.getLogger("syncline.web.signin")

MAX_KEYS = 10_000


@dataclass(frozen=True)
class Verdict:
    """Whether a sign-in may be checked now; when not, how many seconds to wait."""

    allowed: bool
    retry_after_s: int = 0


class SignInThrottle:
    """Counts failed sign-ins and refuses attempts while an account or address is locked
    (see the module docstring). Safe to use from several threads."""

    def __init__(self, *, free: int = 5, window_s: float = 900.0, first_delay_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free = free
        self.window_s = window_s
        self.first_delay_s = first_delay_s
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def _keys(account: str, address: str) -> tuple[str, str]:
        return f"account:{account.strip().casefold()}", f"address:{address}"

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        while found and found[0] <= now - self.window_s:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def _locked_until(self, failures: deque[float]) -> float:
        if len(failures) <= self.free:
            return 0.0
        delay = min(self.first_delay_s * 2 ** (len(failures) - self.free - 1), self.window_s)
        return float(failures[-1] + delay)

    def check(self, account: str, address: str) -> Verdict:
        """Whether a sign-in of ``account`` from ``address`` may be checked now."""
        now = self.clock()
        with self._lock:
            until = max(self._locked_until(self._recent(key, now))
                        for key in self._keys(account, address))
        if until > now:
            return Verdict(False, max(1, math.ceil(until - now)))
        return Verdict(True)

    def failed(self, account: str, address: str) -> None:
        """Count a failed sign-in; log a warning when it locks the account or address."""
        now = self.clock()
        locks: list[tuple[float, int, str]] = []
        with self._lock:
            for key in self._keys(account, address):
                failures = self._recent(key, now)
                failures.append(now)
                self._failures[key] = failures
                self._failures.move_to_end(key)
                if len(failures) > self.free:
                    locks.append((self._locked_until(failures) - now, len(failures),
                                  key.split(":", 1)[0]))
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)
        if locks:
            delay, count, kind = max(locks)
            log.warning("sign-in of %r from %s locked for %.1f s after %d failed attempts "
                        "(of this %s) within %.0f s", account, address, delay, count, kind,
                        self.window_s)

    def succeeded(self, account: str) -> None:
        """Forget the failures of ``account`` (its address keeps its count)."""
        with self._lock:
            self._failures.pop(self._keys(account, "")[0], None)
