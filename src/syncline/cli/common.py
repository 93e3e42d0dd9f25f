"""What every command shares: the ``--config`` option, loading the configuration, opening the
state store, the invoking user, and reading dates given on the command line.

Terms: the **config path** is the ``syncline.toml`` a command works on. It comes from the
command's own ``--config``, else the one given before the command (``syncline --config X
status``), else the ``SYNCLINE_CONFIG`` environment variable, else ``./syncline.toml``.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # loaded by the commands that use them: ``--help`` need not (start-up)
    from syncline.config import Config
    from syncline.service.stores import StateStore

__all__ = [
    "DEFAULT_CONFIG",
    "CliState",
    "ConfigOption",
    "config_path",
    "current_user",
    "load",
    "open_store",
    "parse_since",
    "parse_until",
]

DEFAULT_CONFIG = Path("syncline.toml")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", metavar="PATH", envvar="SYNCLINE_CONFIG",
                 show_default="./syncline.toml", dir_okay=False,
                 help="The configuration file to use."),
]
"""The ``--config PATH`` option every command takes."""


@dataclass
class CliState:
    """What the top-level callback hands to commands through ``ctx.obj``: the ``--config``
    given before the command, and the file a command actually loaded (so that errors
    found later, e.g. by a connector while opening, can name it)."""

    config: Path | None = None
    loaded: Path | None = None


def config_path(ctx: typer.Context, given: Path | None) -> Path:
    """The config path for a command (see the module docstring)."""
    if given is not None:
        return given
    state = ctx.find_object(CliState)
    if state is not None and state.config is not None:
        return state.config
    return DEFAULT_CONFIG


def load(ctx: typer.Context, given: Path | None) -> Config:
    """Load and check the command's configuration.

    Raises:
        ConfigError: the file is missing, not TOML, or holds a wrong setting.
    """
    from syncline.config import load_config

    path = config_path(ctx, given)
    state = ctx.find_object(CliState)
    if state is not None:
        state.loaded = path
    return load_config(path)


@contextmanager
def open_store(config: Config) -> Iterator[StateStore]:
    """The configuration's state store, closed when the block ends (see
    :func:`syncline.service.stores.open_state_store`).

    Raises:
        StateError: the store cannot be opened or migrated.
    """
    from syncline.service.stores import open_state_store

    with open_state_store(config) as store:
        yield store


def current_user() -> str | None:
    """The login name of whoever runs the command, for run records; ``None`` if unknown."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


_DATE_HELP = "an ISO date or date-time, e.g. 2024-03-31 or 2024-03-31T12:00:00+02:00"


def _parse_when(text: str, *, end_of_day: bool) -> datetime:
    """An aware datetime from an ISO date or date-time. A date alone means the start of that
    day (``end_of_day``: its last microsecond); a time without offset is local time.

    Raises:
        typer.BadParameter: the text is neither.
    """
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not {_DATE_HELP}") from None
    if "T" not in value and " " not in value and len(value) <= 10:
        day = date.fromisoformat(value)
        parsed = datetime.combine(day, time.max if end_of_day else time.min)
    return parsed if parsed.tzinfo is not None else parsed.astimezone()


def parse_since(text: str) -> datetime:
    """``--since``: a date means from the start of that day (see :func:`_parse_when`).

    Raises:
        typer.BadParameter: not an ISO date or date-time.
    """
    return _parse_when(text, end_of_day=False)


def parse_until(text: str) -> datetime:
    """``--until``: a date means up to the end of that day, inclusive.

    Raises:
        typer.BadParameter: not an ISO date or date-time.
    """
    return _parse_when(text, end_of_day=True)
