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
    sync_user = "svc-books"          # optional: the account every run of the link is done as
    [links.crm-books.schedules]
    tax_rate = "daily"

sync user
    ``sync_user`` names the one account (a user of ``syncline user``) that a link's runs are
    done as, for systems that require one account to do all syncing: a run nobody asked for
    (schedule, start-up) is recorded as that user's; a run someone asked for is recorded as
    ``<who asked> as <sync user>``.
notifications
    ``[links.NAME.notify]`` says who hears of a failed run (``failed``: it could not
    proceed) or a run with blocking errors (``error``: records could not go and stay
    pending); ``warning`` may be added. E-mail goes through the SMTP server of
    ``[notify.smtp]``; a webhook receives a JSON document signed with HMAC-SHA256 (see
    :mod:`syncline.notify`)::

        [notify.smtp]
        host = "mail.example.com"
        port = 587
        security = "starttls"            # none | starttls | tls
        sender = "syncline@example.com"
        username = "syncline"
        password = "env:SMTP_PASSWORD"

        [links.crm-books.notify]
        on = ["failed", "error"]         # the default
        email = ["ops@example.com"]
        webhook = "https://hooks.example.com/syncline"
        webhook_secret = "env:SYNCLINE_WEBHOOK_SECRET"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_SCHEDULE",
    "LinkNotify",
    "LinkServiceSettings",
    "NotifyEvent",
    "NotifySettings",
    "Schedule",
    "ScheduleKind",
    "ScheduleText",
    "SmtpSecurity",
    "SmtpSettings",
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
        from croniter import croniter  # only cron schedules need it (start-up time)

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
    from croniter import croniter  # only cron schedules need it (start-up time)

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


# -- notifications ------------------------------------------------------------------------------
_NOTIFY_STRICT = ConfigDict(extra="forbid", frozen=True)
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def _check_addresses(value: list[str]) -> list[str]:
    for address in value:
        if not _ADDRESS.match(address):
            raise ValueError(f"{address!r} is not an e-mail address")
    return value


def _check_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value


class SmtpSecurity(StrEnum):
    """How the SMTP connection is protected: ``none``, ``starttls`` (upgrade a plain
    connection, usually port 587) or ``tls`` (TLS from the start, usually port 465)."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class SmtpSettings(BaseModel):
    """``[notify.smtp]``: the mail server notifications (and force logs) are sent through.
    ``password`` is best written ``env:NAME``."""

    model_config = _NOTIFY_STRICT
    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    sender: Annotated[str, AfterValidator(lambda value: _check_addresses([value])[0])]
    username: str | None = None
    password: str | None = None
    security: SmtpSecurity = SmtpSecurity.NONE
    timeout: float = Field(default=30.0, gt=0, le=600)


class NotifySettings(BaseModel):
    """``[notify]``: settings shared by every link's notifications."""

    model_config = _NOTIFY_STRICT
    smtp: SmtpSettings | None = None


class NotifyEvent(StrEnum):
    """Which runs are notified: ``failed`` (could not proceed), ``error`` (finished with
    blocking errors: records that could not go), ``warning`` (finished with warnings)."""

    FAILED = "failed"
    ERROR = "error"
    WARNING = "warning"


class LinkNotify(BaseModel):
    """``[links.NAME.notify]`` (see the module docstring). A webhook needs its
    ``webhook_secret`` (the HMAC-SHA256 key, best written ``env:NAME``)."""

    model_config = _NOTIFY_STRICT
    on: list[NotifyEvent] = Field(default_factory=lambda: [NotifyEvent.FAILED,
                                                           NotifyEvent.ERROR])
    email: Annotated[list[str], AfterValidator(_check_addresses)] = Field(
        default_factory=list)
    webhook: Annotated[str | None, AfterValidator(_check_url)] = None
    webhook_secret: str | None = Field(default=None, min_length=1)
    webhook_timeout: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _check_webhook(self) -> Any:
        if self.webhook is not None and self.webhook_secret is None:
            raise ValueError("webhook_secret is required with webhook (the key its "
                             "HMAC-SHA256 signature is made with)")
        return self
