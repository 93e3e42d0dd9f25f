"""Two-way scenarios through the real engine: a CRM database (SQLite) kept in step with a
Radicale address book and calendar. What the server holds is checked with plain WebDAV
requests, not with the connector."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.radicale_server import DavEditor, RadicaleServer, radicale  # noqa: F401
from connectors.sql_support import sqlite_rows
from syncline.config import Config, load_config
from syncline.connectors.base import Connector
from syncline.connectors.dav import DavConnector
from syncline.engine import RunMode, RunOutcome, RunRequest, SyncEngine
from syncline.engine.sync import open_endpoint
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
email = "email_address", phone = "phone", city = "city" }}
[endpoints.crm.streams.event]
table = "appointments"
key = "appt_id"
fields = {{ uid = "uid", summary = "subject", start = "starts_at", end = "ends_at", \
location = "place" }}

[endpoints.addressbook]
connector = "carddav"
url = "{book}"
username = "alice"
password = "env:DAV_PASSWORD"

[endpoints.calendar]
connector = "caldav"
url = "{calendar}"
username = "alice"
password = "env:DAV_PASSWORD"
streams = ["event"]

[links.crm-addressbook]
a = "crm"
b = "addressbook"
streams = ["contact"]
match = {{ contact = ["email"] }}
conflict = "a-wins"
max_delete = "50%"

[links.crm-calendar]
a = "crm"
b = "calendar"
streams = ["event"]
match = {{ event = ["uid"] }}
max_delete = "50%"
"""

PEOPLE = [("Ada", "Lovelace", "London"), ("Alan", "Turing", "Manchester"),
          ("Grace", "Hopper", "Arlington"), ("Katherine", "Johnson", "Hampton"),
          ("Tim", "Berners-Lee", "Geneva"), ("Margaret", "Hamilton", "Boston")]


def card(uid: str, fields: dict[str, Any], extra: str) -> str:
    return ("BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Phone//Contacts//EN\r\n"
            f"UID:{uid}\r\nFN:{fields['name']}\r\n"
            f"N:{fields['last_name']};{fields['first_name']};;;\r\n"
            f"EMAIL;TYPE=INTERNET,HOME:{fields['email']}\r\n"
            f"TEL;TYPE=WORK,VOICE:{fields['phone']}\r\n{extra}END:VCARD\r\n")


def event(uid: str, fields: dict[str, Any], extra: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//Calendar//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240601T120000Z\r\n"
            f"DTSTART:{fields['start']}\r\nDTEND:{fields['end']}\r\n"
            f"SUMMARY:{fields['summary']}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


def person(n: int, **changes: str) -> dict[str, Any]:
    first, last, city = PEOPLE[n]
    return {"name": f"{first} {last}", "first_name": first, "last_name": last,
            "email": f"{first.lower()}@{last.lower()}.example", "phone": f"+44 20 7946 000{n}",
            "city": city, **changes}


@dataclass
class Setup:
    """A CRM database, an address book and a calendar, and the configuration linking them."""

    folder: Path
    config: Config
    radicale: RadicaleServer
    book: str
    calendar: str
    store: StateStore

    def crm(self, statement: str, *args: object) -> list[tuple[Any, ...]]:
        return sqlite_rows(self.folder / "crm.db", statement, *args)

    def sync(self, link: str, mode: RunMode = RunMode.INCREMENTAL,
             factory: Any = None, *, unreadable: int = 0) -> Any:
        """Run ``link``; it must succeed, except that ``unreadable`` items may be journalled
        as item errors (an engine that journals the connectors' read problems)."""
        summary = SyncEngine(self.config, self.store, factory).run(RunRequest(link, mode=mode))
        errors = sum(counts.errors for counts in summary.streams.values())
        assert summary.outcome in (RunOutcome.OK, RunOutcome.WARNING) or (
            summary.outcome is RunOutcome.ERROR and 0 < errors <= unreadable), \
            summary.messages
        return summary

    def items(self, collection: str) -> dict[str, str]:
        """Resource name -> text of every item, by PROPFIND and GET (not the connector)."""
        with self.radicale.client() as http:
            listing = http.request("PROPFIND", collection, headers={"Depth": "1"})
            assert listing.status_code == 207
            hrefs = re.findall(r"<href>([^<]+)</href>", listing.text)
            found = {}
            for href in hrefs:
                if href.endswith("/"):
                    continue
                answer = http.get(httpx.URL(collection).join(href))
                answer.raise_for_status()
                found[href.rsplit("/", 1)[1]] = answer.text.replace("\r\n ", "")
            return found


@pytest.fixture
def setup(radicale: RadicaleServer, tmp_path: Path,  # noqa: F811
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("DAV_PASSWORD", radicale.users["alice"])
    book, calendar = radicale.make_addressbook(), radicale.make_calendar()
    (tmp_path / "syncline.toml").write_text(CONFIG.format(book=book, calendar=calendar))
    db = sqlite3.connect(tmp_path / "crm.db")
    db.executescript("""
        CREATE TABLE people (person_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL,
                             first_name TEXT, last_name TEXT, email_address TEXT,
                             phone TEXT, city TEXT, notes TEXT);
        CREATE TABLE appointments (appt_id INTEGER PRIMARY KEY, uid TEXT, subject TEXT,
                                   starts_at TIMESTAMP, ends_at TIMESTAMP, place TEXT);
    """)
    db.close()
    config = load_config(tmp_path / "syncline.toml")
    crm = open_endpoint(config, "crm")
    crm.open()
    crm.setup(["contact", "event"])
    crm.close()
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield Setup(tmp_path, config, radicale, book, calendar, store)
    store.close()


def add_person(setup: Setup, n: int) -> None:
    fields = person(n)
    setup.crm("INSERT INTO people (full_name, first_name, last_name, email_address, phone, "
              "city, notes) VALUES (?, ?, ?, ?, ?, ?, 'CRM only')", fields["name"],
              fields["first_name"], fields["last_name"], fields["email"], fields["phone"],
              fields["city"])


def emails_on_server(texts: dict[str, str]) -> set[str]:
    return {match for text in texts.values()
            for match in re.findall(r"EMAIL[^:]*:(\S+)", text)}


class Counter:
    """Wraps the engine's connector factory: counts the requests the DAV connectors send
    (an httpx event hook on their real clients) as ``(endpoint, method, what)``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, name: str) -> Connector:
        connector = open_endpoint(self.config, name)
        if isinstance(connector, DavConnector):
            real_open = connector.open

            def open_and_count() -> None:
                real_open()
                connector.http.http.event_hooks["request"].append(
                    lambda request: self.hook(name, request))

            connector.open = open_and_count  # type: ignore[method-assign]
        return connector

    def hook(self, name: str, request: httpx.Request) -> None:
        what = request.url.path
        for kind in ("sync-collection", "addressbook-multiget", "calendar-multiget"):
            if f":{kind}".encode() in request.content:
                what = kind
        self.seen.append((name, request.method, what))


def test_crm_and_address_book_both_ways(setup: Setup) -> None:
    for n in range(3):
        add_person(setup, n)
    phone = DavEditor(setup.radicale, setup.book, ".vcf", card)
    photo = ("PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJ\r\n"
             "X-PHONETIC-LAST-NAME:HAM\r\n")
    theirs = phone.create(person(3))
    phone.put(theirs, card(phone._uid(theirs), person(3), photo))
    summary = setup.sync("crm-addressbook")
    assert summary.streams["contact"].to_json()["A"] == 4
    on_server = setup.items(setup.book)
    assert emails_on_server(on_server) == {person(n)["email"] for n in range(4)}
    assert setup.crm("SELECT full_name FROM people WHERE email_address = ?",
                     person(3)["email"]) == [(person(3)["name"],)]
    by_email = {person(n)["email"]: name for n in range(4) for name, text in on_server.items()
                if person(n)["email"] in text}

    # create on both sides, edit on both (a conflict: the CRM wins), delete on both sides
    add_person(setup, 4)
    added = phone.create(person(5))
    ada = by_email[person(0)["email"]]
    phone.put(ada, card(phone._uid(ada), person(0, phone="+44 7700 900001"),
                        "X-SYNCLINE-TEST:set on the phone\r\n"))
    setup.crm("UPDATE people SET phone = '+44 20 7000 0000' WHERE email_address = ?",
              person(0)["email"])
    setup.crm("DELETE FROM people WHERE email_address = ?", person(1)["email"])
    phone.delete(by_email[person(2)["email"]])
    counts = setup.sync("crm-addressbook").streams["contact"].to_json()
    assert (counts["A"], counts["M"], counts["D"], counts["conflicts"]) == (2, 1, 2, 1)

    on_server = setup.items(setup.book)
    assert emails_on_server(on_server) == {person(n)["email"] for n in (0, 3, 4, 5)}
    assert added in on_server
    ada_text = on_server[ada]
    assert "+44 20 7000 0000" in ada_text and "+44 7700 900001" not in ada_text
    assert "X-SYNCLINE-TEST:set on the phone" in ada_text  # unmapped: kept through the conflict
    assert "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJ" in \
        on_server[theirs]
    assert "X-PHONETIC-LAST-NAME:HAM" in on_server[theirs]
    assert sorted(row[0] for row in setup.crm("SELECT email_address FROM people")) == \
        sorted(person(n)["email"] for n in (0, 3, 4, 5))

    # nothing changed: one sync-collection REPORT for the address book, no fetching
    counter = Counter(setup.config)
    quiet = setup.sync("crm-addressbook", factory=counter)
    assert sum(quiet.streams["contact"].to_json().values()) == 0
    reports = [(method, what) for name, method, what in counter.seen if method != "PROPFIND"]
    assert reports == [("REPORT", "sync-collection")]

    # forced full sync: nothing to do, and the server still holds exactly the same
    full = setup.sync("crm-addressbook", RunMode.FULL)
    assert sum(full.streams["contact"].to_json().values()) == 0
    assert setup.items(setup.book) == on_server
    phone.close()


def test_expired_token_turns_into_a_full_read(setup: Setup) -> None:
    for n in range(3):
        add_person(setup, n)
    setup.sync("crm-addressbook")
    scope = setup.store.scope_id("crm-addressbook", "contact")
    cursor = setup.store.cursor(scope, "b")
    assert cursor is not None and cursor.startswith("sync:")
    setup.store.set_cursor(scope, "b", cursor[:-8] + "00000000")  # corrupt the token
    phone = DavEditor(setup.radicale, setup.book, ".vcf", card)
    phone.create(person(4))
    summary = setup.sync("crm-addressbook")
    assert any("sync-token" in message and "no longer valid" in message
               and "reading everything instead" in message for message in summary.messages)
    assert summary.streams["contact"].to_json()["A"] == 1
    assert len(setup.crm("SELECT * FROM people")) == 4
    assert len(setup.items(setup.book)) == 4
    after = setup.store.cursor(scope, "b")
    assert after is not None and after != cursor  # a fresh token is stored
    assert sum(setup.sync("crm-addressbook").streams["contact"].to_json().values()) == 0
    phone.close()


def test_crm_and_calendar_both_ways(setup: Setup) -> None:
    setup.crm("INSERT INTO appointments (uid, subject, starts_at, ends_at, place) VALUES "
              "('review-1@crm.example', 'Account review', '2024-06-03 08:30:00', "
              "'2024-06-03 09:15:00', 'Fleet Street')")
    phone = DavEditor(setup.radicale, setup.calendar, ".ics", event)
    theirs = phone.create({"summary": "Dentist", "start": "20240605T140000Z",
                           "end": "20240605T143000Z"})
    alarm = ("BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Dentist\r\nTRIGGER:-PT30M\r\n"
             "END:VALARM\r\n")
    phone.put(theirs, event(phone._uid(theirs), {"summary": "Dentist",
                                                  "start": "20240605T140000Z",
                                                  "end": "20240605T143000Z"}, alarm))
    counts = setup.sync("crm-calendar").streams["event"].to_json()
    assert counts["A"] == 2
    rows = setup.crm("SELECT uid, subject, place FROM appointments ORDER BY subject")
    assert [row[1] for row in rows] == ["Account review", "Dentist"]
    on_server = setup.items(setup.calendar)
    review = next(name for name, text in on_server.items() if "review-1@crm.example" in text)
    assert "SUMMARY:Account review" in on_server[review]
    assert "DTSTART:20240603T083000Z" in on_server[review]

    # the phone moves the dentist; the CRM renames the review; then the CRM deletes it
    phone.put(theirs, event(phone._uid(theirs), {"summary": "Dentist (moved)",
                                                  "start": "20240606T140000Z",
                                                  "end": "20240606T143000Z"}, alarm))
    setup.crm("UPDATE appointments SET subject = 'Quarterly review' WHERE uid = ?",
              "review-1@crm.example")
    counts = setup.sync("crm-calendar").streams["event"].to_json()
    assert counts["M"] == 2
    assert "SUMMARY:Quarterly review" in setup.items(setup.calendar)[review]
    assert setup.crm("SELECT subject FROM appointments WHERE uid = ?",
                     phone._uid(theirs)) == [("Dentist (moved)",)]
    setup.crm("DELETE FROM appointments WHERE uid = ?", "review-1@crm.example")
    counts = setup.sync("crm-calendar").streams["event"].to_json()
    assert counts["D"] == 1
    on_server = setup.items(setup.calendar)
    assert list(on_server) == [theirs]
    assert "TRIGGER:-PT30M" in on_server[theirs]  # the phone's alarm is still there
    full = setup.sync("crm-calendar", RunMode.FULL)
    assert sum(full.streams["event"].to_json().values()) == 0
    counter = Counter(setup.config)
    quiet = setup.sync("crm-calendar", factory=counter)
    assert sum(quiet.streams["event"].to_json().values()) == 0
    assert [(method, what) for _, method, what in counter.seen if method != "PROPFIND"] \
        == [("REPORT", "sync-collection")]
    phone.close()


@pytest.mark.parametrize("mode", [RunMode.INCREMENTAL, RunMode.FULL])
def test_a_malformed_card_deletes_nothing(setup: Setup, mode: RunMode) -> None:
    """A card another client broke is an item problem: the run goes on, the broken card is
    reported with its URL, and neither an incremental nor a full sync takes it for a deleted
    one."""
    for n in range(4):
        add_person(setup, n)
    setup.sync("crm-addressbook")
    on_server = setup.items(setup.book)
    broken = next(name for name, text in on_server.items() if person(1)["email"] in text)
    phone = DavEditor(setup.radicale, setup.book, ".vcf", card)
    phone.put(broken, on_server[broken].replace(  # a nested card: Radicale takes it, we do not
        "END:VCARD", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Agent\r\nEND:VCARD\r\nEND:VCARD", 1))
    setup.crm("UPDATE people SET city = 'Swansea' WHERE email_address = ?", person(2)["email"])
    opened: list[Connector] = []

    def keep(name: str) -> Connector:
        connector = open_endpoint(setup.config, name)
        opened.append(connector)
        return connector

    summary = setup.sync("crm-addressbook", mode, factory=keep, unreadable=1)
    again = setup.sync("crm-addressbook", RunMode.FULL, unreadable=1)
    assert summary.streams["contact"].to_json()["D"] == 0
    assert again.streams["contact"].to_json()["D"] == 0
    assert len(setup.crm("SELECT * FROM people")) == 4
    assert len(setup.items(setup.book)) == 4
    (dav,) = [c for c in opened if isinstance(c, DavConnector)]
    reported: list[Any] = list(dav.take_item_errors("contact")) or [
        message for message in summary.messages if broken in message]  # taken by the engine
    assert len(reported) == 1 and f"{setup.book}{broken}" in str(reported[0])
    assert "inside an item" in str(reported[0])
    swansea = next(text for text in setup.items(setup.book).values()
                   if person(2)["email"] in text)
    assert "Swansea" in swansea
    phone.close()
