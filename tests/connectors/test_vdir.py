"""The ``vdir`` connector: the shared contract (contacts in .vcf files, events in .ics files),
what is particular to a folder of files, and a memory <-> vdir link synced by the engine."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syncline.config import parse_config
from syncline.connectors import connector_class
from syncline.connectors.base import Connector, ReadScope, WriteBatch, WriteKind, WriteOperation
from syncline.connectors.memory import shared_store
from syncline.connectors.vdir import VdirConnector, writing
from syncline.engine import RunMode, RunOutcome, RunRequest, SyncEngine
from syncline.errors import (
    ConfigError,
    EndpointUnavailable,
    ItemError,
    MalformedRecord,
    ProtocolError,
    VersionConflict,
)
from syncline.state.store import StateStore
from syncline.testing import ConnectorContract, FieldMaker, OutsideEditor

PEOPLE = [("Margaret", "Hughes"), ("Oliver", "Bennett"), ("Priya", "Sharma"),
          ("Tomasz", "Nowak"), ("Aoife", "Byrne"), ("Kwame", "Mensah"), ("Lucía", "Fernández"),
          ("Hannah", "Schmidt"), ("Dmitri", "Volkov"), ("Sophie", "Laurent")]
CITIES = ["London", "Manchester", "Leeds", "Bristol", "Glasgow", "Cardiff", "Belfast"]
LONDON = ZoneInfo("Europe/London")


def person(n: int) -> dict[str, Any]:
    first, last = PEOPLE[n % len(PEOPLE)]
    return {"name": f"{first} {last}", "first_name": first, "last_name": last,
            "email": f"{first.lower()}.{last.lower()}{n}@hughes-partners.co.uk",
            "phone": f"+44 20 7946 {n:04d}", "city": CITIES[n % len(CITIES)]}


def meeting(n: int) -> dict[str, Any]:
    start = datetime(2024, 6, 3, 9, 30, tzinfo=LONDON) + timedelta(days=n, hours=n % 5)
    return {"summary": f"Account review {n} with {' '.join(PEOPLE[n % len(PEOPLE)])}",
            "start": start, "end": start + timedelta(minutes=45), "all_day": False,
            "timezone": "Europe/London", "location": f"{n} Fleet Street, London"}


def person_card(uid: str, name: str) -> str:
    first, _, last = name.partition(" ")
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{last};{first};;;\r\n"
            "END:VCARD\r\n")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")


class FolderEditor:
    """Edits the folder as another application (khard, a file manager) would: plain file
    writes, text it makes itself."""

    def __init__(self, folder: Path, fileext: str) -> None:
        self.folder = folder
        self.fileext = fileext

    def path(self, key: str) -> Path:
        return self.folder / f"{key}{self.fileext}"

    def text(self, uid: str, fields: dict[str, Any], extra: str = "") -> str:
        if self.fileext == ".vcf":
            return ("BEGIN:VCARD\r\nVERSION:3.0\r\n"
                    f"UID:{uid}\r\nFN:{_escape(fields['name'])}\r\n"
                    f"N:{_escape(fields['last_name'])};{_escape(fields['first_name'])};;;\r\n"
                    f"EMAIL;TYPE=INTERNET,WORK:{fields['email']}\r\n"
                    f"TEL;TYPE=WORK,VOICE:{fields['phone']}\r\n"
                    f"ADR;TYPE=WORK:;;;{_escape(fields['city'])};;;United Kingdom\r\n"
                    f"{extra}END:VCARD\r\n")
        start = fields["start"].astimezone(LONDON).strftime("%Y%m%dT%H%M%S")
        end = fields["end"].astimezone(LONDON).strftime("%Y%m%dT%H%M%S")
        return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Folder editor//EN\r\n"
                f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240601T120000Z\r\n"
                f"DTSTART;TZID=Europe/London:{start}\r\nDTEND;TZID=Europe/London:{end}\r\n"
                f"SUMMARY:{_escape(fields['summary'])}\r\n"
                f"LOCATION:{_escape(fields['location'])}\r\n"
                f"{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")

    def create(self, fields: dict[str, Any]) -> str:
        uid = str(uuid.uuid4()).upper()
        self.path(uid).write_text(self.text(uid, fields), encoding="utf-8")
        return uid

    def update(self, key: str, fields: dict[str, Any]) -> None:
        extra = "".join(line + "\r\n" for line in self.path(key).read_text().splitlines()
                        if line.startswith("X-"))
        self.path(key).write_text(self.text(key, fields, extra), encoding="utf-8")

    def delete(self, key: str) -> None:
        self.path(key).unlink()

    def set_unmapped(self, key: str, value: str) -> None:
        text = self.path(key).read_text(encoding="utf-8")
        end = "END:VCARD" if self.fileext == ".vcf" else "END:VEVENT"
        self.path(key).write_text(text.replace(end, f"X-SYNCLINE-TEST:{value}\r\n{end}"),
                                  encoding="utf-8")

    def get_unmapped(self, key: str) -> str | None:
        for line in self.path(key).read_text(encoding="utf-8").splitlines():
            if line.startswith("X-SYNCLINE-TEST:"):
                return line.partition(":")[2].replace("\\,", ",")
        return None


class VdirContract(ConnectorContract):
    fileext = ".vcf"
    page_size = 5
    checks_versions = True
    reports_short_lived_deletions = False  # a folder keeps no trace of such a file

    @contextlib.contextmanager
    def racing(self, connector: Connector, action: Callable[[str], None]) -> Iterator[bool]:
        """Run ``action(key)`` between the connector's check of a file's version and its
        write of that file (another program saving the file at that moment)."""
        real = writing._apply

        def racing_apply(connector: VdirConnector, folder: str, stream: str,
                         operation: WriteOperation, key: str, *rest: Any) -> Any:
            action(key)
            return real(connector, folder, stream, operation, key, *rest)

        writing._apply = racing_apply  # type: ignore[assignment]
        try:
            yield True
        finally:
            writing._apply = real

    def expire_cursor(self, connector: Connector, cursor: str) -> str | None:
        """The cursor's snapshot leaves the state folder after this many newer ones."""
        assert isinstance(connector, VdirConnector)
        for _ in range(connector.state.keep_snapshots):
            connector.current_cursor(self.stream)
        return cursor

    def put_malformed(self, outside: OutsideEditor) -> tuple[str, str] | None:
        assert isinstance(outside, FolderEditor)
        outside.path("broken").write_text(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN Missing colon\r\nEND:VCARD\r\n"
            if self.fileext == ".vcf" else
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:broken\r\n"
            "DTSTART:20240601T090000Z\r\nPRIORITY:high\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            encoding="utf-8")
        return "broken", "line 3" if self.fileext == ".vcf" else "PRIORITY"

    @pytest.fixture
    def connector(self, tmp_path: Path) -> Iterator[VdirConnector]:
        connector = VdirConnector("folder", {"path": "items", "fileext": self.fileext,
                                             "streams": [self.stream],
                                             "page_size": self.page_size}, tmp_path)
        connector.open()
        yield connector
        connector.close()
        assert connector.item_errors == []

    @pytest.fixture
    def outside(self, connector: VdirConnector) -> FolderEditor:
        return FolderEditor(connector.folder, self.fileext)


class TestVdirContact(VdirContract):
    stream = "contact"

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        return person


class TestVdirEvent(VdirContract):
    stream = "event"
    fileext = ".ics"

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        return meeting


# -- particular to a folder -----------------------------------------------------------------------
@pytest.fixture
def contacts(tmp_path: Path) -> Iterator[VdirConnector]:
    connector = VdirConnector("folder", {"path": "contacts"}, tmp_path)
    connector.open()
    yield connector
    connector.close()


def op(kind: WriteKind, key: str | None = None, fields: dict[str, Any] | None = None,
       expected: str | None = None) -> WriteOperation:
    return WriteOperation(uuid.uuid4().hex, kind, key, fields, expected)


def write(connector: VdirConnector, *operations: WriteOperation) -> list[Any]:
    return connector.write(WriteBatch(uuid.uuid4().hex, connector.stream_name,
                                      list(operations)))


def test_registered_and_defaults(tmp_path: Path) -> None:
    assert connector_class("vdir") is VdirConnector
    connector = VdirConnector("folder", {"path": "contacts", "fileext": ".vcf"}, tmp_path)
    assert connector.folder == tmp_path / "contacts"
    assert list(connector.streams()) == ["contact"]
    assert "email" in connector.field_names("contact")
    events = VdirConnector("cal", {"path": "/abs/calendar", "fileext": ".ics"}, tmp_path)
    assert events.folder == Path("/abs/calendar")
    assert list(events.streams()) == ["event"]


@pytest.mark.parametrize(("settings", "key", "words"), [
    ({}, "endpoints.f.path", "required"),
    ({"path": "x", "fileext": ".txt"}, "endpoints.f.fileext", ".vcf"),
    ({"path": "x", "streams": ["event"]}, "endpoints.f.streams", "contact"),
    ({"path": "x", "fileext": ".ics", "streams": ["event", "task"]}, "endpoints.f.streams",
     "one stream"),
    ({"path": "x", "filext": ".vcf"}, "endpoints.f.filext", "did you mean 'fileext'"),
    ({"path": "x", "page_size": 0}, "endpoints.f.page_size", ">= 1"),
])
def test_bad_settings(settings: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        VdirConnector.validate_settings("f", settings)
    assert raised.value.key == key
    assert words in str(raised.value)


def test_config_as_in_the_issue(tmp_path: Path) -> None:
    config = parse_config({"endpoints": {"folder": {"connector": "vdir", "path": "contacts",
                                                    "fileext": ".vcf"}}}, base_dir=tmp_path)
    assert config.endpoints["folder"].settings == {"path": "contacts", "fileext": ".vcf"}
    with pytest.raises(ConfigError, match="fileext"):
        parse_config({"endpoints": {"folder": {"connector": "vdir", "path": "c",
                                               "fileext": "vcf"}}}, base_dir=tmp_path)


RICH_CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\n"
    "UID:rich-card\r\nN:Hughes;Margaret;;Dr;\r\nFN:Dr Margaret Hughes\r\n"
    "ORG:Hughes & Partners;Finance\r\nTITLE:Partner\r\n"
    "EMAIL;TYPE=INTERNET,WORK,pref:margaret@hughes-partners.co.uk\r\n"
    "TEL;TYPE=CELL:+44 7700 900123\r\n"
    "item1.ADR;TYPE=WORK:;;1 Fleet Street;London;;EC4Y 1AA;United Kingdom\r\n"
    "item1.X-ABLABEL:_$!<Work>!$_\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsL\r\n"
    " DBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgN\r\n"
    "X-PHONETIC-LAST-NAME:HEWZ\r\nX-SOCIALPROFILE;TYPE=linkedin:https://example.org/mh\r\n"
    "REV:2024-05-01T10:00:00Z\r\nEND:VCARD\r\n")

RICH_EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Calendar//EN\r\nX-WR-CALNAME:Work\r\n"
    "BEGIN:VTIMEZONE\r\nTZID:Europe/London\r\nBEGIN:STANDARD\r\nDTSTART:19701025T020000\r\n"
    "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "END:STANDARD\r\nEND:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\nUID:rich-event\r\nDTSTAMP:20240601T120000Z\r\n"
    "DTSTART;TZID=Europe/London:20240603T093000\r\nDTEND;TZID=Europe/London:20240603T101500\r\n"
    "SUMMARY:Account review\r\nLOCATION:Room 1\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n"
    "EXDATE;TZID=Europe/London:20240617T093000\r\nX-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\n"
    "ATTENDEE;CN=Oliver Bennett;PARTSTAT=ACCEPTED:mailto:oliver@example.org\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Review\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:rich-event\r\nDTSTAMP:20240601T120000Z\r\n"
    "RECURRENCE-ID;TZID=Europe/London:20240610T093000\r\n"
    "DTSTART;TZID=Europe/London:20240610T140000\r\nDTEND;TZID=Europe/London:20240610T150000\r\n"
    "SUMMARY:Moved review\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_a_card_update_changes_only_the_mapped_lines(tmp_path: Path) -> None:
    """Everything syncline does not map (PHOTO, X- properties, groups, parameters, order)
    is written back byte for byte; REV says when the card changed."""
    connector = VdirConnector("folder", {"path": "items"}, tmp_path)
    connector.open()
    path = connector.folder / "rich-card.vcf"
    path.write_bytes(RICH_CARD.encode())
    (result,) = write(connector, op(WriteKind.UPDATE, "rich-card", {"title": "Senior Partner"}))
    assert result.ok, result.error
    before, after = RICH_CARD.split("\r\n"), path.read_bytes().decode().split("\r\n")
    assert len(after) == len(before)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert [old for old, _ in changed] == ["TITLE:Partner", "REV:2024-05-01T10:00:00Z"]
    assert changed[0][1] == "TITLE:Senior Partner" and changed[1][1].startswith("REV:")
    assert connector.read_keys("contact", ["rich-card"])["rich-card"].fields["title"] \
        == "Senior Partner"
    connector.close()


def test_an_event_update_keeps_alarms_exceptions_and_unmapped_properties(
        tmp_path: Path) -> None:
    """Every component and property syncline does not map (time zone, RRULE, EXDATE,
    attendees' parameters, X- properties, the alarm, the moved occurrence) is written back
    byte for byte; only the mapped LOCATION changes, and DTSTAMP / LAST-MODIFIED say when
    (RFC 5545 §3.8.7)."""
    import icalendar

    connector = VdirConnector("folder", {"path": "items", "fileext": ".ics"}, tmp_path)
    connector.open()
    path = connector.folder / "rich-event.ics"
    path.write_bytes(RICH_EVENT.encode())
    (result,) = write(connector, op(WriteKind.UPDATE, "rich-event", {"location": "Room 4"}))
    assert result.ok, result.error
    stamps = {"DTSTAMP", "LAST-MODIFIED", "SEQUENCE"}

    def contents(text: str) -> list[tuple[str, dict[str, bytes]]]:
        return [(str(part.name), {name: part[name].to_ical() if hasattr(part[name], "to_ical")
                                  else repr(part[name]).encode()
                                  for name in part if name not in stamps})
                for part in icalendar.Calendar.from_ical(text).walk()]

    text = path.read_bytes().decode()
    removed = Counter(RICH_EVENT.split("\r\n")) - Counter(text.split("\r\n"))
    added = Counter(text.split("\r\n")) - Counter(RICH_EVENT.split("\r\n"))
    assert set(removed) == {"LOCATION:Room 1", "DTSTAMP:20240601T120000Z"}  # byte for byte
    assert sorted(line.split(":")[0] for line in added) == ["DTSTAMP", "LAST-MODIFIED",
                                                              "LOCATION"]
    before, after = contents(RICH_EVENT), contents(text)
    assert [name for name, _ in after] == [name for name, _ in before]
    assert [name for name, _ in before] == ["VCALENDAR", "VTIMEZONE", "STANDARD", "VEVENT",
                                            "VALARM", "VEVENT"]
    for (name, old), (_, new) in zip(before, after, strict=True):
        if name == "VEVENT" and "RECURRENCE-ID" not in old:
            assert new.pop("LOCATION") == b"Room 4" and old.pop("LOCATION") == b"Room 1"
        assert new == old, name
    connector.close()


def test_an_event_moved_to_another_zone_keeps_the_rest_as_written(tmp_path: Path) -> None:
    """New times in a new time zone, and one attendee more: the new VTIMEZONE is added, the
    attendee already there keeps its line as written, the moved occurrence and the alarm
    are untouched."""
    connector = VdirConnector("folder", {"path": "items", "fileext": ".ics"}, tmp_path)
    connector.open()
    path = connector.folder / "rich-event.ics"
    path.write_bytes(RICH_EVENT.encode())
    new_york = ZoneInfo("America/New_York")
    start = datetime(2024, 6, 3, 9, 0, tzinfo=new_york)
    (result,) = write(connector, op(WriteKind.UPDATE, "rich-event", {
        "start": start, "end": start + timedelta(hours=1), "timezone": "America/New_York",
        "attendees": "ada@example.org, oliver@example.org"}))
    assert result.ok, result.error
    text = path.read_bytes().decode()
    assert "ATTENDEE;CN=Oliver Bennett;PARTSTAT=ACCEPTED:mailto:oliver@example.org\r\n" in text
    assert "ATTENDEE:mailto:ada@example.org\r\n" in text
    exception = RICH_EVENT[RICH_EVENT.rindex("BEGIN:VEVENT"):]
    assert text.endswith(exception)
    london = RICH_EVENT[RICH_EVENT.index("BEGIN:VTIMEZONE"):RICH_EVENT.index("BEGIN:VEVENT")]
    assert london in text
    assert text.index("TZID:America/New_York") < text.index("BEGIN:VEVENT")
    assert "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Review\r\nTRIGGER:-PT10M\r\n" \
        "END:VALARM\r\n" in text
    assert "DTSTART;TZID=America/New_York:20240603T090000\r\n" in text
    record = connector.read_keys("event", ["rich-event"])["rich-event"]
    assert record.fields["start"] == start and record.fields["timezone"] == "America/New_York"
    assert record.fields["attendees"] == "ada@example.org, oliver@example.org"
    assert record.fields["recurrence"] == "FREQ=WEEKLY;COUNT=4"
    connector.close()


def test_a_task_update_keeps_line_ends_folds_and_places() -> None:
    """An item written with LF line ends and folded lines: changed properties stay where
    they were (PRIORITY after the alarm), new ones (COMPLETED, STATUS) follow the master's
    own properties, and untouched lines keep their folding and line ends."""
    from syncline.formats.icalendar import calendar_fields, parse_calendar
    from syncline.formats.icalendar_splice import update_text

    text = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Tasks//EN\nBEGIN:VTODO\nUID:t1\n"
            "DTSTAMP:20240101T000000Z\nSUMMARY:Call Oliver about the renewal of the main"
            "tenance contract for the\n  Leeds office\nX-APPLE-SORT-ORDER:12\nBEGIN:VALARM\n"
            "ACTION:DISPLAY\nTRIGGER:-PT5M\nDESCRIPTION:x\nEND:VALARM\nPRIORITY:5\nEND:VTODO\n"
            "END:VCALENDAR\n")
    done = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    out = update_text(text, parse_calendar(text, source="t"), "task",
                      {"status": "COMPLETED", "completed": done, "priority": 1})
    assert "\r" not in out
    lines = out.split("\n")
    assert "SUMMARY:Call Oliver about the renewal of the maintenance contract for the" in lines
    assert lines[lines.index("END:VALARM") + 1] == "PRIORITY:1"
    assert lines.index("STATUS:COMPLETED") < lines.index("BEGIN:VALARM")
    assert lines.index("COMPLETED:20240701T120000Z") < lines.index("BEGIN:VALARM")
    fields = calendar_fields(parse_calendar(out, source="o"), "task")
    assert (fields["status"], fields["priority"], fields["completed"]) == ("COMPLETED", 1, done)
    assert fields["summary"].endswith("contract for the Leeds office")


def test_file_name_comes_from_the_uid_and_is_never_overwritten(
        contacts: VdirConnector) -> None:
    (created,) = write(contacts, op(WriteKind.CREATE, fields=person(1)))
    assert created.ok
    path = contacts.folder / f"{created.key}.vcf"
    text = path.read_bytes().decode()
    assert f"UID:{created.key}\r\n" in text
    assert created.version == f"{path.stat().st_mtime_ns}:{path.stat().st_size}"
    assert not [p for p in contacts.folder.iterdir() if p.name.startswith(".")]

    events = VdirConnector("cal", {"path": "cal", "fileext": ".ics"}, contacts.base_dir)
    events.open()
    uid = "kick-off@acme.example"
    first = write(events, op(WriteKind.CREATE, fields={**meeting(1), "uid": uid}))
    assert first[0].key == uid
    again = write(events, op(WriteKind.CREATE, fields={**meeting(2), "uid": uid}))
    assert isinstance(again[0].error, ItemError) and "already exists" in str(again[0].error)
    assert "Account review 1" in (events.folder / "kick-off@acme.example.ics").read_text()
    odd = write(events, op(WriteKind.CREATE, fields={**meeting(3), "uid": "a/b c"}))
    assert odd[0].ok and len(str(odd[0].key)) == 40  # SHA-1 of an unsafe UID


def test_expected_version_is_checked(contacts: VdirConnector) -> None:
    (created,) = write(contacts, op(WriteKind.CREATE, fields=person(1)))
    key = str(created.key)
    stale = write(contacts, op(WriteKind.UPDATE, key, {"title": "CFO"}, expected="1:1"))
    assert isinstance(stale[0].error, VersionConflict)
    (ok,) = write(contacts, op(WriteKind.UPDATE, key, {"title": "CFO"}, created.version))
    assert ok.ok and ok.version != created.version
    gone = write(contacts, op(WriteKind.DELETE, key, expected=created.version))
    assert isinstance(gone[0].error, VersionConflict)
    assert write(contacts, op(WriteKind.DELETE, key, expected=ok.version))[0].ok


def test_malformed_file_is_an_item_error_not_a_failed_read(contacts: VdirConnector) -> None:
    keys = [str(r.key) for r in write(contacts, *(op(WriteKind.CREATE, fields=person(n))
                                                  for n in range(3)))]
    cursor = contacts.current_cursor("contact")
    assert cursor is not None
    bad = contacts.folder / "broken.vcf"
    bad.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN Missing colon\r\nEND:VCARD\r\n")
    (contacts.folder / "latin1.vcf").write_bytes("BEGIN:VCARD\r\nFN:Zoë\r\n".encode("latin-1"))
    read = [r.key for page in contacts.read_all("contact", ReadScope()) for r in page]
    assert sorted(read) == sorted(keys)
    problems = {error.key: str(error) for error in contacts.item_errors}
    assert set(problems) == {"broken", "latin1"}
    assert "broken.vcf" in problems["broken"] and "line 3" in problems["broken"]
    assert "UTF-8" in problems["latin1"]
    assert all(isinstance(e, MalformedRecord) for e in contacts.item_errors)

    contacts.item_errors.clear()
    feed = contacts.read_changes("contact", cursor, ReadScope())
    changes = [change for page in feed.pages for change in page]
    assert changes == []  # the bad files are left out of the page ...
    assert {error.key for error in contacts.item_errors} == {"broken", "latin1"}  # ... noted

    contacts.item_errors.clear()  # reported again by every read until fixed ...
    assert feed.cursor is not None
    feed = contacts.read_changes("contact", feed.cursor, ReadScope())
    assert [c for page in feed.pages for c in page] == []
    assert {error.key for error in contacts.item_errors} == {"broken", "latin1"}
    bad.write_text(person_card("broken", "Ada Lovelace"))  # ... then read as a change
    (contacts.folder / "latin1.vcf").unlink()  # ... or as a deletion
    assert feed.cursor is not None
    feed = contacts.read_changes("contact", feed.cursor, ReadScope())
    found = {c.key: c.record for page in feed.pages for c in page}
    assert set(found) == {"broken", "latin1"} and found["latin1"] is None
    assert found["broken"] is not None and found["broken"].fields["name"] == "Ada Lovelace"


def test_lost_snapshot_asks_for_a_full_read(contacts: VdirConnector) -> None:
    cursor = contacts.current_cursor("contact")
    assert cursor is not None
    shutil.rmtree(contacts.state.path)
    with pytest.raises(ProtocolError, match="full read"):
        contacts.read_changes("contact", cursor, ReadScope())
    with pytest.raises(ProtocolError):
        contacts.read_changes("contact", "something-else", ReadScope())


def test_previous_snapshot_still_serves_a_cursor_that_was_not_stored(
        contacts: VdirConnector) -> None:
    """A dry run (or a failed run) reads changes without storing the cursor: the next run
    starts from the cursor before it and must still see the change."""
    cursor = contacts.current_cursor("contact")
    assert cursor is not None
    editor = FolderEditor(contacts.folder, ".vcf")
    key = editor.create(person(4))
    dry = contacts.read_changes("contact", cursor, ReadScope())
    assert [c.key for page in dry.pages for c in page] == [key]
    again = contacts.read_changes("contact", cursor, ReadScope())
    assert [c.key for page in again.pages for c in page] == [key]
    contacts.read_changes("contact", cursor, ReadScope())
    last = contacts.read_changes("contact", cursor, ReadScope())  # the 4th snapshot since
    assert [c.key for page in last.pages for c in page] == [key]
    contacts.read_changes("contact", str(last.cursor), ReadScope())
    with pytest.raises(ProtocolError):  # now too old: the engine reads everything
        contacts.read_changes("contact", cursor, ReadScope())


def test_same_size_rewrite_in_the_same_clock_tick_is_seen(contacts: VdirConnector) -> None:
    editor = FolderEditor(contacts.folder, ".vcf")
    key = editor.create(person(1))
    path = editor.path(key)
    stamp = path.stat().st_mtime_ns
    cursor = contacts.current_cursor("contact")
    assert cursor is not None
    text = path.read_text()
    path.write_text(text.replace("Oliver", "Olivex"))  # same size
    os.utime(path, ns=(stamp, stamp))  # same modification time
    feed = contacts.read_changes("contact", cursor, ReadScope())
    (change,) = [c for page in feed.pages for c in page]
    assert change.record is not None and change.record.fields["first_name"] == "Olivex"


def test_other_kind_of_card_is_not_a_contact(contacts: VdirConnector) -> None:
    (contacts.folder / "acme.vcf").write_text(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:org\r\nFN:Acme Ltd\r\nORG:Acme Ltd\r\n"
        "UID:urn:uuid:0b9f8d1e-8f43-4a43-a1cc-5b1a3cb5f3f0\r\nEND:VCARD\r\n")
    assert list(contacts.read_all("contact", ReadScope())) == []
    organisations = VdirConnector("orgs", {"path": "contacts", "streams": "organisation"},
                                  contacts.base_dir)
    organisations.open()
    (page,) = organisations.read_all("organisation", ReadScope())
    assert page[0].fields["name"] == "Acme Ltd"


def test_recover_a_batch_interrupted_half_way(contacts: VdirConnector,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (first,) = write(contacts, op(WriteKind.CREATE, fields=person(1)))
    batch = WriteBatch("half", "contact", [op(WriteKind.UPDATE, str(first.key), person(2)),
                                           op(WriteKind.CREATE, fields=person(3))])
    import syncline.connectors.vdir.writing as module

    calls = 0
    real = module.atomic_write

    def dying(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt  # the process dies before the second file
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "atomic_write", dying)
    with pytest.raises(KeyboardInterrupt):
        contacts.write(batch)
    monkeypatch.undo()
    recovered = contacts.recover(batch)
    assert recovered is not None
    assert recovered[0].ok and recovered[0].key == first.key
    assert isinstance(recovered[1].error, ItemError)
    assert contacts.count("contact") == 1


def test_read_scope_by_key_and_date(contacts: VdirConnector) -> None:
    results = write(contacts, *(op(WriteKind.CREATE, fields=person(n)) for n in range(4)))
    keys = sorted(str(r.key) for r in results)
    old = contacts.folder / f"{keys[0]}.vcf"
    os.utime(old, (1_600_000_000, 1_600_000_000))
    recent = ReadScope(since=datetime(2021, 1, 1, tzinfo=UTC))
    assert keys[0] not in [r.key for p in contacts.read_all("contact", recent) for r in p]
    ranged = ReadScope(from_key=keys[1], to_key=keys[2])
    assert [r.key for p in contacts.read_all("contact", ranged) for r in p] == keys[1:3]


# -- the engine: memory <-> vdir ------------------------------------------------------------------
FIELDS = ["name", "first_name", "last_name", "email", "phone", "city", "notes"]


def link_config(tmp_path: Path, store_name: str) -> Any:
    raw = {
        "endpoints": {
            "crm": {"connector": "memory", "name": store_name,
                    "streams": {"contact": {"fields": FIELDS}}},
            "folder": {"connector": "vdir", "path": "contacts", "fileext": ".vcf"},
        },
        "links": {"crm-folder": {"a": "crm", "b": "folder", "streams": ["contact"],
                                 "match": {"contact": ["email"]}, "max_delete": "50%"}},
    }
    return parse_config(raw, base_dir=tmp_path)


def test_memory_and_vdir_synced_both_ways(tmp_path: Path) -> None:
    store_name = f"crm-{uuid.uuid4().hex}"
    config = link_config(tmp_path, store_name)
    state = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    crm = shared_store(store_name)
    folder = tmp_path / "contacts"
    editor = FolderEditor(folder, ".vcf")

    def sync(mode: RunMode = RunMode.INCREMENTAL) -> Any:
        summary = SyncEngine(config, state).run(RunRequest("crm-folder", mode=mode))
        assert summary.outcome is RunOutcome.OK, summary.messages
        return summary

    def cards() -> dict[str, str]:
        return {path.stem: path.read_text(encoding="utf-8") for path in folder.glob("*.vcf")}

    for n in range(6):
        crm.put("contact", f"p{n}", {**person(n), "notes": f"Customer since 201{n}"})
    folder.mkdir()
    theirs = editor.create(person(7))
    editor.set_unmapped(theirs, "kept")
    sync()
    assert len(cards()) == 7 and len(crm.stream("contact")) == 7
    pairs = {row.a_key: row.b_key for page in state.iter_mappings(
        state.scope_id("crm-folder", "contact")) for row in page}
    assert "Customer since 2013" in cards()[pairs["p3"]]

    # edit on both sides, create on the folder side, delete on both sides
    crm.put("contact", "p1", {**person(1), "notes": "Moved to the Leeds office"})
    editor.update(pairs["p2"], {**person(2), "phone": "+44 113 496 0000"})
    editor.set_unmapped(pairs["p4"], "a photo, say")
    crm.put("contact", "p4", {**person(4), "city": "York"})
    extra = editor.create(person(8))
    crm.remove("contact", "p0")
    editor.delete(pairs["p5"])
    summary = sync()
    counts = summary.streams["contact"].to_json()
    assert (counts["A"], counts["M"], counts["D"]) == (1, 3, 2)
    assert "Moved to the Leeds office" in cards()[pairs["p1"]]
    assert crm.stream("contact")["p2"][1]["phone"] == "+44 113 496 0000"
    assert "X-SYNCLINE-TEST:a photo, say" in cards()[pairs["p4"]]
    assert "York" in cards()[pairs["p4"]]
    assert pairs["p0"] not in cards() and "p5" not in crm.stream("contact")
    assert any(f["email"] == person(8)["email"] for _, f, _ in crm.stream("contact").values())
    assert extra in cards()

    # nothing changed: nothing to do; a forced full read agrees
    quiet = sync()
    assert sum(quiet.streams["contact"].to_json().values()) == 0
    full = sync(RunMode.FULL)
    assert sum(full.streams["contact"].to_json().values()) == 0
    assert editor.get_unmapped(theirs) == "kept"
    state.close()


@pytest.mark.parametrize("mode", [RunMode.INCREMENTAL, RunMode.FULL])
def test_a_malformed_card_deletes_nothing(tmp_path: Path, mode: RunMode) -> None:
    """A card someone broke is an item problem: the run goes on, and neither an incremental
    nor a full sync takes the unreadable card for a deleted one."""
    store_name = f"crm-{uuid.uuid4().hex}"
    config = link_config(tmp_path, store_name)
    state = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    crm = shared_store(store_name)
    for n in range(4):
        crm.put("contact", f"p{n}", person(n))
    engine = SyncEngine(config, state)
    assert engine.run(RunRequest("crm-folder")).outcome is RunOutcome.OK
    pairs = {row.a_key: row.b_key for page in state.iter_mappings(
        state.scope_id("crm-folder", "contact")) for row in page}
    broken = tmp_path / "contacts" / f"{pairs['p1']}.vcf"
    broken.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN Oliver Bennett\r\nEND:VCARD\r\n")
    crm.put("contact", "p2", {**person(2), "city": "Swansea"})

    summary = engine.run(RunRequest("crm-folder", mode=mode))
    again = engine.run(RunRequest("crm-folder", mode=RunMode.FULL))

    assert summary.streams["contact"].to_json()["D"] == 0
    assert again.streams["contact"].to_json()["D"] == 0
    assert set(crm.stream("contact")) == {"p0", "p1", "p2", "p3"}
    assert "Swansea" in (tmp_path / "contacts" / f"{pairs['p2']}.vcf").read_text()
    state.close()


def test_syncline_sync_names_the_malformed_file_and_its_problem(tmp_path: Path) -> None:
    """What a user running ``syncline sync`` sees: the broken file and what is wrong with it
    (line and problem), while the other cards are synced and nothing is deleted."""
    (tmp_path / "syncline.toml").write_text(
        '[state]\nurl = "sqlite:///state.db"\n\n'
        '[endpoints.phone]\nconnector = "vdir"\npath = "phone"\nfileext = ".vcf"\n\n'
        '[endpoints.copy]\nconnector = "vdir"\npath = "copy"\nfileext = ".vcf"\n\n'
        '[links.phone-copy]\na = "phone"\nb = "copy"\nstreams = ["contact"]\n')
    phone = tmp_path / "phone"
    phone.mkdir()
    for n in range(3):
        (phone / f"p{n}.vcf").write_text(person_card(f"p{n}", " ".join(PEOPLE[n])))
    syncline = [str(Path(sys.executable).with_name("syncline")), "sync", "phone-copy",
                "--config", str(tmp_path / "syncline.toml")]
    assert subprocess.run(syncline, capture_output=True, check=False).returncode == 0
    (phone / "p1.vcf").write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN Oliver Bennett\r\n"
                                  "END:VCARD\r\n")
    (phone / "p3.vcf").write_text(person_card("p3", "Tomasz Nowak"))
    for _ in range(2):  # incremental, then forced in full
        done = subprocess.run([*syncline, *(["--full"] if _ else [])], capture_output=True,
                              text=True, check=False)
        assert done.returncode in (0, 1), done.stderr  # the run goes on (1: item errors)
        assert f"{phone / 'p1.vcf'}: line 3: no ':'" in done.stderr, done.stderr
        copies = [path.read_text() for path in (tmp_path / "copy").glob("*.vcf")]
        assert len(copies) == 4  # p1 kept (not deleted), p3 added
        assert any("Tomasz Nowak" in text for text in copies)
        assert any("Oliver Bennett" in text for text in copies)


def test_events_synced_both_ways(tmp_path: Path) -> None:
    """Appointments from a CRM (memory) to a calendar folder and back, an all-day event and
    an alarm set in the calendar application included."""
    store_name = f"crm-{uuid.uuid4().hex}"
    fields = ["uid", "summary", "start", "end", "all_day", "timezone", "location"]
    config = parse_config({
        "endpoints": {
            "crm": {"connector": "memory", "name": store_name,
                    "streams": {"event": {"fields": fields}}},
            "calendar": {"connector": "vdir", "path": "calendar", "fileext": ".ics"},
        },
        "links": {"crm-calendar": {"a": "crm", "b": "calendar", "streams": ["event"],
                                   "match": {"event": ["uid"]}, "max_delete": "50%"}},
    }, base_dir=tmp_path)
    state = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    crm = shared_store(store_name)
    folder = tmp_path / "calendar"

    def sync() -> Any:
        summary = SyncEngine(config, state).run(RunRequest("crm-calendar"))
        assert summary.outcome is RunOutcome.OK, summary.messages
        return summary.streams["event"].to_json()

    crm.put("event", "e1", {**meeting(1), "uid": "review-1@crm.example.com"})
    crm.put("event", "e2", {"uid": "fair-2024@crm.example.com", "summary": "Trade fair",
                            "start": datetime(2024, 9, 17).date(), "all_day": True,
                            "end": datetime(2024, 9, 20).date(), "location": "NEC Birmingham"})
    sync()
    files = {path.stem: path for path in folder.glob("*.ics")}
    assert set(files) == {"review-1@crm.example.com", "fair-2024@crm.example.com"}
    assert "DTSTART;VALUE=DATE:20240917" in files["fair-2024@crm.example.com"].read_text()

    review = files["review-1@crm.example.com"]
    text = review.read_text().replace(
        "END:VEVENT", "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Review\r\n"
        "TRIGGER:-PT10M\r\nEND:VALARM\r\nEND:VEVENT")
    review.write_text(text.replace("Account review 1", "Account review 1 (room 4)"))
    crm.put("event", "e2", {**crm.stream("event")["e2"][1], "location": "ExCeL London"})
    counts = sync()
    assert counts["M"] == 2
    assert "(room 4)" in crm.stream("event")["e1"][1]["summary"]
    assert "ExCeL London" in files["fair-2024@crm.example.com"].read_text()

    crm.put("event", "e1", {**crm.stream("event")["e1"][1],
                            "start": datetime(2024, 6, 4, 14, 0, tzinfo=LONDON),
                            "end": datetime(2024, 6, 4, 15, 0, tzinfo=LONDON)})
    files["fair-2024@crm.example.com"].unlink()
    counts = sync()
    assert (counts["M"], counts["D"]) == (1, 1)
    assert set(crm.stream("event")) == {"e1"}
    moved = review.read_text()
    assert "DTSTART;TZID=Europe/London:20240604T140000" in moved
    assert "TRIGGER:-PT10M" in moved  # the alarm the calendar application added is kept
    state.close()


def test_a_folder_that_is_gone_is_not_an_empty_folder(tmp_path: Path) -> None:
    connector = VdirConnector("folder", {"path": "contacts"}, tmp_path)
    connector.open()  # first use: the folder is made
    write(connector, op(WriteKind.CREATE, fields=person(1)))
    assert connector.current_cursor("contact") is not None
    shutil.move(tmp_path / "contacts", tmp_path / "contacts-moved")
    again = VdirConnector("folder", {"path": "contacts"}, tmp_path)
    with pytest.raises(EndpointUnavailable, match="is gone"):
        again.open()
    assert not (tmp_path / "contacts").exists()


# -- speed work that must not change what is read or written -------------------------------------
def _age(folder: Path, seconds: int = 60) -> None:
    """Make every item file of ``folder`` older than a snapshot's clock margin."""
    stamp = (datetime.now(UTC) - timedelta(seconds=seconds)).timestamp()
    for path in folder.iterdir():
        if path.is_file():
            os.utime(path, (stamp, stamp))


def test_an_unchanged_folder_keeps_its_snapshot_and_cursor(contacts: VdirConnector) -> None:
    """A read that finds nothing new rewrites no snapshot: the cursor stays the same and
    still sees a later change (a digest-free snapshot has nothing more to remember)."""
    editor = FolderEditor(contacts.folder, ".vcf")
    keys = [editor.create(person(n)) for n in range(3)]
    _age(contacts.folder)
    cursor = contacts.current_cursor("contact")
    assert cursor is not None
    snapshot_file = contacts.state.path / "snapshot"
    written = snapshot_file.stat().st_mtime_ns, snapshot_file.stat().st_ino
    quiet = contacts.read_changes("contact", cursor, ReadScope())
    assert [c for page in quiet.pages for c in page] == []
    assert quiet.cursor == cursor
    assert (snapshot_file.stat().st_mtime_ns, snapshot_file.stat().st_ino) == written
    editor.update(keys[1], person(7))
    feed = contacts.read_changes("contact", cursor, ReadScope())
    assert [c.key for page in feed.pages for c in page] == [keys[1]]
    assert feed.cursor != cursor
    gone = contacts.read_changes("contact", str(feed.cursor), ReadScope())
    assert [c for page in gone.pages for c in page] == []


def test_recent_files_are_checked_once_then_forgotten(
        contacts: VdirConnector, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written near a snapshot's moment keep a digest (a same-size rewrite in the same
    clock tick must be seen); the first read after checks them, a read after that skips
    them and keeps its cursor."""
    write(contacts, *(op(WriteKind.CREATE, fields=person(n)) for n in range(4)))
    cursor = contacts.current_cursor("contact")
    assert cursor is not None
    taken = contacts.state.find(cursor.removeprefix("snap:"))
    assert taken is not None and len(taken.digests) == 4
    monkeypatch.setattr("syncline.connectors.vdir.state.MARGIN_NS", -10**12)  # time passes
    first = contacts.read_changes("contact", cursor, ReadScope())
    assert [c for page in first.pages for c in page] == []
    snapshot = contacts.state.find(str(first.cursor).removeprefix("snap:"))
    assert snapshot is not None and snapshot.digests == {}
    second = contacts.read_changes("contact", str(first.cursor), ReadScope())
    assert second.cursor == first.cursor


def test_writes_are_atomic_and_leave_no_temporary_files(contacts: VdirConnector) -> None:
    (created,) = write(contacts, op(WriteKind.CREATE, fields=person(1)))
    assert created.ok
    path = contacts.folder / f"{created.key}.vcf"
    before = path.stat().st_ino
    (updated,) = write(contacts, op(WriteKind.UPDATE, created.key, {"title": "Buyer"},
                                    created.version))
    assert updated.ok and updated.version != created.version
    assert path.stat().st_ino != before  # a new file renamed over the old one
    assert "TITLE:Buyer" in path.read_text(encoding="utf-8")
    assert [p.name for p in contacts.folder.iterdir() if p.name.startswith(".")] == []
    loaded = contacts.load_file(str(created.key))
    assert loaded is not None and loaded[1].version == updated.version
    assert loaded[0] == path.read_bytes()


_AWKWARD = ["Ada", "  Lovelace ", " ", "", "a,b", "c;d", "back\\slash", "two\nlines",
            "é" * 50, "x" * 90, ",", " , ", "Müller", 0, 12, date(2024, 1, 2), None]


@pytest.mark.parametrize("stream", ["contact", "organisation"])
def test_new_cards_are_written_as_the_general_writer_writes_them(stream: str) -> None:
    """:func:`new_vcard_text` (the fast way a create takes) writes the bytes
    :func:`new_vcard` does, for plain and awkward values alike."""
    import random

    from syncline.formats.vcard import (
        CONTACT_FIELDS,
        ORGANISATION_FIELDS,
        new_vcard,
        new_vcard_text,
    )

    now = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
    names = sorted(CONTACT_FIELDS | ORGANISATION_FIELDS | {"uid", "owner"})
    chooser = random.Random(stream)
    cases = [person(n) for n in range(5)]
    cases += [{name: chooser.choice(_AWKWARD)
               for name in chooser.sample(names, chooser.randint(0, len(names)))}
              for _ in range(1500)]
    for fields in cases:
        expected = new_vcard(stream, fields, uid="urn:uuid:x,1", now=now).to_text()
        assert new_vcard_text(stream, fields, uid="urn:uuid:x,1", now=now) == expected, fields


def test_card_lines_parse_their_parameters_when_asked_and_bad_ones_still_fail() -> None:
    from syncline.formats.contentline import parse_item

    card = parse_item('BEGIN:VCARD\r\nVERSION:3.0\r\nitem1.TEL;type=WORK;TYPE="cell,voice";'
                      'PREF=1:+44 1\r\nEMAIL;INTERNET:a@b.c\r\nFN:A\r\nEND:VCARD\r\n', "VCARD",
                      source="x.vcf")
    tel, email, name = card.lines[1:]
    assert (tel.group, tel.name) == ("item1", "TEL")
    assert tel.params == {"TYPE": ["WORK", "cell,voice"], "PREF": ["1"]}
    assert tel.types() == {"work", "cell", "voice"}
    assert email.types() == {"internet"} and name.params == {}
    for bad in ('TEL;TYPE="open:1', "TEL;=x:1", "TEL;;TYPE=x:1", 'TEL;TYPE="a"b:1', ";X:1",
                "TEL;TYPE=x"):
        with pytest.raises(MalformedRecord):
            parse_item(f"BEGIN:VCARD\r\n{bad}\r\nEND:VCARD\r\n", "VCARD", source="x.vcf")


def test_reading_a_card_in_one_pass_reads_what_the_parts_read() -> None:
    from syncline.formats.vcard import (
        card_fields,
        is_organisation,
        new_vcard,
        parse_vcard,
        read_card,
        revision,
        uid_of,
    )

    texts = [new_vcard("contact", person(n), uid=f"u{n}").to_text() for n in range(3)]
    texts.append(new_vcard("organisation", {"name": "Hughes & Partners"}, uid="o1").to_text())
    texts.append("BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:org\r\nFN:Acme\r\nEND:VCARD\r\n")
    texts.append("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nREV:2024-03-15\r\n"
                 "TEL;CELL:+1 555\r\nEND:VCARD\r\n")
    for text in texts:
        card = parse_vcard(text, source="x.vcf")
        for stream in ("contact", "organisation"):
            expected = None if is_organisation(card) != (stream == "organisation") else (
                card_fields(card, stream), uid_of(card), revision(card))
            assert read_card(text, stream, source="x.vcf") == expected


def test_a_malformed_card_is_journalled_as_an_error_and_deletes_nothing(
        tmp_path: Path) -> None:
    store_name = f"crm-{uuid.uuid4().hex}"
    config = link_config(tmp_path, store_name)
    state = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    crm = shared_store(store_name)
    for n in range(4):
        crm.put("contact", f"p{n}", person(n))
    engine = SyncEngine(config, state)
    assert engine.run(RunRequest("crm-folder")).outcome is RunOutcome.OK
    folder = tmp_path / "contacts"
    bad = sorted(folder.glob("*.vcf"))[1]
    bad.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nFN Oliver\r\nEND:VCARD\r\n")
    for mode in (RunMode.INCREMENTAL, RunMode.FULL):
        summary = engine.run(RunRequest("crm-folder", mode=mode))
        counts = summary.streams["contact"].to_json()
        assert counts["errors"] == 1 and counts["D"] == 0
        assert summary.outcome is RunOutcome.ERROR
        assert any(str(bad) in m and "line 3" in m for m in summary.messages), summary.messages
        rows = state.journal("crm-folder", run_id=summary.run_id, outcome="error")
        assert [(r["b_key"], r["direction"]) for r in rows] == [(bad.stem, "b>a")]
        assert str(bad) in rows[0]["message"]
    assert len(crm.stream("contact")) == 4
    state.close()
