"""The world the browser tests drive: the posting world of :mod:`engine.rules_support` (an
order system and an accounting package, two SQLite databases) with many more customers,
conflicts held for review, and the service, the REST API and the web console served by
uvicorn on a free port of 127.0.0.1 in a thread.

Reading can be slowed (:class:`Pace`) so that a run lasts long enough to watch its progress:
each page a connector reads waits ``Pace.delay`` seconds first. Nothing else is faked.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn

from engine.rules_support import Line, Order, World, build_world
from syncline.api import build_context, create_app
from syncline.api.context import ApiContext
from syncline.config import load_config
from syncline.connectors.base import Connector, ReadScope
from syncline.engine.sync import open_endpoint
from syncline.model import Record
from syncline.state.users_store import Role, UsersStore

LINK = "crm-books"
PASSWORD = "correct horse battery staple"
USERS = {"vera": Role.VIEWER, "otto": Role.OPERATOR, "ada": Role.ADMIN}
EXTRA_CUSTOMERS = 1200
"""Customers added to the order system so that the first run reads several pages."""

D = Decimal
ORDERS = [
    Order("INV-1001", 1, [Line("WIDGET-01", D(4)), Line("CONSULT-HR", D("2.5"))]),
    Order("INV-1002", 2, [Line("GADGET-02", D(1))]),
    Order("INV-1003", 3, [Line("CONSULT-HR", D(1))]),
    Order("INV-1004", 1, [Line("SUPPORT-HR", D(2))]),
    Order("INV-1005", 2, [Line("WIDGET-01", D(10))]),
    Order("INV-1006", 3, [Line("WIDGET-01", D(3))], total_offset=D("-0.01")),
]
"""Two of them (INV-1001, INV-1003) are blocked: no ledger account for CONSULT-HR; one
(INV-1006) goes with a warning: its total is a cent off, a rounding line is added."""


class Pace:
    """How long each page read waits (seconds); 0 by default."""

    delay = 0.0


class PacedConnector:
    """A real connector whose page reads (of records or of columns) wait :attr:`Pace.delay`
    first."""

    def __init__(self, inner: Connector) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        yield from _paced(self._inner.read_all(stream, scope))

    def read_all_columnar(self, stream: str, scope: ReadScope) -> Iterator[Any]:
        yield from _paced(self._inner.read_all_columnar(stream, scope))


def _paced(pages: Iterator[Any]) -> Iterator[Any]:
    for page in pages:
        if Pace.delay:
            time.sleep(Pace.delay)
        yield page


@dataclass
class Served:
    """A running console: its base URL, the world behind it and its context."""

    url: str
    world: World
    context: ApiContext

    def wait_idle(self, timeout: float = 60.0) -> None:
        assert self.context.service.wait_idle(timeout), "the service did not become idle"

    def query(self, database: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        path = self.world.crm if database == "crm" else self.world.books
        return self.world.query(path, sql, *args)


class Mailbox:
    """An SMTP server on 127.0.0.1 (aiosmtpd) keeping the messages it receives."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.messages: list[tuple[list[str], str]] = []
        self._controller: Any = None

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        content = envelope.content
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        self.messages.append((list(envelope.rcpt_tos), text))
        return "250 OK"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()


def build(folder: Path, mailbox: Mailbox) -> World:
    """The world: posting rules, conflicts held for review, small read pages, and the mail
    server of ``mailbox``."""
    world = build_world(folder, orders=ORDERS)
    path = folder / "syncline.toml"
    text = f"""\
[notify.smtp]
host = "127.0.0.1"
port = {mailbox.port}
sender = "syncline@books.example"
timeout = 10

""" + path.read_text(encoding="utf-8").replace(
        'url = "sqlite:///crm.db"\n', 'url = "sqlite:///crm.db"\npage_size = 100\n').replace(
        'max_delete = "25%"\n',
        'max_delete = "25%"\nconflict = "manual"\nbatch_size = 100\nschedule = "every 30m"\n')
    path.write_text(text, encoding="utf-8")
    world.config = load_config(path)
    with closing(sqlite3.connect(world.crm)) as db:
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, 'trade')", [
            (5000 + number, f"Trade customer {number:04d}", f"buyer{number:04d}@trade.example")
            for number in range(EXTRA_CUSTOMERS)])
        db.commit()
    users = UsersStore(world.store)
    for name, role in USERS.items():
        users.add_user(name, role, PASSWORD, created_by="test")
    return world


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(world: World) -> Iterator[Served]:
    """Serve the console over ``world`` until the generator is closed."""
    config = world.config

    def factory(name: str) -> Connector:
        return PacedConnector(open_endpoint(config, name))  # type: ignore[return-value]

    context = build_context(config, world.store, workers=2, max_wait=0.5,
                            factory=factory, notify=False)
    app = create_app(context)  # with the console: create_app calls mount_web
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", world, context)
    finally:
        context.hub.close()
        server.should_exit = True
        thread.join(30)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)
