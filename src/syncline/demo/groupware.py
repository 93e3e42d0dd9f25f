"""The demo's groupware part: the CRM's people, appointments and tasks in a vdir folder.

The CRM database also keeps appointments and tasks (tables ``appointments`` and ``tasks``,
mapped to the canonical ``event`` and ``task`` fields). Three links keep the CRM in step with
``groupware/``, a folder of plain ``.vcf`` and ``.ics`` files, one item per file (the layout
vdirsyncer, khard, khal and Evolution use), which any contacts or calendar application can
open:

=================  ===============================  ===================================
link               CRM table (endpoint ``crm-pim``)  folder (endpoint)
=================  ===============================  ===================================
``crm-contacts``   ``people``                       ``groupware/contacts`` (``contacts``)
``crm-calendar``   ``appointments``                 ``groupware/calendar`` (``calendar``)
``crm-tasks``      ``tasks``                        ``groupware/tasks`` (``tasks``)
=================  ===============================  ===================================

``crm-pim`` describes the same ``crm.db`` as ``crm`` but maps a person without the
organisation reference: a vCard's ORG holds a company's name, not the CRM's ``org_id``
(companies travel between the CRM and the books by the ``crm-books`` link).
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = [
    "GROUPWARE_CONFIG",
    "GROUPWARE_FOLDER",
    "GROUPWARE_LINKS",
    "GROUPWARE_SCHEMA",
    "Appointment",
    "FolderContents",
    "Task",
    "build_groupware",
    "folder_contents",
    "sample_appointments",
    "sample_tasks",
]

GROUPWARE_FOLDER = "groupware"
"""The folder (in the demo folder) holding the three item folders."""

GROUPWARE_LINKS: dict[str, tuple[str, str, str]] = {
    "crm-contacts": ("contacts", "contact", ".vcf"),
    "crm-calendar": ("calendar", "event", ".ics"),
    "crm-tasks": ("tasks", "task", ".ics"),
}
"""Link -> (its folder in :data:`GROUPWARE_FOLDER`, the stream, the file extension)."""

GROUPWARE_SCHEMA = """
CREATE TABLE appointments (
    appointment_id  INTEGER PRIMARY KEY,
    subject         TEXT NOT NULL,
    notes           TEXT,
    starts_at       DATETIME NOT NULL,
    ends_at         DATETIME,
    time_zone       TEXT,
    place           TEXT,
    person_id       INTEGER REFERENCES people(person_id)
);
CREATE TABLE tasks (
    task_id    INTEGER PRIMARY KEY,
    title      TEXT NOT NULL,
    details    TEXT,
    due_at     DATETIME,
    state      TEXT NOT NULL DEFAULT 'NEEDS-ACTION',
    priority   INTEGER,
    done_at    DATETIME,
    person_id  INTEGER REFERENCES people(person_id)
);
"""
"""The CRM's appointment and task tables (times in UTC, as the CRM's clock keeps them)."""

GROUPWARE_CONFIG = """
# ------------------------------------------- groupware: the CRM in a folder of files
# The CRM's people, appointments and tasks also live in groupware/: plain .vcf and
# .ics files, one item per file (the vdir layout of vdirsyncer, khard, khal and
# Evolution). Open them in any contacts or calendar application; edits made there come
# back with `syncline sync crm-contacts` (crm-calendar, crm-tasks).
#
# crm-pim is the same crm.db as crm, described for groupware: a person without the
# organisation reference (a vCard's ORG is a company name, not the CRM's org_id).
[endpoints.crm-pim]
connector = "sql"
url = "sqlite:///crm.db"

[endpoints.crm-pim.streams.contact]
table = "people"
key = "person_id"
[endpoints.crm-pim.streams.contact.fields]
name = "full_name"
first_name = "first_name"
last_name = "last_name"
email = "email_address"
phone = "phone"
mobile = "mobile"
title = "job_title"
city = "city"
country = "country"

[endpoints.crm-pim.streams.event]
table = "appointments"
key = "appointment_id"
[endpoints.crm-pim.streams.event.fields]
summary = "subject"
description = "notes"
start = "starts_at"
end = "ends_at"
timezone = "time_zone"
location = "place"

[endpoints.crm-pim.streams.task]
table = "tasks"
key = "task_id"
[endpoints.crm-pim.streams.task.fields]
summary = "title"
description = "details"
due = "due_at"
status = "state"
priority = "priority"
completed = "done_at"

# One folder per stream; the contact stream of a vdir needs no field map.
[endpoints.contacts]
connector = "vdir"
path = "groupware/contacts"
fileext = ".vcf"

[endpoints.calendar]
connector = "vdir"
path = "groupware/calendar"
fileext = ".ics"
streams = ["event"]

[endpoints.tasks]
connector = "vdir"
path = "groupware/tasks"
fileext = ".ics"
streams = ["task"]

[links.crm-contacts]
a = "crm-pim"
b = "contacts"
streams = ["contact"]
match = { contact = ["email"] }

[links.crm-calendar]
a = "crm-pim"
b = "calendar"
streams = ["event"]

[links.crm-tasks]
a = "crm-pim"
b = "tasks"
streams = ["task"]
"""

_LONDON = ZoneInfo("Europe/London")
_MEETINGS = ("Quarterly account review", "Product demo", "Contract renewal call",
             "Onboarding workshop", "Site visit", "Budget planning", "Support escalation")
_TASKS = ("Send the revised quote", "Chase the overdue invoice", "Book the installation team",
          "Update the delivery address", "Prepare the renewal offer",
          "Call back about the order", "Send the product brochure")
_PLACES = ("Video call", "Their office", "Our office, meeting room 2", "Phone")


@dataclass(frozen=True)
class Appointment:
    """A meeting with a person (``person`` indexes the CRM's people, from 0)."""

    subject: str
    notes: str
    starts: datetime
    ends: datetime
    place: str
    person: int


@dataclass(frozen=True)
class Task:
    """A to-do about a person; ``done`` is when it was completed (``None``: open)."""

    title: str
    details: str
    due: datetime
    priority: int
    done: datetime | None
    person: int


def sample_appointments(names: list[str], *, count: int = 24, today: date | None = None,
                        seed: int = 7) -> list[Appointment]:
    """``count`` appointments with the people called ``names`` over the next weeks, on
    working days between 09:00 and 16:00 London time."""
    rng = random.Random(seed)
    start_day = today or date.today()
    found: list[Appointment] = []
    for number in range(count):
        person = (number * 7) % len(names)
        day = start_day + timedelta(days=1 + number % 20)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        local = datetime.combine(day, time(9 + rng.randrange(8), rng.choice((0, 30))),
                                 _LONDON)
        subject = _MEETINGS[number % len(_MEETINGS)]
        found.append(Appointment(f"{subject} with {names[person]}",
                                 f"Agenda: {subject.lower()}; see the CRM for the history.",
                                 local.astimezone(UTC), (local + timedelta(
                                     minutes=rng.choice((30, 45, 60, 90)))).astimezone(UTC),
                                 _PLACES[number % len(_PLACES)], person))
    return found


def sample_tasks(names: list[str], *, count: int = 16, today: date | None = None,
                 seed: int = 11) -> list[Task]:
    """``count`` tasks about the people called ``names``; every fourth one done."""
    rng = random.Random(seed)
    start_day = today or date.today()
    found: list[Task] = []
    for number in range(count):
        person = (number * 11 + 3) % len(names)
        due = datetime.combine(start_day + timedelta(days=rng.randrange(-3, 15)), time(17),
                               _LONDON).astimezone(UTC)
        done = due - timedelta(days=1) if number % 4 == 3 else None
        found.append(Task(f"{_TASKS[number % len(_TASKS)]} ({names[person]})",
                          f"Task {number + 1} of the account team.", due,
                          (1, 5, 9)[number % 3], done, person))
    return found


def _utc_text(moment: datetime | None) -> str | None:
    """How the CRM stores a time: UTC, without offset, to the second."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def build_groupware(crm: Path, *, today: date | None = None) -> dict[str, int]:
    """Add the appointment and task tables to the CRM database ``crm`` (its people must be
    there) and fill them; returns rows per table."""
    db = sqlite3.connect(crm)
    try:
        db.executescript(GROUPWARE_SCHEMA)
        names = [str(row[0]) for row in db.execute(
            "SELECT full_name FROM people ORDER BY person_id")]
        appointments = sample_appointments(names, today=today)
        tasks = sample_tasks(names, today=today)
        db.executemany(
            "INSERT INTO appointments (subject, notes, starts_at, ends_at, time_zone, place, "
            "person_id) VALUES (?, ?, ?, ?, 'Europe/London', ?, ?)",
            [(a.subject, a.notes, _utc_text(a.starts), _utc_text(a.ends), a.place,
              a.person + 1) for a in appointments])
        db.executemany(
            "INSERT INTO tasks (title, details, due_at, state, priority, done_at, person_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(t.title, t.details, _utc_text(t.due),
              "COMPLETED" if t.done is not None else "NEEDS-ACTION", t.priority,
              _utc_text(t.done), t.person + 1) for t in tasks])
        db.commit()
        return {"appointments": len(appointments), "tasks": len(tasks)}
    finally:
        db.close()


@dataclass(frozen=True)
class FolderContents:
    """What one groupware folder holds after a sync."""

    link: str
    stream: str
    folder: Path
    files: int
    example: Path | None


def folder_contents(demo_folder: Path) -> list[FolderContents]:
    """The item files in each groupware folder of the demo in ``demo_folder``."""
    found: list[FolderContents] = []
    for link, (name, stream, fileext) in GROUPWARE_LINKS.items():
        folder = demo_folder / GROUPWARE_FOLDER / name
        files = sorted(path for path in folder.glob(f"*{fileext}")
                       if not path.name.startswith(".")) if folder.is_dir() else []
        found.append(FolderContents(link, stream, folder, len(files),
                                    files[0] if files else None))
    return found
