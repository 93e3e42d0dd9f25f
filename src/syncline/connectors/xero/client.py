"""HTTP calls to the Xero Accounting API within its limits.

:class:`TenantLimiter` keeps one organisation's calls under Xero's limits (per rolling
minute, per rolling day, in progress at once) before they are sent: a call's place in the
minute window is taken when its answer arrives, which is never before the server counted it,
so the client's window never runs ahead of the server's. It is shared by every connector in
the process that talks to the same tenant.

:class:`XeroClient` sends a call with a fresh access token and deals with the answers that
are not the caller's business, through the one retry policy of remote connectors
(:mod:`syncline.connectors.retry`): ``429`` (every call of the tenant waits its
``Retry-After``, then it is tried again; a wait longer than ``max_wait``, e.g. the day limit,
ends the run with :class:`~syncline.errors.EndpointUnavailable`), ``401`` (refreshes the
token once), network errors, timeouts and ``500``/``502``/``503``/``504`` (tried again with
jittered backoff within the run's retry budget). A write is only tried again when it carries
an ``Idempotency-Key`` (the writer's always do), so that Xero answers a repeated write with
what it did the first time instead of writing twice; a failure that outlasts the retries
names the real cause (``the server failed (500 Internal Server Error) answering POST
/Invoices``).
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

from syncline.connectors.retry import (
    DEFAULT_POLICY,
    RetryPolicy,
    Transient,
    retry_after,
    send_with_retries,
    status_text,
    transient_answer,
)
from syncline.connectors.xero.auth import TokenKeeper
from syncline.errors import AuthenticationFailed, EndpointUnavailable, ProtocolError
from syncline.run_context import RunContext

__all__ = ["Answer", "TenantLimiter", "XeroClient", "json_body", "limiter_for"]


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


class _RateLimited(Transient):
    """A 429: ``problem`` is Xero's name of the limit reached (``minute``, ``day``…)."""

    def __init__(self, what: str, wait: float, problem: str) -> None:
        self.problem = problem
        super().__init__(f"Xero asks us to slow down (429 Too Many Requests: {problem} "
                         f"limit) answering {what}", status=429, wait=wait)


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
                 context: Callable[[], RunContext] | None = None,
                 retries: RetryPolicy = DEFAULT_POLICY) -> None:
        self.endpoint = endpoint
        self._context = context
        self.api_url = api_url.rstrip("/")
        self.tenant_id = tenant_id
        self.tokens = tokens
        self.http = http
        self.limiter = limiter
        self.max_wait = max_wait
        self.retries = retries
        self.rate_limited = 0

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             body: Any = None, headers: dict[str, str] | None = None) -> Answer:
        """Send one call and return its answer (any status but 401, 429 and 5xx). A call
        other than a GET is tried again only when it carries an ``Idempotency-Key``.

        Raises:
            EndpointUnavailable: unreachable or 5xx after the retries (a
                :class:`~syncline.connectors.retry.RetriesSpent` naming the cause), or
                limited for longer than ``max_wait``.
            RunCancelled: the run was asked to stop while a retry was due.
            AuthenticationFailed: the token is refused even after a refresh, or the
                organisation is not reachable with it (403).
        """
        context = self._context() if self._context is not None else RunContext()
        idempotent = method == "GET" or "Idempotency-Key" in (headers or {})
        return send_with_retries(
            lambda: self._once(method, path, params, body, headers, context),
            endpoint=self.endpoint, context=context, policy=self.retries,
            idempotent=idempotent, on_retry=self._before_retry)

    def _before_retry(self, failure: Transient, wait: float) -> None:
        """After a 429: hold every call of the tenant back, or end the run when the wait
        asked is longer than ``max_wait``.

        Raises:
            EndpointUnavailable: the wait asked is longer than ``max_wait``.
        """
        if not isinstance(failure, _RateLimited):
            return
        asked = failure.wait or wait
        if asked > self.max_wait:
            raise EndpointUnavailable(self.endpoint, f"Xero's {failure.problem} limit asks "
                                      f"for a wait of {asked:.0f} s (more than "
                                      f"limits.max_wait); {_resume(asked)}")
        self.limiter.block(wait)

    def _once(self, method: str, path: str, params: dict[str, Any] | None, body: Any,
              headers: dict[str, str] | None, context: RunContext) -> Answer:
        sent_headers = {"xero-tenant-id": self.tenant_id, "Accept": "application/json",
                        **(headers or {})}
        content = None
        if body is not None:
            content = json_body(body).encode()
            sent_headers["Content-Type"] = "application/json"
        what = f"{method} {path}"
        for refreshed in (False, True):
            token = self.tokens.access_token()
            sent_headers["Authorization"] = f"Bearer {token}"
            with self.limiter.slot(self.max_wait, self.endpoint):
                try:
                    response = self.http.request(
                        method, f"{self.api_url}{path}", params=params, content=content,
                        headers=sent_headers, **_bounded(context))
                except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                    raise Transient(f"no connection for {what} ({error})", sent=False) \
                        from None
                except httpx.TimeoutException:
                    raise Transient(f"{what} timed out") from None
                except httpx.HTTPError as error:
                    raise Transient(f"the connection broke during {what} "
                                    f"({error or type(error).__name__})") from None
            if response.status_code == 401 and not refreshed:
                self.tokens.refresh_now(token)
                continue
            break
        status = response.status_code
        if status == 429:
            self.rate_limited += 1
            raise _RateLimited(what, retry_after(response.headers.get("Retry-After")) or 1.0,
                               response.headers.get("X-Rate-Limit-Problem", "unknown"))
        failure = transient_answer(status, response.reason_phrase, response.headers, what)
        if failure is not None:
            raise failure
        if status == 401:
            raise AuthenticationFailed(self.endpoint, "Xero refused the access token even "
                                                      "after a refresh")
        if status == 403:
            raise AuthenticationFailed(self.endpoint, f"the connection cannot reach "
                                                      f"organisation {self.tenant_id}")
        if status >= 500:
            raise EndpointUnavailable(self.endpoint, f"the server failed "
                                      f"({status_text(status, response.reason_phrase)}) "
                                      f"answering {what}: {response.text[:300]}")
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


def json_body(body: Any) -> str:
    """``body`` as the JSON text a call sends (decimals as numbers). The same body always
    gives the same text, also after a round trip through :func:`json.loads`, so that a
    request recorded with it and sent again is the request Xero's idempotency key saw.

    Raises:
        TypeError: ``body`` holds a value JSON cannot carry.
    """
    return json.dumps(body, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")
