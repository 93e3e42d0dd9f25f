"""Sandboxes: local HTTP servers that behave as accounting systems' documented APIs do.

A *sandbox* is NOT a connector and NOT the real service: it is a stand-in for tests, demos
and people who want to try syncline before connecting their books. Everything it holds lives
in memory and is gone when it stops. Each sandbox is labelled as such in its banner, its
OpenAPI title and its command-line help.

This package holds what all sandboxes share: :class:`ServerThread` (an ASGI application
served by uvicorn on 127.0.0.1 in a background thread, for tests and benchmarks),
:func:`free_port` and :func:`banner`. Each sandbox lives in its own sub-package
(``sandbox/xero``, ``sandbox/qbo``).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["SANDBOX_NOTICE", "ServerThread", "banner", "free_port"]

SANDBOX_NOTICE = "SANDBOX - a local stand-in for testing; not the real service, data in memory"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def banner(name: str, url: str, lines: list[str] | None = None) -> str:
    """The text a sandbox prints when it starts: its name, the SANDBOX notice, its URL and
    any further ``lines`` (client credentials, tenants...)."""
    rule = "=" * 78
    body = [rule, f"  {name} SANDBOX", f"  {SANDBOX_NOTICE}", f"  listening on {url}"]
    body += [f"  {line}" for line in lines or []]
    return "\n".join([*body, rule])


class ServerThread:
    """An ASGI application served by uvicorn in a daemon thread.

    Use as a context manager (or call :meth:`start` / :meth:`stop`)::

        with ServerThread(app) as server:
            httpx.get(f"{server.url}/...")
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None,
                 *, log_level: str = "warning") -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        config = uvicorn.Config(app, host=host, port=self.port, log_level=log_level,
                                access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name=f"sandbox:{self.port}",
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> ServerThread:
        """Start serving and wait until the server accepts connections.

        Raises:
            RuntimeError: the server did not start within ``timeout`` seconds.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end (safe to call twice)."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
