"""Helpers of the API tests: the real application served by uvicorn on a free port of
127.0.0.1 (in a thread of the test process, so memory endpoints can be seeded and failures
injected), with one user per role."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from syncline.api import ApiContext, build_context, create_app
from syncline.config import Config
from syncline.engine.sync import ConnectorFactory
from syncline.state.store import StateStore
from syncline.state.users_store import Role, UsersStore

ROLES = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
STARTUP = 30.0


@dataclass
class Served:
    """A running API: its base URL, the context behind it, a token per role."""

    url: str
    context: ApiContext
    tokens: dict[Role, str] = field(default_factory=dict)
    app: Any = None

    def client(self, role: Role | None = None, token: str | None = None) -> httpx.Client:
        """An HTTP client sending the token of ``role`` (or ``token``; neither: none)."""
        chosen = token if token is not None else self.tokens[role] if role else None
        headers = {"Authorization": f"Bearer {chosen}"} if chosen else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    @property
    def store(self) -> StateStore:
        return self.context.store


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free port of 127.0.0.1."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    return listener


@contextmanager
def serve_api(config: Config, *, factory: ConnectorFactory | None = None,
              notify: bool = True) -> Iterator[Served]:
    """Serve the API as ``syncline serve`` does (the scheduler host started by the
    application's lifespan) over ``config``'s state store, with users viewer / operator /
    admin, each with a token; stop the server (waiting for runs) and close the store after."""
    store = StateStore.open(config.resolve_url(config.state.url))
    users = UsersStore(store)
    tokens = {}
    for role in ROLES:
        users.add_user(role.value, role, f"{role.value}-password", created_by="test")
        tokens[role] = users.create_token(role.value, "tests")
    context = build_context(config, store, workers=2, max_wait=0.2, with_host=True,
                            factory=factory, notify=notify)
    listener = free_socket()
    app = create_app(context)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None,
                                           access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP
    while not server.started:
        assert thread.is_alive(), "uvicorn ended while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = listener.getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", context, tokens, app)
    finally:
        context.hub.close()
        server.should_exit = True
        thread.join(STARTUP)
        listener.close()
        store.close()


def read_events(lines: Iterator[str], until: str,
                timeout: float = 60.0) -> list[dict[str, Any]]:
    """Server-sent events from ``lines`` (``response.iter_lines()`` of a stream) up to and
    including the first of kind ``until``: each as ``{"event": kind, "data": JSON}``."""
    events: list[dict[str, Any]] = []
    kind: str | None = None
    data: list[str] = []
    deadline = time.monotonic() + timeout
    for line in lines:
        assert time.monotonic() < deadline, f"no '{until}' event in time: {events}"
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and kind is not None:
            events.append({"event": kind, "data": json.loads("\n".join(data))})
            if kind == until:
                return events
            kind, data = None, []
        elif line == "":
            kind, data = None, []
    raise AssertionError(f"the event stream ended before '{until}': {events}")


def wait_for(condition: Any, what: str, timeout: float = 60.0) -> Any:
    """Poll ``condition()`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def write_config(folder: Path, text: str) -> Path:
    path = folder / "syncline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def sign_in(client: httpx.Client, name: str, password: str,
            next_url: str = "/") -> httpx.Response:
    """Sign ``client`` in to the console as a browser does: the sign-in form (with its
    form token and cookie), then the POST; the answer to the POST."""
    form = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert form is not None, "the sign-in form has no form token"
    return client.post("/login", data={"name": name, "password": password,
                                       "next": next_url, "csrf": form.group(1)})


def serve_process(config: Path, environment: dict[str, str],
                  *options: str) -> tuple[subprocess.Popen[str], str]:
    """``syncline serve`` (with ``options``) as a process on a free port of 127.0.0.1, once
    it accepts connections: the process and the base URL."""
    from cli.helpers import PipeLines

    syncline = Path(sys.executable).with_name("syncline")
    process = subprocess.Popen([str(syncline), "serve", "--port", "0", "--tick", "0.5",
                                *options, "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment)
    assert process.stderr is not None
    log = PipeLines(process.stderr)
    deadline = time.monotonic() + STARTUP
    while not (found := re.search(r"API at (http://127\.0\.0\.1:\d+)/api", log.text())):
        assert process.poll() is None, log.text()
        assert time.monotonic() < deadline, "serve did not say where the API is"
        time.sleep(0.05)
    base = found.group(1)
    while True:  # the log line comes just before uvicorn accepts
        try:
            httpx.get(f"{base}/api/openapi.json", timeout=10)
            return process, base
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "serve did not accept connections"
            time.sleep(0.05)


def stop_process(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then (after a minute) SIGKILL."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(60)
