"""HTTP calls to the Xero Accounting API within its limits.

:class:`TenantLimiter` keeps one organisation's calls under Xero's limits (per rolling
minute, per rolling day, in progress at once) before they are sent: a call's place in the
minute window is taken when its answer arrives, which is never before the server counted it,
so the client's window never runs ahead of the server's. It is shared by every connector in
the process that talks to the same tenant.

:class:`XeroClient` sends a call with a fresh access token and deals with the answers that
are not the caller's business: ``429`` (waits ``Retry-After`` and tries again, up to
``max_wait`` in total per call; a longer wait, e.g. the day limit, ends the run with
:class:`~syncline.errors.EndpointUnavailable`), ``401`` (refreshes the token once), network
errors and ``502``/``503``/``504`` (three tries with back-off; writes carry idempotency keys,
so a retried write is never applied twice).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_when_event_set,
)

from syncline.connectors.xero.auth import TokenKeeper
from syncline.errors import AuthenticationFailed, EndpointUnavailable, ProtocolError
from syncline.run_context import RunContext

__all__ = ["Answer", "TenantLimiter", "XeroClient", "limiter_for"]


class TenantLimiter:
    """Client-side limits of one tenant (see the module docstring). Thread-safe."""

    def __init__(self, per_minute: int, per_day: int, concurrent: int, scale: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_minute = per_minute
        self.per_day = per_day
        self.minute = 60.0 / scale
        self.day = 86_400.0 / scale
        self.clock = clock
        self.sleep = sleep
        self._slots = threading.Semaphore(concurrent)
        self._lock = threading.Lock()
        self._minute: deque[float] = deque()
        self._day: deque[float] = deque()
        self._in_flight = 0
        self._blocked_until = 0.0
        self.waited = 0.0

    def _trim(self, now: float) -> None:
        while self._minute and self._minute[0] <= now - self.minute:
            self._minute.popleft()
        while self._day and self._day[0] <= now - self.day:
            self._day.popleft()

    def block(self, seconds: float) -> None:
        """Hold every call of this tenant back for ``seconds`` (after a 429)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock() + seconds)

    @contextmanager
    def slot(self, max_wait: float, endpoint: str) -> Iterator[None]:
        """Wait until a call may be sent, hold its place while it runs, and count it when it
        ends.

        Raises:
            EndpointUnavailable: the day's calls are used up for longer than ``max_wait``.
        """
        self._slots.acquire()
        try:
            while True:
                with self._lock:
                    now = self.clock()
                    self._trim(now)
                    wait = self._blocked_until - now
                    if len(self._day) + self._in_flight >= self.per_day:
                        wait = max(wait, self._day[0] + self.day - now if self._day else 1.0)
                        if wait > max_wait:
                            raise EndpointUnavailable(endpoint, f"Xero's daily limit of "
                                                      f"{self.per_day} calls is used up; "
                                                      f"{_resume(wait)}")
                    if len(self._minute) + self._in_flight >= self.per_minute:
                        oldest = self._minute[0] if self._minute else now + 0.01
                        wait = max(wait, oldest + self.minute - now)
                    if wait <= 0:
                        self._in_flight += 1
                        break
                self.waited += wait
                self.sleep(wait)
            try:
                yield
            finally:
                with self._lock:
                    self._in_flight -= 1
                    done = self.clock()
                    self._minute.append(done)
                    self._day.append(done)
        finally:
            self._slots.release()


_LIMITERS: dict[tuple[str, str], TenantLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(api_url: str, tenant: str, per_minute: int, per_day: int, concurrent: int,
                scale: float) -> TenantLimiter:
    """The process-wide limiter of ``tenant`` at ``api_url`` (created on first use)."""
    with _LIMITERS_LOCK:
        found = _LIMITERS.get((api_url, tenant))
        if found is None or (found.per_minute, found.per_day, found.minute) != (
                per_minute, per_day, 60.0 / scale):
            found = TenantLimiter(per_minute, per_day, concurrent, scale)
            _LIMITERS[(api_url, tenant)] = found
        return found


@dataclass
class Answer:
    """An API answer: status, JSON body (decimals as :class:`~decimal.Decimal`), headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _RateLimited(Exception):
    def __init__(self, wait: float, problem: str) -> None:
        self.wait = wait
        self.problem = problem
        super().__init__(f"rate limited ({problem}); retry after {wait} s")


class _Transient(Exception):
    pass


def _bounded(context: RunContext) -> dict[str, Any]:
    """The timeout of a request once the run was asked to stop (none before: the
    client's own)."""
    return {"timeout": context.timeout(60.0)} if context.stopping() else {}


class XeroClient:
    """Calls to one tenant's Accounting API (see the module docstring). ``context`` gives
    the run context of the moment: once the run is asked to stop, a call is not tried again
    and a request gets no more than the grace left as its timeout."""

    def __init__(self, endpoint: str, api_url: str, tenant_id: str, tokens: TokenKeeper,
                 http: httpx.Client, limiter: TenantLimiter, max_wait: float,
                 context: Callable[[], RunContext] | None = None) -> None:
        self.endpoint = endpoint
        self._context = context
        self.api_url = api_url.rstrip("/")
        self.tenant_id = tenant_id
        self.tokens = tokens
        self.http = http
        self.limiter = limiter
        self.max_wait = max_wait
        self.rate_limited = 0

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _RateLimited):
            return float(error.wait)
        backoff: float = min(0.5 * 2.0 ** (state.attempt_number - 1), 4.0)
        return backoff

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             body: Any = None, headers: dict[str, str] | None = None) -> Answer:
        """Send one call and return its answer (any status but 401, 429 and 5xx).

        Raises:
            EndpointUnavailable: unreachable, 5xx after retries, or limited for longer than
                ``max_wait``.
            AuthenticationFailed: the token is refused even after a refresh, or the
                organisation is not reachable with it (403).
        """
        context = self._context() if self._context is not None else RunContext()
        retrying = Retrying(
            retry=retry_if_exception_type((_RateLimited, _Transient)),
            wait=self._wait, stop=stop_after_attempt(60) | stop_after_delay(self.max_wait * 2)
            | stop_when_event_set(context.stop.event),
            reraise=True,
            before_sleep=lambda state: self._before_sleep(state),
            sleep=self.limiter.sleep)
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(method, path, params, body, headers, context)
        except _RateLimited as error:
            raise EndpointUnavailable(self.endpoint, f"Xero keeps answering 429 "
                                                     f"({error.problem})") from None
        except _Transient as error:
            raise EndpointUnavailable(self.endpoint, str(error)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _before_sleep(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _RateLimited):
            if error.wait > self.max_wait:
                raise EndpointUnavailable(self.endpoint, f"Xero's {error.problem} limit asks "
                                          f"for a wait of {error.wait:.0f} s (more than "
                                          f"limits.max_wait); {_resume(error.wait)}")
            self.limiter.block(error.wait)

    def _once(self, method: str, path: str, params: dict[str, Any] | None, body: Any,
              headers: dict[str, str] | None, context: RunContext) -> Answer:
        sent_headers = {"xero-tenant-id": self.tenant_id, "Accept": "application/json",
                        **(headers or {})}
        content = None
        if body is not None:
            content = json.dumps(body, default=_json_default).encode()
            sent_headers["Content-Type"] = "application/json"
        for refreshed in (False, True):
            token = self.tokens.access_token()
            sent_headers["Authorization"] = f"Bearer {token}"
            with self.limiter.slot(self.max_wait, self.endpoint):
                try:
                    response = self.http.request(
                        method, f"{self.api_url}{path}", params=params, content=content,
                        headers=sent_headers, **_bounded(context))
                except httpx.HTTPError as error:
                    raise _Transient(f"{method} {path}: {error}") from None
            if response.status_code == 401 and not refreshed:
                self.tokens.refresh_now(token)
                continue
            break
        status = response.status_code
        if status == 429:
            self.rate_limited += 1
            try:
                wait = float(response.headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            raise _RateLimited(wait, response.headers.get("X-Rate-Limit-Problem", "unknown"))
        if status in (502, 503, 504):
            raise _Transient(f"{method} {path}: HTTP {status}")
        if status == 401:
            raise AuthenticationFailed(self.endpoint, "Xero refused the access token even "
                                                      "after a refresh")
        if status == 403:
            raise AuthenticationFailed(self.endpoint, f"the connection cannot reach "
                                                      f"organisation {self.tenant_id}")
        if status >= 500:
            raise EndpointUnavailable(self.endpoint, f"{method} {path}: HTTP {status}: "
                                                     f"{response.text[:300]}")
        parsed: Any = None
        if response.content:
            try:
                parsed = json.loads(response.content, parse_float=Decimal)
            except ValueError:
                raise ProtocolError(self.endpoint, f"{method} {path}: HTTP {status} with a "
                                                   f"body that is not JSON") from None
        return Answer(status, parsed, dict(response.headers))


def _resume(seconds: float) -> str:
    """When calls may resume, and what happens meanwhile (for a run that stops waiting)."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return (f"calls resume at {moment:%Y-%m-%d %H:%M} UTC; this run stops here and what it "
            f"did not send stays pending for the next run")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")
