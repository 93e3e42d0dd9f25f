"""The settings of a ``vdir`` endpoint, checked without touching the folder.

See :mod:`syncline.connectors.vdir.connector` for what each setting means.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches
from typing import Any

from syncline.connectors.vdir.items import CODECS
from syncline.errors import ConfigError

__all__ = ["DEFAULT_STREAM", "SETTINGS", "check_settings", "stream_names"]

SETTINGS = ("path", "fileext", "streams", "page_size", "state_dir")
"""The settings a vdir endpoint knows (besides ``connector``)."""
DEFAULT_STREAM = {".vcf": "contact", ".ics": "event"}
"""The stream a folder holds when ``streams`` is not given, by file extension."""


def stream_names(raw: Any) -> list[str]:
    """The stream names of a ``streams`` setting: a name, a list of names or a table whose
    keys are names; ``[]`` when not given.

    Raises:
        TypeError: the setting is none of these.
    """
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, Mapping | list | tuple):
        return [str(name) for name in raw]
    raise TypeError(type(raw).__name__)


def check_settings(endpoint: str, settings: Mapping[str, Any]) -> None:
    """Check a vdir endpoint's settings.

    Raises:
        ConfigError: naming the offending key (``endpoints.NAME.KEY``): an unknown setting
            (with a suggestion), no ``path``, an unknown ``fileext``, a stream the files
            cannot hold or more than one, a ``page_size`` that is not a whole number >= 1.
    """
    where = f"endpoints.{endpoint}"
    for name in settings:
        if name not in SETTINGS:
            close = get_close_matches(str(name), SETTINGS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown setting '{name}'{hint}; known: {', '.join(SETTINGS)}",
                              key=f"{where}.{name}")
    path = settings.get("path")
    if not isinstance(path, str) or not path.strip():
        raise ConfigError("the folder of the items is required (a path, relative to the "
                          "configuration file)", key=f"{where}.path")
    fileext = settings.get("fileext", ".vcf")
    if fileext not in CODECS:
        raise ConfigError(f"must be one of {', '.join(CODECS)}, not {fileext!r}",
                          key=f"{where}.fileext")
    try:
        names = stream_names(settings.get("streams"))
    except TypeError:
        raise ConfigError("must be a stream name or a list of one",
                          key=f"{where}.streams") from None
    allowed = CODECS[str(fileext)].streams
    if len(names) > 1:
        raise ConfigError(f"a vdir folder holds one stream, not {len(names)}",
                          key=f"{where}.streams")
    if names and names[0] not in allowed:
        raise ConfigError(f"a folder of {fileext} files holds {' or '.join(allowed)}, not "
                          f"'{names[0]}'", key=f"{where}.streams")
    page_size = settings.get("page_size", 500)
    if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
        raise ConfigError("must be a whole number >= 1", key=f"{where}.page_size")
    state_dir = settings.get("state_dir")
    if state_dir is not None and (not isinstance(state_dir, str) or not state_dir.strip()):
        raise ConfigError("must be a folder path", key=f"{where}.state_dir")
