"""Ctrl-C during an upload to a slow CardDAV server: a real ``syncline sync`` process,
a real Radicale behind a proxy that makes each PUT slow, and a CRM table on SQLite,
PostgreSQL and MariaDB.

The first SIGINT prints "stopping…" at once and the process exits 130 within two seconds,
with what it wrote settled (mappings = cards on the server, no intent left); a second
SIGINT ends it at once. Either way the next sync leaves exactly one card per person. While
it uploads, the plain progress lines count the records written, and an API served on the
same state store shows its progress (server-sent events and the link's status).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.support import read_events, serve_api
from connectors.radicale_server import USERS, FaultyProxy, RadicaleServer, radicale  # noqa: F401
from syncline.config import load_config
from syncline.state.users_store import Role

SYNCLINE = str(Path(sys.executable).with_name("syncline"))
PEOPLE = 60
PUT_DELAY = 0.3

CONFIG = """\
[state]
url = "sqlite:///{state}"

[endpoints.crm]
connector = "sql"
url = "{crm}"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = {{ name = "full_name", email = "email_address" }}

[endpoints.addressbook]
connector = "carddav"
url = "{book}"
username = "alice"
password = "env:DAV_PASSWORD"

[links.crm-book]
a = "crm"
b = "addressbook"
streams = ["contact"]
match = {{ contact = ["email"] }}
schedule = "manual"
"""

WRITTEN = re.compile(r"contact: (\d+)/(\d+) written")


@dataclass
class Sync:
    """A ``syncline sync`` process whose stderr lines are collected with the moment each
    arrived."""

    process: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, pattern: re.Pattern[str], count: int = 1,
                 timeout: float = 30.0) -> list[tuple[float, re.Match[str]]]:
        """The first ``count`` stderr lines matching ``pattern`` (fails after ``timeout``
        seconds, or when the process ends first)."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            found = [(at, match) for at, line in list(self.lines)
                     if (match := pattern.search(line)) is not None]
            if len(found) >= count:
                return found[:count]
            if self.process.poll() is not None and len(found) < count:
                time.sleep(0.2)  # the last lines may still be on their way
                if len([1 for _, line in self.lines if pattern.search(line)]) < count:
                    raise AssertionError(f"sync ended before {pattern.pattern!r}: "
                                         f"{self.text()}")
            time.sleep(0.01)
        raise AssertionError(f"no {pattern.pattern!r} within {timeout} s: {self.text()}")

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


@dataclass
class Setup:
    folder: Path
    server: RadicaleServer
    book: str
    proxy: FaultyProxy

    def command(self, *args: str) -> list[str]:
        return [SYNCLINE, "--config", str(self.folder / "syncline.toml"), *args]

    def env(self) -> dict[str, str]:
        return {**os.environ, "DAV_PASSWORD": USERS["alice"], "COLUMNS": "200"}

    def start(self) -> Sync:
        return Sync(subprocess.Popen(self.command("sync", "crm-book"), text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=self.env()))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), capture_output=True, text=True,
                              env=self.env(), timeout=300, check=False)

    def state(self, query: str) -> list[tuple[object, ...]]:
        connection = sqlite3.connect(self.folder / "state.db", timeout=30)
        try:
            return connection.execute(query).fetchall()
        finally:
            connection.close()

    def cards(self) -> list[str]:
        """The e-mail address of every card in the address book (asked of the server
        itself, not through the proxy or the connector)."""
        with self.server.client() as client:
            answer = client.request("PROPFIND", self.book, headers={"Depth": "1"})
            assert answer.status_code == 207, answer.text
            hrefs = [element.text or "" for element in ET.fromstring(answer.content).iter(
                "{DAV:}href") if (element.text or "").endswith(".vcf")]
            emails = []
            for href in hrefs:
                text = client.get(self.server.url.rstrip("/") + href).text
                emails += [line.split(":", 1)[1].strip() for line in text.splitlines()
                           if line.upper().startswith("EMAIL")]
        return emails


def _people_table(url: str) -> None:
    engine = sa.create_engine(url)
    key = {"sqlite": "INTEGER PRIMARY KEY", "postgresql": "SERIAL PRIMARY KEY",
           "mysql": "INT AUTO_INCREMENT PRIMARY KEY"}[engine.dialect.name]
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE people (person_id {key}, "
                                   f"full_name VARCHAR(200) NOT NULL, "
                                   f"email_address VARCHAR(200))"))
        connection.execute(sa.text("INSERT INTO people (full_name, email_address) "
                                   "VALUES (:name, :email)"),
                           [{"name": f"Person {n}", "email": f"person.{n}@example.com"}
                            for n in range(1, PEOPLE + 1)])
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def setup(request: pytest.FixtureRequest, tmp_path: Path,
          radicale: RadicaleServer) -> Iterator[Setup]:  # noqa: F811 - the fixture
    if request.param == "sqlite":
        crm = f"sqlite:///{tmp_path / 'crm.db'}"
    else:
        crm = request.getfixturevalue(f"{request.param}_url")
    _people_table(crm)
    book = radicale.make_addressbook()
    with FaultyProxy(radicale.url) as proxy:
        (tmp_path / "syncline.toml").write_text(CONFIG.format(
            state=tmp_path / "state.db", crm=crm, book=proxy.via(book)))
        found = Setup(tmp_path, radicale, book, proxy)
        result = found.run("setup", "crm-book")
        assert result.returncode == 0, result.stdout + result.stderr
        proxy.put_delay = PUT_DELAY
        yield found


def _uploading(setup: Setup) -> Sync:
    """A sync that is uploading (two progress lines counted records written, rising)."""
    sync = setup.start()
    (_, first), (_, second) = sync.wait_for(WRITTEN, count=2)
    assert 0 < int(first[1]) < int(second[1]) < PEOPLE, sync.text()
    assert int(second[2]) == PEOPLE, sync.text()
    return sync


def _resumes_exactly(setup: Setup) -> None:
    """A second sync (a fast server now) leaves exactly one card per person."""
    setup.proxy.put_delay = 0.0
    result = setup.run("sync", "crm-book")
    assert result.returncode == 0, result.stdout + result.stderr
    emails = setup.cards()
    assert sorted(emails) == sorted(f"person.{n}@example.com" for n in range(1, PEOPLE + 1))
    assert setup.state("SELECT count(*) FROM mappings") == [(PEOPLE,)]
    assert setup.state("SELECT count(*) FROM intents") == [(0,)]


def test_ctrl_c_stops_within_two_seconds_and_the_next_run_resumes(setup: Setup) -> None:
    sync = _uploading(setup)
    sent = time.monotonic()
    os.kill(sync.process.pid, signal.SIGINT)
    [(told, _)] = sync.wait_for(re.compile("stopping…"), timeout=5)
    assert told - sent < 0.5, sync.text()
    code = sync.process.wait(timeout=10)
    ended = time.monotonic()
    assert code == 130, sync.text()
    assert ended - sent < 2.0, f"{ended - sent:.2f} s: {sync.text()}"
    assert "stopping at once" not in sync.text()
    assert "interrupted (Ctrl-C)" in sync.text()
    written = setup.cards()
    assert 0 < len(written) < PEOPLE
    # what was written is settled: one mapping per card, no intent left
    assert setup.state("SELECT count(*) FROM intents") == [(0,)]
    assert setup.state("SELECT count(*) FROM mappings") == [(len(written),)]
    assert setup.state("SELECT outcome, message FROM runs ORDER BY id DESC LIMIT 1")[0][0] \
        == "failed"
    assert setup.state("SELECT count(*) FROM journal WHERE outcome = 'ok'") \
        == [(len(written),)]
    _resumes_exactly(setup)


def test_a_second_ctrl_c_stops_at_once(setup: Setup) -> None:
    sync = _uploading(setup)
    sent = time.monotonic()
    os.kill(sync.process.pid, signal.SIGINT)
    sync.wait_for(re.compile("stopping…"), timeout=5)
    os.kill(sync.process.pid, signal.SIGINT)
    code = sync.process.wait(timeout=10)
    assert code == 130, sync.text()
    assert time.monotonic() - sent < 1.0, sync.text()
    sync.wait_for(re.compile("stopping at once"), timeout=5)
    _resumes_exactly(setup)


@pytest.mark.parametrize("setup", ["sqlite"], indirect=True)
def test_a_cli_run_shows_its_progress_in_a_served_api(
        setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAV_PASSWORD", USERS["alice"])
    config = load_config(setup.folder / "syncline.toml")
    with serve_api(config) as api:
        viewer = api.client(Role.VIEWER)
        with viewer.stream("GET", "/api/links/crm-book/events") as stream:
            lines = stream.iter_lines()
            assert read_events(lines, "snapshot")[0]["data"] == {"crm-book": None}
            sync = setup.start()
            events = read_events(lines, "run_started")
            started = events[-1]["data"]
            assert started["process"] == "other" and started["mode"] == "incremental"
            while True:  # written counts rise, as the CLI run records them (about 1/s)
                events += read_events(lines, "progress")
                last = events[-1]["data"]
                if last["stream"] == "contact" and last["written"] >= 3:
                    break
            assert 0 < last["written"] < last["to_write"] == PEOPLE
            status = viewer.get("/api/links/crm-book").json()
            progress = status["progress"]
            assert progress["process"] == "other"
            assert progress["streams"]["contact"]["written"] >= last["written"]
            os.kill(sync.process.pid, signal.SIGINT)
            assert sync.process.wait(timeout=10) == 130
            finished = read_events(lines, "run_finished")[-1]["data"]
        assert finished["outcome"] == "failed" and "interrupted" in finished["error"]
        assert viewer.get("/api/links/crm-book").json()["progress"] is None
