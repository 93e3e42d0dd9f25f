"""Schedule settings: the accepted forms, their next times, and the errors for bad ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncline.config import load_config
from syncline.errors import ConfigError
from syncline.service_config import DEFAULT_SCHEDULE, ScheduleKind, parse_schedule

from .support import memory_link

T0 = datetime(2030, 3, 4, 10, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [
    ("every 30m", 1800), ("every 90s", 90), ("every 2h", 7200), ("every 1d", 86400),
    ("Every 10 minutes", 600), ("every 5 sec", 5),
])
def test_intervals(text: str, seconds: int) -> None:
    schedule = parse_schedule(text)
    assert schedule.kind is ScheduleKind.INTERVAL
    assert schedule.next_after(T0) == T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "expected"), [
    ("*/10 * * * *", datetime(2030, 3, 4, 10, 10, tzinfo=UTC)),
    ("0 3 * * *", datetime(2030, 3, 5, 3, 0, tzinfo=UTC)),
    ("daily", datetime(2030, 3, 5, 0, 0, tzinfo=UTC)),
    ("@hourly", datetime(2030, 3, 4, 11, 0, tzinfo=UTC)),
    ("weekly", datetime(2030, 3, 10, 0, 0, tzinfo=UTC)),  # the next Sunday
    ("monthly", datetime(2030, 4, 1, 0, 0, tzinfo=UTC)),
    ("30 8 * * mon-fri", datetime(2030, 3, 5, 8, 30, tzinfo=UTC)),
])
def test_cron_expressions(text: str, expected: datetime) -> None:
    schedule = parse_schedule(text)
    assert schedule.kind is ScheduleKind.CRON
    assert schedule.next_after(T0) == expected


def test_manual_never_fires() -> None:
    assert parse_schedule("manual").next_after(T0) is None


@pytest.mark.parametrize("text", ["sometimes", "every 0m", "every m", "61 * * * *",
                                  "* * * *", "every 3 weeks", ""])
def test_bad_schedules_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(text)


def test_a_link_without_schedule_runs_every_30_minutes(tmp_path: Path) -> None:
    link = load_config(memory_link(tmp_path).path).link("lr")
    assert link.schedule == DEFAULT_SCHEDULE == "every 30m"
    assert link.parsed_schedule().interval == timedelta(minutes=30)
    assert link.on_startup is False
    assert link.stream_schedules() == {}


def test_schedule_settings_load(tmp_path: Path) -> None:
    pair = memory_link(tmp_path, streams=["tax_rate", "contact", "invoice"], link_extra="""\
schedule = "*/15 * * * *"
on_startup = true
[links.lr.schedules]
tax_rate = "daily"
invoice = "every 10m"
""")
    link = load_config(pair.path).link("lr")
    assert link.on_startup is True
    assert link.parsed_schedule().cron == "*/15 * * * *"
    overrides = link.stream_schedules()
    assert overrides["tax_rate"].cron == "0 0 * * *"
    assert overrides["invoice"].interval == timedelta(minutes=10)


@pytest.mark.parametrize(("setting", "expected"), [
    ('schedule = "every fortnight"', "links.lr.schedule: is not a schedule"),
    ('schedule = "99 * * * *"', "links.lr.schedule: is not a schedule"),
    ('[links.lr.schedules]\ncontact = "hourly-ish"', "contact = 'hourly-ish' is not a schedule"),
    ('[links.lr.schedules]\ninvoice = "daily"', "'invoice' is not one of the link's streams"),
])
def test_bad_schedule_is_a_config_error_naming_file_link_and_value(
        tmp_path: Path, setting: str, expected: str) -> None:
    pair = memory_link(tmp_path, link_extra=setting)
    with pytest.raises(ConfigError) as caught:
        load_config(pair.path)
    text = str(caught.value)
    assert text.startswith(f"{pair.path}: links.lr")
    assert expected in text
    value = setting.split('"')[1]
    if "not one of" not in expected:
        assert value in text
