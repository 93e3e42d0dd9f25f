"""An address book's sync does not pay for the calendar library: the DAV connector imports
``icalendar`` only when a calendar stream is used (start-up counts; see issue 3)."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(*sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_carddav_leaves_icalendar_unimported() -> None:
    loaded = _modules_after("import syncline.connectors.dav.connector\n"
                            "from syncline.connectors.dav.items import CardCodec\n"
                            "CardCodec('contact').field_names")
    assert "syncline.connectors.dav.connector" in loaded
    assert "icalendar" not in loaded and "syncline.formats.icalendar" not in loaded


def test_a_calendar_brings_icalendar_in_when_used() -> None:
    loaded = _modules_after("from syncline.connectors.dav.items import CalendarCodec\n"
                            "CalendarCodec('event').field_names")
    assert "icalendar" in loaded
