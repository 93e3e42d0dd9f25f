"""Schedule settings of a link: when the service runs it.

Terms:

schedule
    When a link (or one of its streams) runs by itself. Written as text in the config:

    * ``"every 30m"`` — a fixed interval (``s``, ``m``, ``h``, ``d``; e.g. ``every 90s``,
      ``every 2h``); the default when a link sets none;
    * a five-field cron expression, e.g. ``"*/10 * * * *"`` or ``"0 3 * * mon-fri"``
      (evaluated in UTC), or one of the shorthands ``hourly``, ``daily``, ``weekly``,
      ``monthly`` (also written ``@daily`` ...);
    * ``"manual"`` — never by itself, only when someone asks.
on_startup
    ``on_startup = true`` also runs the link once when ``syncline serve`` starts.
per-stream override
    ``[links.NAME.schedules]`` gives some streams their own schedule (``tax_rate =
    "daily"``, ``invoice = "every 10m"``); the link's ``schedule`` covers the others.

A link's table in ``syncline.toml``::

    [links.crm-books]
    schedule = "every 30m"
    on_startup = true
    [links.crm-books.schedules]
    tax_rate = "daily"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from croniter import croniter
from pydantic import AfterValidator, BaseModel, model_validator

__all__ = [
    "DEFAULT_SCHEDULE",
    "LinkServiceSettings",
    "Schedule",
    "ScheduleKind",
    "ScheduleText",
    "StreamSchedules",
    "parse_schedule",
]

DEFAULT_SCHEDULE = "every 30m"

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|"
                    r"d|days?)$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SHORTHANDS = {
    "hourly": "0 * * * *",
    "daily": "0 0 * * *",
    "weekly": "0 0 * * 0",
    "monthly": "0 0 1 * *",
}


class ScheduleKind(StrEnum):
    INTERVAL = "interval"
    CRON = "cron"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule (see the module docstring). ``text`` is what the config said."""

    kind: ScheduleKind
    text: str
    interval: timedelta | None = None
    cron: str | None = None

    def next_after(self, moment: datetime) -> datetime | None:
        """The first time strictly after ``moment`` this schedule fires (``None``: never).

        An interval fires ``interval`` after ``moment`` (the caller passes the last run's
        start); a cron expression at its next matching minute, in UTC.
        """
        if self.kind is ScheduleKind.MANUAL:
            return None
        if self.kind is ScheduleKind.INTERVAL:
            assert self.interval is not None
            return moment + self.interval
        assert self.cron is not None
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        found = croniter(self.cron, aware.astimezone(UTC)).get_next(datetime)
        assert isinstance(found, datetime)
        return found

    def __str__(self) -> str:
        return self.text


def parse_schedule(text: str) -> Schedule:
    """Parse a schedule written as in the module docstring.

    Raises:
        ValueError: the text is none of the accepted forms (the message lists them).
    """
    value = " ".join(str(text).split())
    lowered = value.lower()
    if lowered == "manual":
        return Schedule(ScheduleKind.MANUAL, value)
    every = _EVERY.match(value)
    if every:
        amount = int(every.group(1))
        seconds = amount * _UNIT_SECONDS[every.group(2)[0].lower()]
        if seconds < 1:
            raise ValueError("an interval must be at least one second")
        return Schedule(ScheduleKind.INTERVAL, value, interval=timedelta(seconds=seconds))
    expression = _SHORTHANDS.get(lowered.removeprefix("@"), value)
    if len(expression.split()) == 5 and croniter.is_valid(expression):
        return Schedule(ScheduleKind.CRON, value, cron=expression)
    raise ValueError(
        "is not a schedule; write 'every 30m' (s, m, h or d), a five-field cron expression "
        "like '*/10 * * * *', hourly / daily / weekly / monthly, or 'manual'")


def _check_schedule(value: str) -> str:
    parse_schedule(value)
    return value


def _check_stream_schedules(value: dict[str, str]) -> dict[str, str]:
    for stream, text in value.items():
        try:
            parse_schedule(text)
        except ValueError as error:
            raise ValueError(f"{stream} = {text!r} {error}") from None
    return value


ScheduleText = Annotated[str, AfterValidator(_check_schedule)]
"""A link's ``schedule`` setting: text checked by :func:`parse_schedule`."""

StreamSchedules = Annotated[dict[str, str], AfterValidator(_check_stream_schedules)]
"""A link's ``schedules`` table: stream name -> schedule text."""


class LinkServiceSettings(BaseModel):
    """What :class:`syncline.config.LinkConfig` (a subclass, which declares the settings
    ``schedule``, ``on_startup`` and ``schedules``) gets from here: the check that overridden
    streams belong to the link, and the parsed schedules. A bad value is a ConfigError
    naming the file, the link's key and the value."""

    if TYPE_CHECKING:
        streams: list[str]
        schedule: str
        on_startup: bool
        schedules: dict[str, str]

    @model_validator(mode="after")
    def _check_streams(self) -> Any:
        streams = list(self.streams)
        for stream in self.schedules:
            if stream not in streams:
                raise ValueError(f"schedules.{stream}: '{stream}' is not one of the link's "
                                 f"streams ({', '.join(streams)})")
        return self

    def parsed_schedule(self) -> Schedule:
        """The link's own schedule (for the streams without an override)."""
        return parse_schedule(self.schedule)

    def stream_schedules(self) -> dict[str, Schedule]:
        """The per-stream overrides, parsed."""
        return {stream: parse_schedule(text) for stream, text in self.schedules.items()}
