"""A fault-injecting HTTP proxy on 127.0.0.1 for tests: real HTTP both ways, in front of a
Radicale server or a Xero / QBO sandbox, answering like a server (or a network) in trouble.

Faults (:data:`FAULTS`), each applied to one request:

``500`` / ``502`` / ``504``
    Answered with that status; the request never reaches the server.
``503``
    503 Service Unavailable with ``Retry-After`` (:attr:`FaultyProxy.retry_after`).
``429`` / ``429-date``
    429 Too Many Requests with ``Retry-After`` in seconds / as an HTTP date.
``drop``
    The connection is closed without an answer; the request never reaches the server.
``stall``
    The request waits :attr:`FaultyProxy.stall` seconds (bounded) before it is passed on;
    a client with a shorter timeout gives up while the server then commits.
``500-after`` / ``drop-after``
    The request reaches the server (which commits it); the answer is lost: replaced by a
    500, or the connection is closed without one.
``truncate``
    The server's answer is cut in the middle of its body (the Content-Length promised more)
    and the connection closed.

:meth:`FaultyProxy.inject` queues faults for the next requests that match; :meth:`chaos`
gives each matching request a fault with a probability (seeded, so a test is repeatable).
``faulted`` lists ``(fault, method, path)`` of every fault applied. The DAV-specific answers
(``full``: 507 to every PUT; ``truncate_sync``: sync-collection answers marked truncated;
``put_delay``) are kept for the DAV tests.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

__all__ = ["FAULTS", "FaultyProxy"]

FAULTS = ("500", "502", "503", "504", "429", "429-date", "drop", "stall", "500-after",
          "drop-after", "truncate")

_HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding"}
_END_OF_MULTISTATUS = re.compile(rb"</([A-Za-z0-9]+:)?multistatus>\s*$")

Matcher = Callable[[str, str], bool]
"""Whether a request ``(method, path)`` may get a fault."""


def _any(method: str, path: str) -> bool:
    return True


class _QuietServer(ThreadingHTTPServer):
    """A threading server that does not print the connections its clients gave up on."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None


class FaultyProxy:
    """The proxy (see the module docstring) in front of ``target`` (a base URL). Use it as
    a context manager; :attr:`url` replaces the server's base URL (:meth:`via`).

    ``full``
        Every PUT is answered 507 Insufficient Storage (the storage or quota is full).
    ``truncate``
        That many of the next sync-collection answers say they were truncated (RFC 6578
        §3.6: a 507 response for the collection itself, "ask again from this token").
    ``put_delay``
        Seconds each PUT waits before it is passed on (a slow server).
    ``retry_after`` / ``stall``
        The seconds a 429 / 503 asks to wait, and a stall lasts.

    ``requests`` lists ``(method, path)`` of every request it passed or answered.
    """

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.full = False
        self.truncate = 0
        self.put_delay = 0.0
        self.retry_after = 1.0
        self.stall = 1.0
        self.requests: list[tuple[str, str]] = []
        self.faulted: list[tuple[str, str, str]] = []
        self._queue: deque[tuple[str, Matcher]] = deque()
        self._rate = 0.0
        self._kinds: tuple[str, ...] = ()
        self._matches: Matcher = _any
        self._random = random.Random(0)
        self._lock = threading.Lock()
        self.upstream = httpx.Client(timeout=60, trust_env=False)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests.append((self.command, self.path))
                fault = proxy._fault_for(self.command, self.path)
                if fault in ("500", "502", "504"):
                    self.answer(int(fault), {"Content-Type": "text/plain"}, b"proxy fault")
                    return
                if fault in ("503", "429", "429-date"):
                    wait = proxy.retry_after
                    after = formatdate(time.time() + wait, usegmt=True) \
                        if fault == "429-date" else f"{wait:g}"
                    self.answer(503 if fault == "503" else 429,
                                {"Content-Type": "text/plain", "Retry-After": after},
                                b"slow down")
                    return
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault == "stall":
                    time.sleep(proxy.stall)
                if self.command == "PUT" and proxy.put_delay:
                    time.sleep(proxy.put_delay)
                if self.command == "PUT" and proxy.full:
                    self.answer(507, {"Content-Type": "text/plain"},
                                b"quota exceeded for this account")
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in _HOP_BY_HOP | {"host"}}
                answer = proxy.upstream.request(self.command, proxy.target + self.path,
                                                content=body, headers=headers)
                if fault == "500-after":
                    self.answer(500, {"Content-Type": "text/plain"}, b"lost after commit")
                    return
                if fault == "drop-after":
                    self.close_connection = True
                    return
                content = answer.content
                if self.command == "REPORT" and b"sync-collection" in body \
                        and answer.status_code == 207 and proxy.truncate > 0:
                    proxy.truncate -= 1
                    content = _END_OF_MULTISTATUS.sub(
                        lambda m: (b"<%(p)sresponse><%(p)shref>%(h)s</%(p)shref><%(p)sstatus>"
                                   b"HTTP/1.1 507 Insufficient Storage</%(p)sstatus>"
                                   b"</%(p)sresponse>" % {b"p": m.group(1) or b"",
                                                         b"h": self.path.encode()})
                        + m.group(0), content)
                headers = {k: v for k, v in answer.headers.items()
                           if k.lower() not in _HOP_BY_HOP | {"content-encoding"}}
                if fault == "truncate" and len(content) > 1:
                    self.send_response(answer.status_code)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content[:len(content) // 2])
                    self.close_connection = True
                    return
                self.answer(answer.status_code, headers, content)

            def answer(self, status: int, headers: dict[str, str], content: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_PROPFIND = do_REPORT = \
                do_OPTIONS = do_MKCOL = handle_one

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def inject(self, *faults: str, when: Matcher = _any) -> None:
        """Give the next requests that ``when`` accepts these faults, one each, in order."""
        for fault in faults:
            assert fault in FAULTS, fault
        with self._lock:
            self._queue.extend((fault, when) for fault in faults)

    def chaos(self, rate: float, faults: tuple[str, ...] = FAULTS, *, seed: int = 0,
              when: Matcher = _any) -> None:
        """Give each request ``when`` accepts one of ``faults`` with probability ``rate``
        (0 ends it)."""
        for fault in faults:
            assert fault in FAULTS, fault
        with self._lock:
            self._rate, self._kinds, self._matches = rate, faults, when
            self._random = random.Random(seed)

    def calm(self) -> None:
        """No more faults: the queue is emptied and the rate set to 0."""
        with self._lock:
            self._queue.clear()
            self._rate = 0.0

    def _fault_for(self, method: str, path: str) -> str | None:
        with self._lock:
            fault: str | None = None
            for index, (queued, when) in enumerate(self._queue):
                if when(method, path):
                    fault = queued
                    del self._queue[index]
                    break
            else:
                if self._rate and self._matches(method, path) \
                        and self._random.random() < self._rate:
                    fault = self._random.choice(self._kinds)
            if fault is not None:
                self.faulted.append((fault, method, path))
            return fault

    def via(self, url: str) -> str:
        """``url`` of the server, reached through the proxy."""
        return url.replace(self.target + "/", self.url, 1)

    def __enter__(self) -> FaultyProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.upstream.close()
