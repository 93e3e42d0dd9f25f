"""Changing a link's schedule while the service runs (``admin``, from the web console or the
REST API): checked, applied to the running scheduler at once, and written to the
configuration file so that it outlives a restart.

Terms: the **schedule** of a link and its per-stream **overrides** are as in
:mod:`syncline.service_config`. The file is edited line by line inside the link's own table
(``[links.NAME]``: the ``schedule`` and ``on_startup`` lines) and its ``[links.NAME.schedules]``
table; the result is parsed again and must say exactly what was asked, else the file is left
as it was and the change holds until the service restarts.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from syncline.config import Config
from syncline.errors import UsageError
from syncline.service.scheduler import Scheduler
from syncline.service.service import SyncService
from syncline.service_config import parse_schedule
from syncline.state.store import StateStore

__all__ = ["ScheduleChange", "change_schedule", "edit_config_text"]


@dataclass(frozen=True)
class ScheduleChange:
    """What :func:`change_schedule` did: ``saved`` says whether the file was written (and
    ``reason`` why not)."""

    link: str
    schedule: str
    on_startup: bool
    overrides: dict[str, str]
    saved: bool
    reason: str | None = None


def _check(text: str, label: str) -> str:
    value = " ".join(text.split())
    try:
        parse_schedule(value)
    except ValueError as error:
        raise UsageError(f"{label}: '{text}' {error}") from None
    return value


def _header(line: str) -> str | None:
    stripped = line.strip()
    if not stripped.startswith("[") or stripped.startswith("[["):
        return None
    inner = stripped.split("#", 1)[0].strip()
    if not inner.endswith("]"):
        return None
    parts = [part.strip().strip('"').strip("'") for part in inner[1:-1].split(".")]
    return ".".join(parts)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def edit_config_text(text: str, link: str, schedule: str, on_startup: bool,
                     overrides: dict[str, str]) -> str:
    """``text`` (a ``syncline.toml``) with the link's schedule settings replaced.

    Raises:
        UsageError: the file has no ``[links.NAME]`` table to edit, or the result does not
            read back as asked.
    """
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    own, table = f"links.{link}", f"links.{link}.schedules"
    out: list[str] = []
    section: str | None = None
    found = False
    setting = re.compile(r"^\s*(schedule|on_startup|schedules)\s*=")
    for line in lines:
        header = _header(line)
        if header is not None:
            section = header
            if header == table:
                continue
            out.append(line)
            if header == own:
                found = True
                out.append(f"schedule = {_toml_string(schedule)}\n")
                out.append(f"on_startup = {'true' if on_startup else 'false'}\n")
            continue
        if section == table or (section == own and setting.match(line)):
            continue
        out.append(line)
    if not found:
        raise UsageError(f"the configuration file has no [links.{link}] table to edit")
    if overrides:
        out.append(f"\n[links.{_quoted(link)}.schedules]\n")
        out.extend(f"{_quoted(stream)} = {_toml_string(value)}\n"
                   for stream, value in overrides.items())
    edited = "".join(out)
    try:
        data = tomllib.loads(edited)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"the edited configuration would not parse: {error}") from None
    back = data.get("links", {}).get(link, {})
    if (back.get("schedule"), bool(back.get("on_startup")), back.get("schedules", {})) != \
            (schedule, on_startup, overrides):
        raise UsageError("the configuration file is written in a form this editor cannot "
                         "change safely")
    return edited


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _toml_string(name)


def _write(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def change_schedule(config: Config, store: StateStore, service: SyncService, link: str,
                    schedule: str, on_startup: bool,
                    overrides: dict[str, str]) -> ScheduleChange:
    """Check, apply to ``service``'s scheduler, and save the link's schedule settings in
    ``config`` and in the file it was read from (``store`` tells when the link last ran).

    Raises:
        UsageError: a schedule is not one, or an override names a stream the link does
            not sync.
        ConfigError: no such link.
    """
    settings = config.link(link)
    schedule = _check(schedule, "schedule")
    clean: dict[str, str] = {}
    settings.check_streams(link, overrides)
    for stream, text in overrides.items():
        if text.strip():
            clean[stream] = _check(text, stream)
    saved, reason = False, None
    path = Path(config.source)
    if path.is_file():
        try:
            edited = edit_config_text(path.read_text(encoding="utf-8"), link, schedule,
                                      on_startup, clean)
        except UsageError as error:
            reason = str(error)
        else:
            _write(path, edited)
            saved = True
    else:
        reason = "the configuration was not read from a file"
    config.links[link] = settings.model_copy(
        update={"schedule": schedule, "on_startup": on_startup, "schedules": clean})

    def last_started(name: str) -> datetime | None:
        runs = store.runs(name, limit=1)
        started = runs[0]["started_at"] if runs else None
        if isinstance(started, datetime):
            return started if started.tzinfo else started.replace(tzinfo=UTC)
        return None

    fresh = Scheduler(config, service.clock, last_started)
    service.scheduler.jobs = [job for job in service.scheduler.jobs if job.link != link] + \
        [job for job in fresh.jobs if job.link == link]
    return ScheduleChange(link, schedule, on_startup, clean, saved, reason)
