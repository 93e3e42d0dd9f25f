"""A CRM database (SQLite) kept in step with a Radicale address book reached through a
fault-injecting proxy (``connectors.fault_proxy``): single faults of every kind are
retried, answers lost after the server committed are read back instead of becoming
conflicts or rewrites, a fault rate is survived, a spent retry budget names the real cause,
and a stop request cuts a retry wait short. After the faults stop, one more sync journals
nothing and both sides hold the same people, none twice. Backoffs are short (the endpoint's
``retries`` settings) and everything runs on 127.0.0.1."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.fault_proxy import FAULTS, FaultyProxy
from connectors.radicale_server import DavEditor, RadicaleServer, radicale  # noqa: F401
from connectors.sql_support import sqlite_rows
from syncline.config import Config, load_config
from syncline.connectors.dav.client import DavClient
from syncline.engine import RunMode, RunOutcome, RunRequest, SyncEngine
from syncline.engine.sync import open_endpoint
from syncline.errors import EndpointUnavailable, RunCancelled
from syncline.run_context import RunContext
from syncline.state.store import StateStore

CONFIG = """\
[state]
url = "sqlite:///state.db"

[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = {{ name = "full_name", first_name = "first_name", last_name = "last_name", \
email = "email_address", city = "city" }}

[endpoints.addressbook]
connector = "carddav"
url = "{book}"
username = "alice"
password = "env:DAV_PASSWORD"
timeout = 1
retries = {{ retries = {retries}, max_wait = 20, backoff = 0.01, max_backoff = 0.1, \
attempts = {attempts} }}

[links.crm-addressbook]
a = "crm"
b = "addressbook"
streams = ["contact"]
match = {{ contact = ["email"] }}
conflict = "a-wins"
max_delete = "100%"
"""


def card(uid: str, fields: dict[str, Any], extra: str) -> str:
    return ("BEGIN:VCARD\r\nVERSION:3.0\r\n"
            f"UID:{uid}\r\nFN:{fields['name']}\r\n"
            f"N:{fields['last_name']};{fields['first_name']};;;\r\n"
            f"EMAIL;TYPE=INTERNET:{fields['email']}\r\nADR;TYPE=WORK:;;;{fields['city']};;;\r\n"
            f"{extra}END:VCARD\r\n")


def person(n: int, city: str = "Leeds") -> dict[str, Any]:
    return {"name": f"Person {n}", "first_name": "Person", "last_name": str(n),
            "email": f"p{n}@example.org", "city": city}


@dataclass
class Setup:
    folder: Path
    config: Config
    radicale: RadicaleServer
    book: str
    proxy: FaultyProxy
    store: StateStore

    def crm(self, statement: str, *args: object) -> list[tuple[Any, ...]]:
        return sqlite_rows(self.folder / "crm.db", statement, *args)

    def add(self, n: int, city: str = "Leeds") -> None:
        fields = person(n, city)
        self.crm("INSERT INTO people (full_name, first_name, last_name, email_address, city) "
                 "VALUES (?, ?, ?, ?, ?)", fields["name"], fields["first_name"],
                 fields["last_name"], fields["email"], fields["city"])

    def sync(self, mode: RunMode = RunMode.INCREMENTAL) -> Any:
        return SyncEngine(self.config, self.store).run(RunRequest("crm-addressbook", mode=mode))

    def server_people(self) -> list[tuple[str, str]]:
        """(e-mail, city) of every card on the server (plain WebDAV, not the connector)."""
        found = []
        with self.radicale.client() as http:
            listing = http.request("PROPFIND", self.book, headers={"Depth": "1"})
            for href in re.findall(r"<href>([^<]+)</href>", listing.text):
                if href.endswith("/"):
                    continue
                text = http.get(httpx.URL(self.book).join(href)).text.replace("\r\n ", "")
                email = re.search(r"EMAIL[^:]*:(\S+)", text)
                city = re.search(r"ADR[^:]*:;;;([^;]*);", text)
                found.append((email[1] if email else "", city[1] if city else ""))
        return sorted(found)

    def crm_people(self) -> list[tuple[str, str]]:
        return sorted((str(e), str(c)) for e, c in
                      self.crm("SELECT email_address, city FROM people"))

    def assert_settled(self) -> None:
        """With the faults stopped, one more sync journals nothing, and both sides hold
        the same people, none twice."""
        self.proxy.calm()
        summary = self.sync()
        assert summary.outcome is RunOutcome.OK, summary.messages
        counts = summary.streams["contact"].to_json() if summary.streams else {}
        assert all(value == 0 for value in counts.values()), counts
        assert self.store.journal("crm-addressbook", run_id=summary.run_id) == []
        on_server = self.server_people()
        assert on_server == self.crm_people()
        assert len({email for email, _ in on_server}) == len(on_server)


def _make(server: RadicaleServer, folder: Path, proxy: FaultyProxy, *,
          retries: int = 200, attempts: int = 12) -> Setup:
    book = server.make_addressbook()
    (folder / "syncline.toml").write_text(CONFIG.format(book=proxy.via(book), retries=retries,
                                                        attempts=attempts))
    db = sqlite3.connect(folder / "crm.db")
    db.executescript("CREATE TABLE people (person_id INTEGER PRIMARY KEY, full_name TEXT, "
                     "first_name TEXT, last_name TEXT, email_address TEXT, city TEXT);")
    db.close()
    config = load_config(folder / "syncline.toml")
    crm = open_endpoint(config, "crm")
    crm.open()
    crm.setup(["contact"])
    crm.close()
    store = StateStore.open(f"sqlite:///{folder / 'state.db'}")
    return Setup(folder, config, server, book, proxy, store)


@pytest.fixture
def setup(radicale: RadicaleServer, tmp_path: Path,  # noqa: F811
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("DAV_PASSWORD", radicale.users["alice"])
    with FaultyProxy(radicale.url) as proxy:
        proxy.retry_after, proxy.stall = 0.2, 1.3
        made = _make(radicale, tmp_path, proxy)
        yield made
        made.store.close()


def _writes(method: str, path: str) -> bool:
    return method in ("PUT", "DELETE")


@pytest.mark.parametrize("fault", FAULTS)
def test_one_fault_of_each_kind_is_retried(setup: Setup, fault: str) -> None:
    for n in range(3):
        setup.add(n)
    assert setup.sync().outcome is RunOutcome.OK
    setup.crm("UPDATE people SET city = 'York' WHERE email_address = 'p0@example.org'")
    setup.crm("DELETE FROM people WHERE email_address = 'p1@example.org'")
    setup.add(3)
    setup.proxy.inject(fault)  # the next request, whatever it is (the first read)
    setup.proxy.inject(fault, when=_writes)  # and the first write
    summary = setup.sync()
    assert summary.outcome is RunOutcome.OK, summary.messages
    assert [f for f, *_ in setup.proxy.faulted] == [fault, fault]
    assert summary.streams["contact"].to_json()["conflicts"] == 0
    setup.assert_settled()


@pytest.mark.parametrize("fault", ["500-after", "drop-after", "stall"])
def test_writes_whose_answer_was_lost_are_read_back(setup: Setup, fault: str) -> None:
    """Every create, update and delete is applied by the server and its answer lost; the
    repeat finds its precondition false (412) or the item gone (404), the item is read
    back, and the write counts as done: no error, no conflict, nothing written twice."""
    for n in range(4):
        setup.add(n)
    setup.proxy.inject(*[fault] * 4, when=lambda method, path: method == "PUT")
    summary = setup.sync()
    assert summary.outcome is RunOutcome.OK, summary.messages
    assert summary.streams["contact"].to_json()["A"] == 4
    assert len(setup.proxy.faulted) == 4
    setup.crm("UPDATE people SET city = 'York' WHERE email_address IN "
              "('p0@example.org', 'p1@example.org')")
    setup.crm("DELETE FROM people WHERE email_address = 'p2@example.org'")
    setup.proxy.inject(*[fault] * 3, when=_writes)
    summary = setup.sync()
    assert summary.outcome is RunOutcome.OK, summary.messages
    assert summary.streams["contact"].to_json() | {"skipped": 0} == {
        "A": 0, "M": 2, "D": 1, "R": 0, "errors": 0, "warnings": 0, "conflicts": 0,
        "skipped": 0}
    assert len(setup.proxy.faulted) == 7
    setup.assert_settled()


def test_a_fault_rate_is_survived_and_the_end_is_exact(setup: Setup) -> None:
    phone = DavEditor(setup.radicale, setup.book, ".vcf", card)
    for n in range(6):
        setup.add(n)
    setup.proxy.chaos(0.15, seed=14)
    outcomes = []
    for round_ in range(5):
        setup.add(10 + round_)
        setup.crm("UPDATE people SET city = ? WHERE person_id = ?", f"City {round_}",
                  round_ + 1)
        if round_ == 2:
            phone.create(person(30, "Hull"))
        outcomes.append(setup.sync().outcome)
    assert outcomes.count(RunOutcome.OK) == len(outcomes), outcomes
    assert len(setup.proxy.faulted) >= 5
    phone.close()
    setup.assert_settled()


def test_a_spent_budget_names_the_real_cause(radicale: RadicaleServer,  # noqa: F811
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAV_PASSWORD", radicale.users["alice"])
    with FaultyProxy(radicale.url) as proxy:
        proxy.retry_after = 0.05
        setup = _make(radicale, tmp_path, proxy, retries=3)
        setup.add(0)
        proxy.inject(*["429"] * 10)
        with pytest.raises(EndpointUnavailable) as raised:
            setup.sync()
        message = str(raised.value)
        assert "kept asking us to slow down (429 Too Many Requests)" in message, message
        assert "retry budget (3 retries" in message, message
        assert "credentials" not in message
        proxy.calm()
        proxy.inject(*["500"] * 10)
        with pytest.raises(EndpointUnavailable) as raised:
            setup.sync()  # a new run: a new budget, spent again
        assert "the server failed (500 Internal Server Error)" in str(raised.value)
        assert "credentials" not in str(raised.value)
        proxy.calm()
        assert setup.sync().streams["contact"].to_json()["A"] == 1  # the change went nowhere
        setup.assert_settled()
        setup.store.close()


def test_a_stop_request_cuts_a_retry_wait_short(radicale: RadicaleServer) -> None:  # noqa: F811
    with FaultyProxy(radicale.url) as proxy:
        proxy.retry_after = 30.0
        context = RunContext()
        client = DavClient("addressbook", username="alice",
                           password=radicale.users["alice"], context=lambda: context)
        proxy.inject("503")
        threading.Timer(0.3, lambda: context.stop.request("Ctrl-C")).start()
        started = time.monotonic()
        with pytest.raises(RunCancelled, match="Ctrl-C"):
            client.propfind(proxy.url + "alice/", ["{DAV:}displayname"], 0)
        assert time.monotonic() - started < 3
        assert len(proxy.requests) == 1  # no retry once the stop was asked
        client.close()


def test_a_lost_answer_is_read_back_when_no_retry_is_left(
        radicale: RadicaleServer, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One try per request: a write applied and answered 500 is not repeated; the item is
    read back at once, and the write counts as done (no error, nothing written twice)."""
    monkeypatch.setenv("DAV_PASSWORD", radicale.users["alice"])
    with FaultyProxy(radicale.url) as proxy:
        setup = _make(radicale, tmp_path, proxy, attempts=1)
        for n in range(3):
            setup.add(n)
        proxy.inject("500-after", "drop-after", when=_writes)
        summary = setup.sync()
        assert summary.outcome is RunOutcome.OK, summary.messages
        assert summary.streams["contact"].to_json()["A"] == 3
        setup.crm("UPDATE people SET city = 'York' WHERE email_address = 'p0@example.org'")
        proxy.inject("500-after", when=_writes)
        summary = setup.sync()
        assert summary.outcome is RunOutcome.OK, summary.messages
        assert summary.streams["contact"].to_json()["M"] == 1
        assert [method for _, method, _ in proxy.faulted] == ["PUT", "PUT", "PUT"]
        setup.assert_settled()
        setup.store.close()
