"""Loading and checking ``syncline.toml``.

Terms: an **endpoint** is one configured system (``[endpoints.NAME]``: a ``connector`` type
plus its settings); a **link** (``[links.NAME]``) keeps two endpoints in step for some
streams. Relative paths in settings resolve against the config file's folder; a setting
written ``env:NAME`` is read from that environment variable when it is used, one written
``vault:NAME`` from the encrypted credentials vault (``syncline secret set NAME``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from syncline.errors import ConfigError, UsageError
from syncline.model import ENTITY_TYPES
from syncline.plan_types import ConflictPolicy, FirstSyncPolicy, LinkDirection
from syncline.rule_types import XrefTables
from syncline.rules_config import StreamRulesField, check_link_rules, rules_allowed_keys
from syncline.service_config import (
    DEFAULT_SCHEDULE,
    LinkNotify,
    LinkServiceSettings,
    NotifySettings,
    ScheduleText,
    StreamSchedules,
)

__all__ = [
    "Config",
    "EndpointConfig",
    "LinkConfig",
    "StateConfig",
    "StreamOwners",
    "load_config",
    "parse_config",
]


_STRICT = ConfigDict(extra="forbid", frozen=True)
_MAX_DELETE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


class StateConfig(BaseModel):
    model_config = _STRICT
    url: str = "sqlite:///syncline-state.db"


class EndpointConfig(BaseModel):
    """``connector`` plus connector-specific settings (checked by the connector)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    connector: str

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StreamOwners(BaseModel):
    """``[links.NAME.owners.STREAM]``: the fields each side owns. A field owned by a side is
    never written there from the other side; its value flows from the owner only."""

    model_config = _STRICT
    a: list[str] = Field(default_factory=list)
    b: list[str] = Field(default_factory=list)


class LinkConfig(LinkServiceSettings):
    model_config = _STRICT
    a: str
    b: str
    streams: list[str] = Field(min_length=1)
    direction: LinkDirection = LinkDirection.BOTH
    directions: dict[str, LinkDirection] = Field(default_factory=dict)
    """Per stream, a direction that overrides the link's ``direction`` for that stream
    (``[links.NAME.directions] invoice = "a-to-b"``; see :meth:`direction_of`)."""
    conflict: ConflictPolicy = ConflictPolicy.NEWEST
    first_sync: FirstSyncPolicy = FirstSyncPolicy.MERGE
    match: dict[str, list[str]] = Field(default_factory=dict)
    max_delete: str | int = "25%"
    batch_size: int | None = Field(default=None, ge=1, le=100_000)
    """Records per read page and write batch; ``None``: what the two connectors prefer
    (the smaller of their ``preferred_batch_size``)."""
    owners: dict[str, StreamOwners] = Field(default_factory=dict)
    """Per stream, the fields owned by side a and by side b (see :class:`StreamOwners`)."""
    rules: dict[str, StreamRulesField] = Field(default_factory=dict)
    xref: XrefTables = Field(default_factory=dict)
    schedule: ScheduleText = DEFAULT_SCHEDULE
    on_startup: bool = False
    schedules: StreamSchedules = Field(default_factory=dict)
    sync_user: str | None = Field(default=None, min_length=1, max_length=200)
    notify: LinkNotify | None = None

    @field_validator("max_delete")
    @classmethod
    def _check_max_delete(cls, value: str | int) -> str | int:
        if isinstance(value, int):
            if value < 0:
                raise ValueError("must be a number of records (>= 0) or a percentage like '25%'")
            return value
        found = _MAX_DELETE.match(value)
        if not found:
            raise ValueError("must be a number of records or a percentage like '25%'")
        if found.group(2) and float(found.group(1)) > 100:
            raise ValueError("a percentage cannot exceed 100%")
        return value

    def direction_of(self, stream: str) -> LinkDirection:
        """The direction ``stream`` syncs in: its entry in ``directions``, else the link's
        ``direction``."""
        return self.directions.get(stream, self.direction)

    def delete_limit(self, total: int) -> int:
        """How many deletions of a stream holding ``total`` records on a side are allowed."""
        if isinstance(self.max_delete, int):
            return self.max_delete
        found = _MAX_DELETE.match(self.max_delete)
        assert found is not None  # checked by the validator
        number = float(found.group(1))
        return int(total * number / 100) if found.group(2) else int(number)

    def check_streams(self, name: str, streams: Iterable[str]) -> tuple[str, ...]:
        """``streams`` checked against the streams this link (called ``name``) syncs: the
        one place that says "link does not sync STREAM", for every face and the service.

        Returns the streams asked for, each once, in the order given (empty when none
        were given: the caller decides whether that means all of them).

        Raises:
            UsageError: a stream is not one of the link's; the message names the link, the
                unknown streams and the link's streams.
        """
        wanted = tuple(dict.fromkeys(streams))
        unknown = [stream for stream in wanted if stream not in self.streams]
        if unknown:
            raise UsageError(f"link '{name}' does not sync {', '.join(unknown)}; its streams "
                             f"are: {', '.join(self.streams)}")
        return wanted


class _ConfigFile(BaseModel):
    model_config = _STRICT
    state: StateConfig = Field(default_factory=StateConfig)
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)
    links: dict[str, LinkConfig] = Field(default_factory=dict)
    notify: NotifySettings = Field(default_factory=NotifySettings)


@dataclass(frozen=True)
class Config:
    """A checked configuration. ``base_dir`` is the folder relative paths resolve against."""

    state: StateConfig
    endpoints: dict[str, EndpointConfig]
    links: dict[str, LinkConfig]
    base_dir: Path
    source: str = "<config>"
    raw: Mapping[str, Any] = field(default_factory=dict)
    notify: NotifySettings = field(default_factory=NotifySettings)

    def link(self, name: str) -> LinkConfig:
        """The link called ``name``.

        Raises:
            ConfigError: there is no such link (with a suggestion for a misspelt name).
        """
        if name not in self.links:
            raise ConfigError(_unknown("link", name, self.links), key=f"links.{name}",
                              source=self.source)
        return self.links[name]

    def resolve_path(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def resolve_url(self, url: str) -> str:
        """A database URL with a relative SQLite path made absolute against ``base_dir``."""
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") \
                and url != "sqlite:///:memory:":
            rest = url[len(prefix):]
            path, sep, query = rest.partition("?")
            return f"{prefix}{self.resolve_path(path)}{sep}{query}"
        return url


def _suggestion(name: str, options: list[str]) -> str:
    """`` (did you mean 'X'?)`` for the option closest to ``name``, or nothing."""
    close = get_close_matches(name, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _unknown(kind: str, name: str, known: Mapping[str, Any] | list[str], *,
             listed: str = "configured") -> str:
    """``unknown KIND 'NAME' (did you mean ...?); LISTED: options`` for a name not found."""
    options = list(known)
    shown = ", ".join(sorted(options)) or "none"
    return f"unknown {kind} '{name}'{_suggestion(name, options)}; {listed}: {shown}"


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _explain(error: Any, raw: Mapping[str, Any]) -> tuple[str, str]:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    key = _location(loc)
    if error["type"] == "extra_forbidden":
        parent: Any = raw
        for part in loc[:-1]:
            parent = parent.get(part, {}) if isinstance(parent, Mapping) else {}
        allowed = _allowed_keys(loc[:-1])
        name = str(loc[-1])
        close = get_close_matches(name, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return key, f"unknown setting '{name}'{hint}; allowed: {', '.join(allowed)}"
    if error["type"] == "missing":
        return key, "is required but missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    if given is None or isinstance(given, dict):
        return key, message
    hint = ""
    if error["type"] == "enum" and isinstance(given, str):
        choices = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        close = get_close_matches(given, choices, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
    return key, f"{message} (got {given!r}{hint})"


def _allowed_keys(parent: tuple[int | str, ...]) -> list[str]:
    """The settings allowed in the table at ``parent`` (a key path)."""
    in_rules = rules_allowed_keys(parent)
    if in_rules is not None:
        return in_rules
    if parent[:1] == ("state",):
        return list(StateConfig.model_fields)
    if parent[:1] == ("links",) and len(parent) == 2:
        return list(LinkConfig.model_fields)
    if parent[:1] == ("links",) and parent[2:3] == ("owners",) and len(parent) == 4:
        return list(StreamOwners.model_fields)
    if parent[:1] == ("links",) and parent[2:] == ("notify",):
        return list(LinkNotify.model_fields)
    if parent == ("notify",):
        return list(NotifySettings.model_fields)
    if parent == ("notify", "smtp"):
        from syncline.service_config import SmtpSettings

        return list(SmtpSettings.model_fields)
    return list(_ConfigFile.model_fields)


def parse_config(raw: Mapping[str, Any], *, base_dir: Path, source: str = "<config>") -> Config:
    """Check a parsed TOML document.

    Raises:
        ConfigError: the first problem found, naming its key, with a suggestion where a name
            looks misspelt.
    """
    try:
        parsed = _ConfigFile.model_validate(raw)
    except ValidationError as error:
        key, message = _explain(error.errors()[0], raw)
        raise ConfigError(message, key=key, source=source) from None
    config = Config(parsed.state, dict(parsed.endpoints), dict(parsed.links), base_dir, source,
                    raw, parsed.notify)
    _check_references(config)
    _check_notify(config)
    return config


def _with_source(error: ConfigError, source: str) -> ConfigError:
    """``error`` (raised without knowing the file) naming ``source``, its key kept."""
    if error.source is not None:
        return error
    text = str(error)
    if error.key and text.startswith(f"{error.key}: "):
        text = text[len(error.key) + 2:]
    return ConfigError(text, key=error.key, source=source)


def _check_references(config: Config) -> None:
    from syncline.connectors import connector_class

    for name, endpoint in config.endpoints.items():
        key = f"endpoints.{name}.connector"
        try:
            cls = connector_class(endpoint.connector, key=key)
        except ConfigError as error:
            raise _with_source(error, config.source) from None
        except (ImportError, AttributeError) as error:
            raise ConfigError(f"connector '{endpoint.connector}' cannot be loaded: {error}",
                              key=key, source=config.source) from None
        try:
            cls.validate_settings(name, endpoint.settings)
        except ConfigError as error:
            raise _with_source(error, config.source) from None
    for name, link in config.links.items():
        for side in ("a", "b"):
            endpoint_name = getattr(link, side)
            if endpoint_name not in config.endpoints:
                raise ConfigError(_unknown("endpoint", endpoint_name, config.endpoints),
                                  key=f"links.{name}.{side}", source=config.source)
        if link.a == link.b:
            raise ConfigError("a link needs two different endpoints", key=f"links.{name}.b",
                              source=config.source)
        for index, stream in enumerate(link.streams):
            if stream not in ENTITY_TYPES:
                raise ConfigError(_unknown("stream", stream, list(ENTITY_TYPES),
                                           listed="known streams"),
                                  key=f"links.{name}.streams[{index}]", source=config.source)
            for side in ("a", "b"):
                endpoint = config.endpoints[getattr(link, side)]
                declared = endpoint.settings.get("streams")
                if isinstance(declared, Mapping) and declared and stream not in declared:
                    raise ConfigError(
                        f"stream '{stream}' is not configured on endpoint "
                        f"'{getattr(link, side)}' (add [endpoints.{getattr(link, side)}"
                        f".streams.{stream}])",
                        key=f"links.{name}.streams[{index}]", source=config.source)
        for stream, fields in link.match.items():
            if stream not in link.streams:
                raise ConfigError(_not_a_stream(stream, link),
                                  key=f"links.{name}.match.{stream}", source=config.source)
            known = ENTITY_TYPES[stream].fields
            for field_name in fields:
                if field_name not in known:
                    raise ConfigError(_unknown(f"{stream} field", field_name, list(known),
                                               listed="known fields"),
                                      key=f"links.{name}.match.{stream}", source=config.source)
        _check_owners(name, link, config.source)
        _check_directions(name, link, config.source)
        check_link_rules(name, link.streams, link.rules, link.xref, config.source)


def _check_owners(name: str, link: LinkConfig, source: str) -> None:
    """``[links.NAME.owners.STREAM]`` names streams of the link and fields of the stream,
    each field owned by one side only (whether both endpoints map it is checked when the
    link runs: :func:`syncline.engine.owned.owners_policy`).

    Raises:
        ConfigError: naming the key, with a suggestion where a name looks misspelt.
    """
    for stream, owners in link.owners.items():
        key = f"links.{name}.owners.{stream}"
        if stream not in link.streams:
            raise ConfigError(_not_a_stream(stream, link), key=key, source=source)
        known = list(ENTITY_TYPES[stream].fields)
        for side in ("a", "b"):
            for field_name in getattr(owners, side):
                if field_name not in known:
                    raise ConfigError(_unknown(f"{stream} field", field_name, known,
                                               listed="known fields"),
                                      key=f"{key}.{side}", source=source)
        both = sorted(set(owners.a) & set(owners.b))
        if both:
            raise ConfigError(f"field '{both[0]}' is owned by both sides; a field has one "
                              f"owner", key=f"{key}.b", source=source)


def _not_a_stream(stream: str, link: LinkConfig) -> str:
    """The message for a per-stream setting naming a stream the link does not sync."""
    return (f"'{stream}' is not one of the link's streams{_suggestion(stream, link.streams)}; "
            f"its streams: {', '.join(link.streams)}")


def _check_directions(name: str, link: LinkConfig, source: str) -> None:
    """``[links.NAME.directions]`` names streams of the link (each value is checked as a
    direction when the file is read).

    Raises:
        ConfigError: naming the key, with a suggestion where a stream looks misspelt.
    """
    for stream in link.directions:
        if stream not in link.streams:
            raise ConfigError(_not_a_stream(stream, link), key=f"links.{name}.directions.{stream}",
                              source=source)


def _check_notify(config: Config) -> None:
    """E-mail notifications need ``[notify.smtp]``."""
    for name, link in config.links.items():
        if link.notify is not None and link.notify.email and config.notify.smtp is None:
            raise ConfigError("e-mail notifications need the mail server: add [notify.smtp] "
                              "with host and sender", key=f"links.{name}.notify.email",
                              source=config.source)


def load_config(path: str | Path) -> Config:
    """Read and check a config file.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or holds a wrong setting.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {file} not found (create one with 'syncline init')") \
            from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {file}: {error.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"not valid TOML: {error}", source=str(file)) from None
    return parse_config(raw, base_dir=file.resolve().parent, source=str(file))
