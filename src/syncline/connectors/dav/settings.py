"""The settings of a ``carddav`` / ``caldav`` endpoint, checked without connecting.

A settings table looks like::

    connector = "carddav"
    url = "https://dav.example.com/alice/contacts/"  # a collection, or a principal / root
    username = "alice"
    password = "env:DAV_PASSWORD"     # env:NAME reads an environment variable
    verify_tls = true                 # check the server's certificate (default)
    ca_file = "company-ca.pem"        # optional: trust this CA (relative to the config file)
    timeout = 30                      # seconds per request
    multiget_batch_size = 100         # items per addressbook-multiget / calendar-multiget
    incremental = "auto"              # or "sync-collection", "ctag"
    streams = ["contact"]             # carddav: contact, organisation; caldav: event, task
    state_dir = ".syncline/dav"       # optional: where the connector keeps its own state
    retries = { retries = 50, max_wait = 300 }  # optional: the run's retry budget (below)

``streams`` may also be a table giving a stream its own collection::

    [endpoints.calendar.streams.task]
    url = "https://dav.example.com/alice/tasks/"

``state_dir`` is where the connector keeps, per collection, what it needs between runs: the
ETags of its own writes (so they do not come back as changes), the keys of malformed items,
ETag listings for ``ctag`` reading and a receipt per write batch for crash recovery (default:
``.syncline/dav/<endpoint>-<hash of the collection URL>`` in the configuration's folder).

``retries`` tunes how failing requests are tried again (429/503 after their Retry-After,
500/502/504, dropped connections, timeouts): ``retries`` and ``max_wait`` (seconds) are what
one run may spend, ``backoff`` / ``max_backoff`` the first and longest wait, ``attempts`` the
most tries of one request (see :mod:`syncline.connectors.retry`).

``incremental`` chooses how changes are read: ``sync-collection`` (RFC 6578 sync-tokens),
``ctag`` (the collection's getctag, then an ETag listing compared with the last one), or
``auto``: sync-collection where the collection offers it, else ctag.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from syncline.connectors.retry import RetryPolicy, parse_policy
from syncline.errors import ConfigError
from syncline.secret_values import resolve_secret

__all__ = ["DavSettings", "IncrementalMode", "StreamOptions", "parse_settings"]


class IncrementalMode(StrEnum):
    """How changes are read (see the module docstring)."""

    AUTO = "auto"
    SYNC_COLLECTION = "sync-collection"
    CTAG = "ctag"


class StreamOptions(BaseModel):
    """Per-stream settings: the stream's own collection URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str | None = None


class DavSettings(BaseModel):
    """A DAV endpoint's settings (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str
    username: str | None = None
    password: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    timeout: float = Field(30.0, gt=0)
    multiget_batch_size: int = Field(100, ge=1, le=5000)
    incremental: IncrementalMode = IncrementalMode.AUTO
    streams: str | list[str] | dict[str, StreamOptions] | None = None
    state_dir: str | None = None
    retries: dict[str, float] | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    def retry_policy(self, endpoint: str) -> RetryPolicy:
        """The retry policy of the ``retries`` table.

        Raises:
            ConfigError: an unknown setting or a number out of range.
        """
        return parse_policy(self.retries, f"endpoints.{endpoint}.retries")

    def stream_options(self, default: tuple[str, ...]) -> dict[str, StreamOptions]:
        """Stream name -> its options, in the order given (``default`` when not given)."""
        if self.streams is None:
            return {name: StreamOptions() for name in default}
        if isinstance(self.streams, str):
            return {self.streams: StreamOptions()}
        if isinstance(self.streams, list):
            return {name: StreamOptions() for name in self.streams}
        return dict(self.streams)

    def resolved_password(self, endpoint: str) -> str | None:
        """The password, ``env:NAME`` resolved.

        Raises:
            ConfigError: the environment variable is not set.
        """
        if self.password is None:
            return None
        return resolve_secret(self.password, key=f"endpoints.{endpoint}.password")

    def ca_path(self, base_dir: Path) -> Path | None:
        """The CA file, relative paths taken from ``base_dir``."""
        if self.ca_file is None:
            return None
        path = Path(self.ca_file).expanduser()
        return path if path.is_absolute() else base_dir / path


def parse_settings(endpoint: str, settings: Mapping[str, Any],
                   allowed_streams: tuple[str, ...]) -> DavSettings:
    """Check a DAV endpoint's settings.

    Raises:
        ConfigError: naming the offending key (``endpoints.NAME.KEY``): an unknown or missing
            setting, a value of the wrong kind, a stream the connector does not serve.
    """
    where = f"endpoints.{endpoint}"
    try:
        parsed = DavSettings.model_validate(dict(settings))
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]
                            if not str(part).startswith(("str", "list[", "dict[")))
        key = f"{where}.{location}" if location else where
        if first["type"] == "extra_forbidden":
            known = list(DavSettings.model_fields)
            close = get_close_matches(str(first["loc"][-1]), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown setting{hint}; known: {', '.join(known)}",
                              key=key) from None
        raise ConfigError(first["msg"], key=key) from None
    for name in parsed.stream_options(allowed_streams):
        if name not in allowed_streams:
            raise ConfigError(f"this connector serves {' and '.join(allowed_streams)}, not "
                              f"'{name}'", key=f"{where}.streams")
    if not parsed.stream_options(allowed_streams):
        raise ConfigError("name at least one stream", key=f"{where}.streams")
    parsed.retry_policy(endpoint)  # checked now, not when connecting
    return parsed
