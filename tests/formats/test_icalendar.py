"""iCalendar VEVENT / VTODO <-> canonical event and task fields: time zones, all-day
events, recurrence, attendees, tasks, updates that keep alarms, exceptions and X- properties,
malformed items."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from syncline.errors import MalformedRecord
from syncline.formats.icalendar import (
    calendar_fields,
    calendar_text,
    component_kind,
    last_modified,
    new_calendar,
    parse_calendar,
    update_calendar,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)

# A Thunderbird-style recurring meeting: VTIMEZONE, attendees with parameters, an alarm,
# an X- property and a moved occurrence (recurrence exception).
MEETING = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/London\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0000\r
TZOFFSETTO:+0100\r
TZNAME:BST\r
DTSTART:19700329T010000\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0000\r
TZNAME:GMT\r
DTSTART:19701025T020000\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r
END:STANDARD\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
CREATED:20240601T101500Z\r
LAST-MODIFIED:20240602T093000Z\r
DTSTAMP:20240602T093000Z\r
UID:7d1c5f8a-2b0e-4d7e-9a51-3c6f1b2e8d40\r
SUMMARY:Monthly account review \u2013 Hughes & Partners\r
DESCRIPTION:Agenda:\\n1. Open invoices\\n2. Renewal\\, pricing\r
LOCATION:Hughes & Partners\\, 12 Fleet Street\\, London EC4Y 1AA\r
ORGANIZER;CN=Oliver Bennett:mailto:oliver@bennett-plumbing.co.uk\r
ATTENDEE;CN=Margaret Hughes;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:m\r
 argaret.hughes@hughes-partners.co.uk\r
ATTENDEE;CN=Tom Baker;PARTSTAT=TENTATIVE:mailto:tom.baker@hughes-partners.co.uk\r
RRULE:FREQ=MONTHLY;BYDAY=2MO;COUNT=6\r
CATEGORIES:Customer,Review\r
DTSTART;TZID=Europe/London:20240610T093000\r
DTEND;TZID=Europe/London:20240610T103000\r
SEQUENCE:2\r
X-MOZ-GENERATION:3\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
TRIGGER;VALUE=DURATION:-PT15M\r
DESCRIPTION:Default Mozilla Description\r
END:VALARM\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:7d1c5f8a-2b0e-4d7e-9a51-3c6f1b2e8d40\r
RECURRENCE-ID;TZID=Europe/London:20240708T093000\r
DTSTAMP:20240602T093000Z\r
SUMMARY:Monthly account review (moved to Tuesday)\r
DTSTART;TZID=Europe/London:20240709T093000\r
DTEND;TZID=Europe/London:20240709T103000\r
END:VEVENT\r
END:VCALENDAR\r
"""

HOLIDAY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Apple Inc.//macOS 14.4//EN\r
BEGIN:VEVENT\r
UID:B2C9E7D4-1F3A-4E8B-9C6D-5A7F0E2B4C18\r
DTSTAMP:20240501T080000Z\r
DTSTART;VALUE=DATE:20240805\r
DTEND;VALUE=DATE:20240817\r
SUMMARY:Summer holiday \u2013 office closed\r
TRANSP:TRANSPARENT\r
END:VEVENT\r
END:VCALENDAR\r
"""

TASK = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Nextcloud Tasks v0.16.0//EN\r
BEGIN:VTODO\r
UID:task-2024-0412@crm.example.com\r
DTSTAMP:20240412T101010Z\r
SUMMARY:Send renewal quote to Hughes & Partners\r
DESCRIPTION:Include the 5% loyalty discount.\r
DUE:20240419T170000Z\r
STATUS:IN-PROCESS\r
PRIORITY:1\r
PERCENT-COMPLETE:40\r
CATEGORIES:Sales\r
X-APPLE-SORT-ORDER:585401345\r
END:VTODO\r
END:VCALENDAR\r
"""


def test_event_with_a_time_zone() -> None:
    calendar = parse_calendar(MEETING, source="review.ics")
    assert component_kind(calendar) == "event"
    fields = calendar_fields(calendar, "event")
    assert fields == {
        "uid": "7d1c5f8a-2b0e-4d7e-9a51-3c6f1b2e8d40",
        "summary": "Monthly account review \u2013 Hughes & Partners",
        "description": "Agenda:\n1. Open invoices\n2. Renewal, pricing",
        "start": datetime(2024, 6, 10, 9, 30, tzinfo=LONDON),
        "end": datetime(2024, 6, 10, 10, 30, tzinfo=LONDON),
        "all_day": False, "timezone": "Europe/London",
        "location": "Hughes & Partners, 12 Fleet Street, London EC4Y 1AA",
        "attendees": "margaret.hughes@hughes-partners.co.uk, tom.baker@hughes-partners.co.uk",
        "recurrence": "FREQ=MONTHLY;COUNT=6;BYDAY=2MO",
        "categories": "Customer, Review",
    }
    assert fields["start"].utcoffset() == timedelta(hours=1)  # aware: BST
    assert fields["start"].astimezone(UTC) == datetime(2024, 6, 10, 8, 30, tzinfo=UTC)
    assert last_modified(calendar) == datetime(2024, 6, 2, 9, 30, tzinfo=UTC)


def test_all_day_event() -> None:
    fields = calendar_fields(parse_calendar(HOLIDAY, source="h.ics"), "event")
    assert fields["all_day"] is True
    assert (fields["start"], fields["end"]) == (date(2024, 8, 5), date(2024, 8, 17))
    assert fields["timezone"] is None
    one_day = HOLIDAY.replace("DTEND;VALUE=DATE:20240817\r\n", "")
    assert calendar_fields(parse_calendar(one_day, source="h.ics"), "event")["end"] \
        == date(2024, 8, 6)  # RFC 5545: a one-day event


def test_utc_floating_and_duration() -> None:
    text = HOLIDAY.replace("DTSTART;VALUE=DATE:20240805", "DTSTART:20240805T140000Z") \
        .replace("DTEND;VALUE=DATE:20240817", "DURATION:PT1H30M")
    fields = calendar_fields(parse_calendar(text, source="x.ics"), "event")
    assert fields["timezone"] is None and fields["all_day"] is False
    assert fields["start"] == datetime(2024, 8, 5, 14, 0, tzinfo=UTC)
    assert fields["end"] == datetime(2024, 8, 5, 15, 30, tzinfo=UTC)
    floating = HOLIDAY.replace("DTSTART;VALUE=DATE:20240805", "DTSTART:20240805T140000") \
        .replace("DTEND;VALUE=DATE:20240817", "DTEND:20240805T150000")
    fields = calendar_fields(parse_calendar(floating, source="x.ics"), "event")
    assert fields["timezone"] is None and fields["start"].tzinfo is None
    utc = new_calendar("event", {"summary": "Call", "start": datetime(2024, 8, 5, 14, 0,
                                                                     tzinfo=UTC)})
    assert "DTSTART:20240805T140000Z\r\n" in calendar_text(utc)


def test_update_keeps_what_is_not_mapped() -> None:
    calendar = parse_calendar(MEETING, source="review.ics")
    update_calendar(calendar, "event", {
        "summary": "Quarterly account review",
        "attendees": "tom.baker@hughes-partners.co.uk, priya.sharma@hughes-partners.co.uk",
        "recurrence": "FREQ=MONTHLY;INTERVAL=3;BYDAY=2MO",
        "start": datetime(2024, 6, 10, 10, 0, tzinfo=LONDON),
        "end": datetime(2024, 6, 10, 11, 0, tzinfo=LONDON),
        "location": "Hughes & Partners, 12 Fleet Street, London EC4Y 1AA",  # unchanged
    }, now=NOW)
    text = calendar_text(calendar)
    again = parse_calendar(text, source="review.ics")
    fields = calendar_fields(again, "event")
    assert fields["summary"] == "Quarterly account review"
    assert fields["start"] == datetime(2024, 6, 10, 10, 0, tzinfo=LONDON)
    assert fields["timezone"] == "Europe/London"
    assert fields["recurrence"] == "FREQ=MONTHLY;INTERVAL=3;BYDAY=2MO"
    assert fields["attendees"] == \
        "tom.baker@hughes-partners.co.uk, priya.sharma@hughes-partners.co.uk"
    master, exception = [c for c in again.subcomponents if c.name == "VEVENT"]
    (tom, priya) = master["ATTENDEE"]
    assert (tom.params["CN"], tom.params["PARTSTAT"]) == ("Tom Baker", "TENTATIVE")
    assert "PARTSTAT" not in priya.params
    assert str(master["ORGANIZER"]) == "mailto:oliver@bennett-plumbing.co.uk"
    assert master["X-MOZ-GENERATION"] == "3"
    (alarm,) = master.walk("VALARM")
    assert alarm.decoded("TRIGGER") == timedelta(minutes=-15)
    assert int(master["SEQUENCE"]) == 3  # times changed
    assert master.decoded("LAST-MODIFIED") == NOW
    assert str(exception["SUMMARY"]) == "Monthly account review (moved to Tuesday)"
    assert exception.decoded("RECURRENCE-ID") == datetime(2024, 7, 8, 9, 30, tzinfo=LONDON)
    assert [c["TZID"] for c in again.walk("VTIMEZONE")] == ["Europe/London"]


def test_moving_an_event_to_another_time_zone() -> None:
    calendar = parse_calendar(MEETING, source="review.ics")
    update_calendar(calendar, "event", {"timezone": "America/New_York"}, now=NOW)
    again = parse_calendar(calendar_text(calendar), source="review.ics")
    fields = calendar_fields(again, "event")
    assert fields["timezone"] == "America/New_York"
    assert fields["start"] == datetime(2024, 6, 10, 4, 30, tzinfo=NEW_YORK)  # same moment
    assert {str(c["TZID"]) for c in again.walk("VTIMEZONE")} >= {"America/New_York"}


def test_all_day_round_trip_and_switch() -> None:
    fields = {"summary": "Trade fair, Birmingham NEC", "start": date(2024, 9, 17),
              "end": date(2024, 9, 20), "all_day": True, "location": "NEC Birmingham",
              "categories": "Events, Marketing"}
    calendar = new_calendar("event", fields, now=NOW)
    text = calendar_text(calendar)
    assert "DTSTART;VALUE=DATE:20240917\r\n" in text
    read = calendar_fields(parse_calendar(text, source="fair.ics"), "event")
    assert {k: read[k] for k in fields} == fields
    update_calendar(calendar, "event", {"all_day": False, "timezone": "Europe/London",
                                        "start": datetime(2024, 9, 17, 9, 0, tzinfo=LONDON),
                                        "end": datetime(2024, 9, 17, 17, 0, tzinfo=LONDON)})
    read = calendar_fields(parse_calendar(calendar_text(calendar), source="f"), "event")
    assert read["all_day"] is False and read["start"].hour == 9


def test_task_round_trip_and_update() -> None:
    calendar = parse_calendar(TASK, source="task.ics")
    assert component_kind(calendar) == "task"
    assert calendar_fields(calendar, "task") == {
        "uid": "task-2024-0412@crm.example.com",
        "summary": "Send renewal quote to Hughes & Partners",
        "description": "Include the 5% loyalty discount.",
        "due": datetime(2024, 4, 19, 17, 0, tzinfo=UTC), "status": "IN-PROCESS",
        "priority": 1, "completed": None, "categories": "Sales"}
    done = datetime(2024, 4, 18, 15, 45, tzinfo=LONDON)
    update_calendar(calendar, "task", {"status": "COMPLETED", "completed": done,
                                       "priority": 5}, now=NOW)
    text = calendar_text(calendar)
    assert "COMPLETED:20240418T144500Z\r\n" in text  # in UTC, as RFC 5545 asks
    assert "X-APPLE-SORT-ORDER:585401345" in text and "PERCENT-COMPLETE:40" in text
    fields = calendar_fields(parse_calendar(text, source="task.ics"), "task")
    assert (fields["status"], fields["priority"], fields["completed"]) == \
        ("COMPLETED", 5, done)
    made = new_calendar("task", {"summary": "Call back Priya", "due": date(2024, 5, 2),
                                 "status": "NEEDS-ACTION"})
    fields = calendar_fields(parse_calendar(calendar_text(made), source="n"), "task")
    assert fields["due"] == date(2024, 5, 2) and fields["uid"]


@pytest.mark.parametrize(("text", "problem"), [
    ("BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\n", "not a VCALENDAR"),
    ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "no VEVENT or VTODO"),
    ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:2024-06-10\r\nEND:VEVENT\r\n"
     "END:VCALENDAR\r\n", "DTSTART"),
    ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:No UID\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
     "without UID"),
    ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
     "SUMMARY"),
    ("", "review.ics"),
])
def test_malformed_item_names_the_file_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(MalformedRecord) as raised:
        parse_calendar(text, source="/data/calendar/review.ics")
    assert str(raised.value).startswith("/data/calendar/review.ics: ")
    assert problem in str(raised.value)


def test_new_event_is_rfc_conformant() -> None:
    calendar = new_calendar("event", {
        "uid": "call-0042@crm.example.com", "summary": "Call with Kwame Mensah",
        "start": datetime(2024, 6, 11, 14, 0, tzinfo=UTC), "end":
        datetime(2024, 6, 11, 14, 30, tzinfo=UTC), "timezone": "Europe/London",
        "attendees": "kwame.mensah@example.com"}, now=NOW)
    event = calendar.walk("VEVENT")[0]
    for required in ("UID", "DTSTAMP", "DTSTART"):
        assert required in event
    assert isinstance(calendar, icalendar.Calendar)
    assert str(calendar["VERSION"]) == "2.0" and "PRODID" in calendar
    text = calendar_text(calendar)
    assert "DTSTART;TZID=Europe/London:20240611T150000\r\n" in text
    assert "ATTENDEE:mailto:kwame.mensah@example.com\r\n" in text
    assert "BEGIN:VTIMEZONE\r\nTZID:Europe/London\r\n" in text
