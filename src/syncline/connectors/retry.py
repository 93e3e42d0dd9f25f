"""The one retry policy of every remote connector (CardDAV, CalDAV, Xero, QBO, and any new one).

Terms:

transient failure
    An answer or a failure that may go away if the same request is sent again:
    ``429 Too Many Requests`` and ``503 Service Unavailable`` (waiting what their
    ``Retry-After`` asks, in seconds or as an HTTP date), ``500``, ``502``, ``504``, a
    connection refused or reset, a timeout, an answer cut short. A connector's send function
    raises :class:`Transient` for one (:func:`transient_answer` turns a status into one).
ambiguous
    A transient failure after the request may have reached the server (no answer, a reset
    after sending, a 5xx answer): the server may have applied it. A write is only sent
    again when it carries the idempotency the API offers (Xero ``Idempotency-Key``, QBO
    ``requestid``, DAV ``If-None-Match: *`` / ``If-Match``); a connector that gets an
    ambiguous failure of a write reads the record back before deciding.
retry budget
    What one run may spend on retries against one endpoint (:class:`RetryBudget`): a number
    of retries (``retries``) and a total wait in seconds (``max_wait``). When it is spent,
    the failure ends the run with :class:`~syncline.errors.EndpointUnavailable` naming the
    real cause (``the server failed (500 Internal Server Error) …``, ``the server kept
    answering 429 Too Many Requests …``).
backoff
    The wait before retry *n* (1, 2, …): ``backoff * 2**(n-1)``, at most ``max_backoff``,
    jittered (a random share of it, at least half), or what ``Retry-After`` asks when
    that is longer.

A stop request of the run (:mod:`syncline.run_context`) ends retrying at once: no retry is
started once a stop was asked, and a wait in progress is cut short; the call then raises
:class:`~syncline.errors.RunCancelled`.

Settings (the ``retries`` table of a remote endpoint, all optional)::

    retries = { retries = 50, max_wait = 300, backoff = 0.5, max_backoff = 30, attempts = 8 }

``retries`` and ``max_wait`` are the per-run budget, ``attempts`` the most tries of one
request (the first one included).
"""

from __future__ import annotations

import random
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from syncline.errors import ConfigError, EndpointUnavailable, RunCancelled
from syncline.run_context import RunContext

__all__ = [
    "DEFAULT_POLICY",
    "RetriesSpent",
    "RetryBudget",
    "RetryPolicy",
    "Transient",
    "budget_for",
    "parse_policy",
    "retry_after",
    "send_with_retries",
    "status_text",
    "transient_answer",
]

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses answered by a server in trouble or over its limits: tried again."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a connector retries (see the module docstring for each setting)."""

    retries: int = 50
    max_wait: float = 300.0
    backoff: float = 0.5
    max_backoff: float = 30.0
    attempts: int = 8

    def delay(self, retry: int, asked: float | None) -> float:
        """The wait before retry number ``retry`` (1, 2, …): a jittered exponential
        backoff, or ``asked`` (a ``Retry-After``) when that is longer."""
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (retry - 1))
        jittered = ceiling * (0.5 + random.random() / 2)
        return max(jittered, asked or 0.0)


DEFAULT_POLICY = RetryPolicy()

_LIMITS: dict[str, tuple[float, float]] = {"retries": (0, 100_000), "max_wait": (0, 86_400),
                                           "backoff": (0, 3600), "max_backoff": (0, 86_400),
                                           "attempts": (1, 1000)}


def parse_policy(raw: Any, key: str, default: RetryPolicy = DEFAULT_POLICY) -> RetryPolicy:
    """The policy of a ``retries`` table (``None``: ``default``); ``key`` names the table
    in errors (``endpoints.books.retries``).

    Raises:
        ConfigError: not a table, an unknown setting, or a number out of range.
    """
    if raw is None:
        return default
    if not isinstance(raw, Mapping):
        raise ConfigError("must be a table (retries, max_wait, backoff, max_backoff, "
                          "attempts)", key=key)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _LIMITS:
            raise ConfigError(f"unknown setting '{name}'; known: {', '.join(_LIMITS)}",
                              key=f"{key}.{name}")
        low, high = _LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not low <= value <= high:
            raise ConfigError(f"must be a number from {low:g} to {high:g}, not {value!r}",
                              key=f"{key}.{name}")
        values[name] = int(value) if name in ("retries", "attempts") else float(value)
    given = {field.name: getattr(default, field.name) for field in fields(RetryPolicy)}
    return RetryPolicy(**{**given, **values})


class RetryBudget:
    """What one run may still spend on retries against one endpoint. Thread-safe."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.retries = 0
        self.waited = 0.0
        self._lock = threading.Lock()

    def take(self, wait: float) -> bool:
        """Spend one retry and ``wait`` seconds if both are left; whether they were."""
        with self._lock:
            if self.retries >= self.policy.retries \
                    or self.waited + wait > self.policy.max_wait:
                return False
            self.retries += 1
            self.waited += wait
            return True

    def describe(self, wait: float | None = None) -> str:
        """The budget in words, for messages (``wait``: the wait it could not pay)."""
        text = (f"this run's retry budget ({self.policy.retries} retries, "
                f"{self.policy.max_wait:g} s of waiting) is spent: {self.retries} retries, "
                f"{self.waited:.1f} s waited")
        if wait is not None and self.retries < self.policy.retries:
            text += f"; the next wait would be {wait:.1f} s"
        return text


_BUDGETS: weakref.WeakKeyDictionary[RunContext, dict[str, RetryBudget]] = \
    weakref.WeakKeyDictionary()
_BUDGETS_LOCK = threading.Lock()


def budget_for(context: RunContext, endpoint: str, policy: RetryPolicy) -> RetryBudget:
    """The retry budget of ``endpoint`` in the run of ``context`` (made on first use; a new
    run has a new context, so a new budget)."""
    with _BUDGETS_LOCK:
        per_endpoint = _BUDGETS.setdefault(context, {})
        found = per_endpoint.get(endpoint)
        if found is None or found.policy != policy:
            found = per_endpoint[endpoint] = RetryBudget(policy)
        return found


class Transient(Exception):
    """A transient failure of one request (see the module docstring).

    ``cause`` says what happened in words that name the real cause (``the server failed
    (500 Internal Server Error) answering POST /Invoices``); ``status`` is the HTTP status
    (``None``: no answer); ``wait`` the seconds the server asked to wait (``Retry-After``);
    ``sent`` whether the request may have reached the server (a refused connection was
    not sent).
    """

    def __init__(self, cause: str, *, status: int | None = None, wait: float | None = None,
                 sent: bool = True) -> None:
        super().__init__(cause)
        self.cause = cause
        self.status = status
        self.wait = wait
        self.sent = sent

    @property
    def ambiguous(self) -> bool:
        """Whether the server may have applied the request (see the module docstring):
        it was sent and not refused with 429 or 503 (both mean "not done")."""
        return self.sent and self.status not in (429, 503)


def status_text(status: int, reason: str | None = None) -> str:
    """``500 Internal Server Error``: a status with its reason phrase."""
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"{status} {reason}".rstrip()


_SECONDS = re.compile(r"\d+(?:\.\d+)?")
"""A ``Retry-After`` given in seconds (an HTTP date otherwise)."""


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait: a number of seconds (fractions
    tolerated) or an HTTP date; ``None`` when absent or unreadable, ``0.0`` for a date
    in the past."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        return max(0.0, float(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def transient_answer(status: int, reason: str | None, headers: Mapping[str, str],
                     what: str) -> Transient | None:
    """The transient failure an answer is (``what``: the request, e.g. ``PUT /x.vcf``),
    or ``None`` when it is not one.

    429 is "the server asks us to slow down", 503 "the server is unavailable", and 500, 502,
    504 "the server failed".
    """
    if status not in TRANSIENT_STATUSES:
        return None
    wait = retry_after(headers.get("Retry-After")) if status in (429, 503) else None
    named = status_text(status, reason)
    if status == 429:
        cause = f"the server asks us to slow down ({named}) answering {what}"
    elif status == 503:
        cause = f"the server is unavailable ({named}) answering {what}"
    else:
        cause = f"the server failed ({named}) answering {what}"
    if wait is not None:
        cause += f" (Retry-After {wait:g} s)"
    return Transient(cause, status=status, wait=wait)


def send_with_retries(send: Callable[[], T], *, endpoint: str, context: RunContext,
                      policy: RetryPolicy, idempotent: bool = True,
                      on_retry: Callable[[Transient, float], None] | None = None) -> T:
    """``send()`` until it returns, retrying its :class:`Transient` failures with backoff
    within the run's budget (see the module docstring). A request that is not
    ``idempotent`` is retried only when its failure was not ambiguous (it never reached
    the server, or was refused with 429/503). ``on_retry(failure, wait)`` is told before
    each wait (a connector holds its other calls back after a 429, for instance).

    Raises:
        RetriesSpent: an :class:`~syncline.errors.EndpointUnavailable`: the failure
            outlasted the budget or the request's ``attempts`` (or was ambiguous for a
            request that cannot be repeated safely); its message names the real cause, its
            ``ambiguous`` says whether the server may have applied the request.
        RunCancelled: the run was asked to stop while a retry was due.
        Anything else ``send`` raises, untouched.
    """
    budget = budget_for(context, endpoint, policy)
    refused: list[str] = []  # why the last failure is not retried

    def should_retry(error: BaseException) -> bool:
        return isinstance(error, Transient) and (idempotent or not error.ambiguous)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        asked = error.wait if isinstance(error, Transient) else None
        return policy.delay(state.attempt_number, asked)

    def stop(state: RetryCallState) -> bool:
        if context.stopping():
            refused.append("stop")
            return True
        if stop_after_attempt(policy.attempts)(state):
            refused.append("attempts")
            return True
        return False

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        seconds = state.upcoming_sleep
        assert isinstance(error, Transient)
        if on_retry is not None:
            on_retry(error, seconds)
        if not budget.take(seconds):
            refused.append("budget")
            raise _Spent(error, seconds)

    def sleep(seconds: float) -> None:
        if context.stop.wait(seconds):
            raise _Stopped()

    retrying = Retrying(retry=retry_if_exception(should_retry), wait=wait, stop=stop,
                        before_sleep=before_sleep, sleep=sleep, reraise=True)
    try:
        return retrying(send)
    except _Stopped:
        raise RunCancelled(context.stop.reason) from None
    except _Spent as spent:
        raise RetriesSpent(endpoint, spent.failure, budget.describe(spent.wait)) \
            from spent.failure
    except Transient as failure:
        if refused and refused[-1] == "stop":
            raise RunCancelled(context.stop.reason) from failure
        if not idempotent and failure.ambiguous:
            why = "it is not sent again, as the server may have applied it"
        else:
            why = f"gave up after {policy.attempts} tries"
        raise RetriesSpent(endpoint, failure, why) from failure


class _Spent(Exception):
    def __init__(self, failure: Transient, wait: float) -> None:
        super().__init__(failure.cause)
        self.failure = failure
        self.wait = wait


class _Stopped(Exception):
    """The run was asked to stop while a retry waited (raised out of tenacity's sleep)."""


class RetriesSpent(EndpointUnavailable):
    """A transient failure that retrying did not get past (see :func:`send_with_retries`);
    ``failure`` is the last one, ``ambiguous`` whether the server may have applied the
    request (then a connector reads the record back before deciding)."""

    def __init__(self, endpoint: str, failure: Transient, why: str) -> None:
        self.failure = failure
        cause = failure.cause
        if failure.status == 429:
            cause = cause.replace("asks us to slow down", "kept asking us to slow down", 1)
        super().__init__(endpoint, f"{cause}; {why}")

    @property
    def ambiguous(self) -> bool:
        return self.failure.ambiguous


