"""The ``caldav`` connector against a real Radicale server: the shared contract for events
and tasks, and what is particular to calendars (alarms and exceptions kept, streams sharing
one calendar, malformed items, conflicts, expired tokens)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.radicale_server import (  # noqa: F401 - radicale is a fixture
    DavContractHooks,
    DavEditor,
    RadicaleServer,
    radicale,
    running_radicale,
)
from syncline.connectors.base import ReadScope, WriteBatch, WriteKind, WriteOperation
from syncline.connectors.dav import CalDavConnector
from syncline.errors import (
    ConfigError,
    EndpointUnavailable,
    MalformedRecord,
    ProtocolError,
    VersionConflict,
)
from syncline.testing import ConnectorContract, FieldMaker

LONDON = ZoneInfo("Europe/London")
PEOPLE = ["Margaret Hughes", "Oliver Bennett", "Priya Sharma", "Tomasz Nowak", "Aoife Byrne"]


def meeting(n: int) -> dict[str, Any]:
    start = datetime(2024, 6, 3, 9, 30, tzinfo=LONDON) + timedelta(days=n, hours=n % 5)
    return {"summary": f"Account review {n} with {PEOPLE[n % len(PEOPLE)]}",
            "start": start, "end": start + timedelta(minutes=45), "all_day": False,
            "timezone": "Europe/London", "location": f"{n} Fleet Street, London"}


def todo(n: int) -> dict[str, Any]:
    return {"summary": f"Call {PEOPLE[n % len(PEOPLE)]} about order {1000 + n}",
            "due": datetime(2024, 7, 1, 17, 0, tzinfo=UTC) + timedelta(days=n),
            "status": "NEEDS-ACTION", "priority": 1 + n % 9}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")


def render_event(uid: str, fields: dict[str, Any], extra: str) -> str:
    start = fields["start"].astimezone(LONDON).strftime("%Y%m%dT%H%M%S")
    end = fields["end"].astimezone(LONDON).strftime("%Y%m%dT%H%M%S")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//Calendar//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240601T120000Z\r\n"
            f"DTSTART;TZID=Europe/London:{start}\r\nDTEND;TZID=Europe/London:{end}\r\n"
            f"SUMMARY:{_escape(fields['summary'])}\r\n"
            f"LOCATION:{_escape(fields['location'])}\r\n"
            f"{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


def render_task(uid: str, fields: dict[str, Any], extra: str) -> str:
    due = fields["due"].astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Phone//Tasks//EN\r\n"
            f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20240601T120000Z\r\nDUE:{due}\r\n"
            f"SUMMARY:{_escape(fields['summary'])}\r\nSTATUS:{fields['status']}\r\n"
            f"PRIORITY:{fields['priority']}\r\n{extra}END:VTODO\r\nEND:VCALENDAR\r\n")


def connect(radicale: RadicaleServer, url: str, tmp_path: Path,  # noqa: F811
            **settings: Any) -> CalDavConnector:
    connector = CalDavConnector("calendar", {
        "url": url, "username": "alice", "password": radicale.users["alice"],
        "state_dir": str(tmp_path / "state"), **settings}, tmp_path)
    connector.open()
    return connector


class CalDavContract(DavContractHooks, ConnectorContract):
    page_size = 5
    render: Any
    malformed_problem = "PRIORITY"

    @pytest.fixture
    def calendar(self, radicale: RadicaleServer) -> str:  # noqa: F811
        return radicale.make_calendar()

    @pytest.fixture
    def connector(self, radicale: RadicaleServer, calendar: str,  # noqa: F811
                  tmp_path: Path) -> Iterator[CalDavConnector]:
        connector = connect(radicale, calendar, tmp_path, multiget_batch_size=self.page_size,
                            streams=[self.stream])
        yield connector
        connector.close()
        assert connector.item_errors == []

    @pytest.fixture
    def outside(self, radicale: RadicaleServer,  # noqa: F811
                calendar: str) -> Iterator[DavEditor]:
        editor = DavEditor(radicale, calendar, ".ics", type(self).render)
        yield editor
        editor.close()


class TestCalDavEvent(CalDavContract):
    stream = "event"
    render = staticmethod(render_event)
    malformed = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
                 "UID:broken\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240601T090000Z\r\n"
                 "PRIORITY:high\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        return meeting


class TestCalDavTask(CalDavContract):
    stream = "task"
    render = staticmethod(render_task)
    malformed = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\n"
                 "UID:broken\r\nDTSTAMP:20240101T000000Z\r\nPRIORITY:high\r\n"
                 "SUMMARY:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")

    @pytest.fixture
    def make_fields(self) -> FieldMaker:
        return todo


# -- particular to calendars ----------------------------------------------------------------
def op(kind: WriteKind, key: str | None = None, fields: dict[str, Any] | None = None,
       expected: str | None = None) -> WriteOperation:
    return WriteOperation(uuid.uuid4().hex, kind, key, fields, expected)


def write(connector: CalDavConnector, stream: str, *operations: WriteOperation) -> list[Any]:
    return connector.write(WriteBatch(uuid.uuid4().hex, stream, list(operations)))


@pytest.fixture
def both(radicale: RadicaleServer, tmp_path: Path) -> Iterator[CalDavConnector]:  # noqa: F811
    """Events and tasks of one calendar, the default streams."""
    connector = connect(radicale, radicale.make_calendar(), tmp_path)
    yield connector
    connector.close()


def test_events_and_tasks_share_one_calendar(both: CalDavConnector) -> None:
    assert set(both.streams()) == {"event", "task"}
    (event,) = write(both, "event", op(WriteKind.CREATE, fields={**meeting(1),
                                                                  "uid": "kick-off@crm"}))
    (task,) = write(both, "task", op(WriteKind.CREATE, fields=todo(1)))
    assert event.ok and task.ok
    events = [r for page in both.read_all("event", ReadScope()) for r in page]
    tasks = [r for page in both.read_all("task", ReadScope()) for r in page]
    assert [r.key for r in events] == [event.key]
    assert events[0].fields["uid"] == "kick-off@crm"
    assert [r.key for r in tasks] == [task.key]
    assert tasks[0].fields["priority"] == todo(1)["priority"]


def test_alarm_and_exception_survive_an_update(radicale: RadicaleServer,  # noqa: F811
                                               both: CalDavConnector) -> None:
    editor = DavEditor(radicale, both.site("event").collection.url, ".ics", render_event)
    key = editor.create(meeting(1))
    text = editor.get(key).replace("END:VEVENT\r\nEND:VCALENDAR", "")
    text = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    body = "\r\n".join([*text, "RRULE:FREQ=WEEKLY;COUNT=4",
                        "BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Review",
                        "TRIGGER:-PT10M", "END:VALARM", "END:VEVENT",
                        "BEGIN:VEVENT", f"UID:{editor._uid(key)}", "DTSTAMP:20240601T120000Z",
                        "RECURRENCE-ID;TZID=Europe/London:20240610T093000",
                        "DTSTART;TZID=Europe/London:20240610T140000",
                        "DTEND;TZID=Europe/London:20240610T150000",
                        "SUMMARY:Moved review", "END:VEVENT", "END:VCALENDAR", ""])
    editor.put(key, body)
    (result,) = write(both, "event", op(WriteKind.UPDATE, key, {"location": "Room 4"}))
    assert result.ok, result.error
    after = editor.get(key)
    assert "LOCATION:Room 4" in after
    assert "TRIGGER:-PT10M" in after and "SUMMARY:Moved review" in after
    assert "RECURRENCE-ID;TZID=Europe/London:20240610T093000" in after
    editor.close()


def test_malformed_task_is_an_item_error(radicale: RadicaleServer,  # noqa: F811
                                         both: CalDavConnector) -> None:
    editor = DavEditor(radicale, both.site("task").collection.url, ".ics", render_task)
    good = editor.create(todo(1))
    cursor = both.current_cursor("task")
    assert cursor is not None
    both.item_errors.clear()
    editor.put("broken.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\n"
                             "UID:broken\r\nDTSTAMP:20240101T000000Z\r\nPRIORITY:high\r\n"
                             "SUMMARY:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    feed = both.read_changes("task", cursor, ReadScope())
    assert [c for page in feed.pages for c in page] == []
    (error,) = both.item_errors
    assert isinstance(error, MalformedRecord) and error.key == "broken.ics"
    assert "broken.ics" in str(error) and "high" in str(error)
    assert [r.key for page in both.read_all("task", ReadScope()) for r in page] == [good]
    from syncline.connectors.base import Capability

    assert not both.streams()["task"] & Capability.DETECT_DELETES


def test_412_is_a_version_conflict(radicale: RadicaleServer,  # noqa: F811
                                   both: CalDavConnector) -> None:
    (created,) = write(both, "event", op(WriteKind.CREATE, fields=meeting(1)))
    editor = DavEditor(radicale, both.site("event").collection.url, ".ics", render_event)
    editor.update(created.key, meeting(2))  # someone else changes it
    (stale,) = write(both, "event", op(WriteKind.UPDATE, created.key, {"location": "X"},
                                       expected=created.version))
    assert isinstance(stale.error, VersionConflict)
    assert "Account review 2" in editor.get(created.key)
    editor.close()


def test_a_calendar_without_todos_cannot_serve_tasks(radicale: RadicaleServer,  # noqa: F811
                                                     tmp_path: Path) -> None:
    only_events = radicale.make_calendar(components=("VEVENT",))
    default = connect(radicale, only_events, tmp_path)
    assert set(default.streams()) == {"event"}
    default.close()
    with pytest.raises(ConfigError, match="holds no VTODO"):
        connect(radicale, only_events, tmp_path, streams=["task"])


# -- errors and TLS (the client both DAV connectors share) -------------------------------------
_QUICK = {"attempts": 3, "backoff": 0.01}
"""Retry settings that give up quickly."""


def test_nobody_listening_is_endpoint_unavailable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connector = CalDavConnector("calendar", {"url": f"http://127.0.0.1:{port}/alice/c/",
                                                 "timeout": 5, "retries": _QUICK}, tmp_path)
    with pytest.raises(EndpointUnavailable, match=f"127.0.0.1:{port}") as raised:
        connector.open()
    assert "no connection" in str(raised.value)
    assert "gave up after 3 tries" in str(raised.value)
    connector.close()


class _Garbage(BaseHTTPRequestHandler):
    """Redirects ``/moved/`` to ``/alice/c/`` and answers every other request with 207 and
    a body that is not XML."""

    def do_PROPFIND(self) -> None:
        if self.path == "/moved/":
            self.send_response(302)
            self.send_header("Location", "/alice/c/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(207)
        self.send_header("Content-Type", "application/xml")
        body = b"<multistatus><response>this is not what it seems"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _Silent(BaseHTTPRequestHandler):
    """Takes every request and answers none in time."""

    def do_PROPFIND(self) -> None:
        time.sleep(3)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def test_a_server_that_does_not_answer_is_endpoint_unavailable(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Silent)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/alice/c/"
    try:
        connector = CalDavConnector("calendar", {"url": url, "timeout": 0.3,
                                                 "retries": _QUICK}, tmp_path)
        with pytest.raises(EndpointUnavailable, match="timed out") as raised:
            connector.open()
        assert url in str(raised.value)
        connector.close()
    finally:
        server.shutdown()
        server.server_close()


def test_garbage_xml_is_a_protocol_error(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/alice/c/"
    try:
        connector = CalDavConnector("calendar", {"url": url}, tmp_path)
        with pytest.raises(ProtocolError) as raised:
            connector.open()
        assert url in str(raised.value) and "XML" in str(raised.value)
        connector.close()
        moved = url.replace("/alice/c/", "/moved/")  # followed, as a PROPFIND, to the garbage
        with pytest.raises(ProtocolError, match=r"PROPFIND .*/alice/c/: not well-formed XML"):
            CalDavConnector("calendar", {"url": moved}, tmp_path).open()
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tls_radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with running_radicale(tmp_path_factory.mktemp("radicale-tls"), tls=True) as server:
        yield server


def test_tls_is_verified_against_the_configured_ca(tls_radicale: RadicaleServer,
                                                   tmp_path: Path) -> None:
    calendar = tls_radicale.make_calendar()
    assert calendar.startswith("https://") and tls_radicale.ca_file is not None
    settings = {"url": calendar, "username": "alice", "password": tls_radicale.users["alice"],
                "state_dir": str(tmp_path / "state")}
    unknown_ca = CalDavConnector("calendar", settings, tmp_path)
    with pytest.raises(EndpointUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        unknown_ca.open()  # verification is on by default: a CA nobody configured fails
    unknown_ca.close()
    shutil.copy(tls_radicale.ca_file, tmp_path / "company-ca.pem")
    trusted = CalDavConnector("calendar", {**settings, "ca_file": "company-ca.pem"}, tmp_path)
    trusted.open()
    (created,) = write(trusted, "event", op(WriteKind.CREATE, fields=meeting(1)))
    assert created.ok, created.error
    trusted.close()
    unchecked = CalDavConnector("calendar", {**settings, "verify_tls": False}, tmp_path)
    unchecked.open()
    assert [r.key for page in unchecked.read_all("event", ReadScope()) for r in page] \
        == [created.key]
    unchecked.close()
    with pytest.raises(ConfigError, match="ca_file"):
        CalDavConnector("calendar", {**settings, "ca_file": "missing.pem"}, tmp_path).open()


def test_each_stream_may_have_its_own_calendar(radicale: RadicaleServer,  # noqa: F811
                                              tmp_path: Path) -> None:
    events = radicale.make_calendar(components=("VEVENT",))
    tasks = radicale.make_calendar(components=("VTODO",))
    connector = connect(radicale, events, tmp_path, streams={"event": {},
                                                            "task": {"url": tasks}})
    assert connector.site("event").collection.url == events
    assert connector.site("task").collection.url == tasks
    (task,) = write(connector, "task", op(WriteKind.CREATE, fields=todo(3)))
    (meeting_result,) = write(connector, "event", op(WriteKind.CREATE, fields=meeting(3)))
    assert task.ok and meeting_result.ok
    with radicale.client() as http:
        assert http.get(f"{tasks}{task.key}").status_code == 200
        assert http.get(f"{events}{task.key}").status_code == 404
        assert http.get(f"{events}{meeting_result.key}").status_code == 200
    connector.close()
