"""Calling the QBO Accounting API: limits, retries, tokens, faults.

Every call:

- carries ``minorversion`` and a ``requestid`` (the same on every retry of the call, so a
  write QBO already applied is answered again instead of applied twice);
- waits for the client-side limits first: at most ``requests_per_minute`` calls in any
  sliding minute and ``concurrent`` calls at once per company (QBO: 500 and 10);
- goes through the one retry policy of remote connectors
  (:mod:`syncline.connectors.retry`): on HTTP 429 or 503 waits at least the ``Retry-After``
  it was given (seconds or an HTTP date; after a 429 every thread waits: the limit is the
  company's, not the thread's), on 500/502/504, a connection error, a timeout or an answer
  cut short tries again with jittered exponential back-off, all within the run's retry
  budget; a stop request of the run ends the retrying;
- on 401 refreshes the access token once and tries again.

Every call is safe to repeat: reads change nothing, and QBO answers a write whose
``requestid`` it has seen with its first answer instead of applying it again, so an answer
lost after QBO applied the write is read back by repeating the call.

Faults come back as :class:`Fault`; a call that cannot succeed raises a
:class:`~syncline.errors.RunError` naming the real cause (``the server failed (500 Internal
Server Error) answering POST /batch``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from syncline.connectors.qbo.auth import TokenKeeper
from syncline.connectors.retry import (
    DEFAULT_POLICY,
    RetryPolicy,
    Transient,
    send_with_retries,
    transient_answer,
)
from syncline.errors import AuthenticationFailed, ProtocolError
from syncline.run_context import RunContext

__all__ = ["ApiClient", "Fault", "FaultError", "RateGate"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One QBO fault: its ``type`` and first error's ``code``, ``message`` and ``detail``."""

    type: str
    code: str
    message: str
    detail: str

    @classmethod
    def of(cls, body: Any) -> Fault | None:
        """The fault in a ``Fault`` object (either spelling of the keys), if it is one."""
        if not isinstance(body, dict):
            return None
        errors = body.get("Error") or body.get("error") or [{}]
        first = errors[0] if isinstance(errors, list) and errors else {}
        if not isinstance(first, dict):
            first = {}
        return cls(str(body.get("type", "")), str(first.get("code", "")),
                   str(first.get("Message") or first.get("message") or ""),
                   str(first.get("Detail") or first.get("detail") or ""))

    def __str__(self) -> str:
        return f"QBO fault {self.code} {self.message}: {self.detail}".rstrip(": ")


class FaultError(Exception):
    """A whole request answered with a fault (HTTP 400)."""

    def __init__(self, fault: Fault, status: int) -> None:
        super().__init__(str(fault))
        self.fault = fault
        self.status = status


class RateGate:
    """Client-side limits: a sliding-window rate, a concurrency cap, and a shared pause
    after a 429 (``pause_until``)."""

    def __init__(self, per_minute: int, concurrent: int, minute_seconds: float = 60.0,
                 *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_minute = per_minute
        self.minute_seconds = minute_seconds
        self.slots = threading.BoundedSemaphore(concurrent)
        self.sent: deque[float] = deque()
        self.pause_until = 0.0
        self.lock = threading.Lock()
        self.sleep = sleep

    def pause(self, seconds: float) -> None:
        """Hold every call back for ``seconds`` from now (keeps a longer pause)."""
        with self.lock:
            self.pause_until = max(self.pause_until, time.monotonic() + seconds)

    def admit(self) -> None:
        """Wait until a call may be sent and count it as sent (call with a slot held)."""
        while True:
            with self.lock:
                now = time.monotonic()
                wait = self.pause_until - now
                while self.sent and self.sent[0] <= now - self.minute_seconds:
                    self.sent.popleft()
                if wait <= 0 and len(self.sent) >= self.per_minute:
                    wait = self.sent[0] + self.minute_seconds - now
                if wait <= 0:
                    self.sent.append(now)
                    return
            self.sleep(wait)


class ApiClient:
    """Calls one company's API (see the module docstring). ``context`` gives the run
    context of the moment: once the run is asked to stop, a call is not tried again and a
    request gets no more than the grace left as its timeout."""

    def __init__(self, *, endpoint: str, base_url: str, realm: str, minor_version: int,
                 tokens: TokenKeeper, gate: RateGate, timeout: float = 60.0,
                 attempts: int = 8, context: Callable[[], RunContext] | None = None,
                 retries: RetryPolicy = DEFAULT_POLICY) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._context = context
        self.realm = realm
        self.minor_version = minor_version
        self.tokens = tokens
        self.gate = gate
        self.attempts = attempts
        self.retries = retries if retries.attempts == attempts else RetryPolicy(
            retries.retries, retries.max_wait, retries.backoff, retries.max_backoff, attempts)
        self.base = f"{base_url.rstrip('/')}/v3/company/{realm}"
        self.http = httpx.Client(timeout=timeout, trust_env=False,
                                 limits=httpx.Limits(max_connections=32,
                                                     max_keepalive_connections=32),
                                 headers={"Accept": "application/json"})
        self.calls = 0
        self.throttled = 0

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, request_id: str,
             params: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
        """One API call (``path`` below ``/v3/company/<realm>``); returns the JSON answer.

        Raises:
            FaultError: QBO refused the request as a whole (a 4xx with a fault).
            AuthenticationFailed: the token was refused even after a refresh.
            EndpointUnavailable: the API did not answer usefully after every retry.
            ProtocolError: the answer is not the JSON QBO sends.
        """
        query = {**(params or {}), "minorversion": str(self.minor_version),
                 "requestid": request_id}
        refreshed = [False]
        context = self._context() if self._context is not None else RunContext()

        def attempt() -> dict[str, Any]:
            return self._attempt(method, path, query, body, refreshed, context)

        def before_retry(failure: Transient, wait: float) -> None:
            if failure.status == 429:  # the company's limit: every thread waits
                self.gate.pause(wait)

        return send_with_retries(attempt, endpoint=self.endpoint, context=context,
                                 policy=self.retries, on_retry=before_retry)

    def _attempt(self, method: str, path: str, query: dict[str, str], body: Any,
                 refreshed: list[bool], context: RunContext) -> dict[str, Any]:
        token = self.tokens.access_token()
        what = f"{method} {path}"
        with self.gate.slots:
            self.gate.admit()
            self.calls += 1
            try:
                response = self.http.request(method, f"{self.base}{path}", params=query,
                                             json=body,
                                             headers={"Authorization": f"Bearer {token}"},
                                             timeout=context.timeout(self.timeout))
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                raise Transient(f"no connection for {what} ({error})", sent=False) from None
            except httpx.TimeoutException:
                raise Transient(f"{what} timed out") from None
            except httpx.TransportError as error:
                raise Transient(f"the connection broke during {what} "
                                f"({error or type(error).__name__})") from None
        status = response.status_code
        if status == 429:
            self.throttled += 1
        failure = transient_answer(status, response.reason_phrase, response.headers, what)
        if failure is not None:
            if status == 429 and failure.wait is None:
                failure.wait = 1.0
            raise failure
        if status >= 500:
            raise Transient(f"the server failed ({status} {response.reason_phrase}) "
                            f"answering {what}", status=status)
        try:
            answer = response.json()
        except ValueError:
            raise ProtocolError(self.endpoint, f"{method} {path}: HTTP {status} with a "
                                               f"body that is not JSON: "
                                               f"{response.text[:200]!r}") from None
        if not isinstance(answer, dict):
            raise ProtocolError(self.endpoint, f"{method} {path}: the answer is not a JSON "
                                               f"object")
        if status == 401:
            if not refreshed[0]:
                refreshed[0] = True
                self.tokens.access_token(force=True)
                return self._attempt(method, path, query, body, refreshed, context)
            raise AuthenticationFailed(self.endpoint, str(Fault.of(answer.get("Fault"))
                                                         or f"HTTP {status}"))
        if status >= 400:
            fault = Fault.of(answer.get("Fault") or answer.get("fault"))
            if fault is None:
                raise ProtocolError(self.endpoint, f"{method} {path}: HTTP {status} without "
                                                   f"a fault: {response.text[:200]!r}")
            raise FaultError(fault, status)
        return answer
