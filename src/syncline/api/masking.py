"""Keeping secrets out of what the API returns.

Terms:

secret setting
    An endpoint setting whose name says it holds a credential: ``password``, ``secret``,
    ``token``, ``api_key``, ``client_secret``, ``private_key``, ``credentials``, or a name
    ending in one of them (``smtp_password``, ``refresh_token``). Its value is replaced by
    :data:`MASK` (an ``env:NAME`` reference is kept: it names a variable, not a value).
URL with a password
    Any text value of the form ``scheme://user:password@host...``; the password is replaced
    by :data:`MASK`.
planted text
    :func:`scrub` also removes every value of a secret setting, and every password of a URL,
    from free text (an error message that quoted one).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from syncline.config import Config

__all__ = ["MASK", "ScrubbingFilter", "config_secrets", "is_secret_name", "mask_settings",
           "mask_text_urls", "scrub", "secret_values"]

MASK = "***"

_SECRET_NAME = re.compile(
    r"(^|_)(password|passwd|pass|secret|token|api_key|apikey|private_key|credentials?)$",
    re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)(?P<password>[^@\s/]+)"
                           r"(?P<tail>@)")


def is_secret_name(name: str) -> bool:
    """Whether a setting called ``name`` holds a credential (see the module docstring)."""
    return bool(_SECRET_NAME.search(name))


def mask_text_urls(text: str) -> str:
    """``text`` with the password of every URL in it replaced by :data:`MASK`."""
    return _URL_PASSWORD.sub(lambda found: f"{found['head']}{MASK}{found['tail']}", text)


def mask_settings(value: Any, name: str = "") -> Any:
    """A copy of ``value`` (settings: nested mappings, lists, text) safe to show."""
    if isinstance(value, Mapping):
        return {str(key): mask_settings(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_settings(item, name) for item in value]
    if isinstance(value, str):
        if is_secret_name(name) and not value.startswith("env:"):
            return MASK
        return mask_text_urls(value)
    if is_secret_name(name) and value is not None:
        return MASK
    return value


def secret_values(settings: Any, name: str = "") -> Iterable[str]:
    """Every secret (see the module docstring) held in ``settings``, as text."""
    if isinstance(settings, Mapping):
        for key, item in settings.items():
            yield from secret_values(item, str(key))
    elif isinstance(settings, list | tuple):
        for item in settings:
            yield from secret_values(item, name)
    elif isinstance(settings, str):
        if is_secret_name(name) and not settings.startswith("env:") and settings:
            yield settings
        for found in _URL_PASSWORD.finditer(settings):
            yield found["password"]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with URL passwords and each of ``secrets`` (non-empty) replaced by
    :data:`MASK`."""
    cleaned = mask_text_urls(text)
    for secret in sorted({item for item in secrets if len(item) >= 4}, key=len, reverse=True):
        cleaned = cleaned.replace(secret, MASK)
    return cleaned


def _resolved(value: Any, name: str = "") -> Any:
    """``value`` with every ``env:NAME`` text replaced by that variable's value (unset: kept)."""
    if isinstance(value, Mapping):
        return {str(key): _resolved(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_resolved(item, name) for item in value]
    if isinstance(value, str) and value.startswith("env:"):
        return os.environ.get(value[4:], value)
    return value


def config_secrets(config: Config) -> list[str]:
    """Every secret the configuration's endpoints use, resolved from the environment: the
    values to keep out of API responses and logs."""
    found: list[str] = []
    for endpoint in config.endpoints.values():
        found.extend(secret_values(_resolved(endpoint.settings)))
    found.extend(secret_values(_resolved(dict(config.raw.get("notify", {}) or {}))))
    return sorted(set(found))


class ScrubbingFilter(logging.Filter):
    """A logging filter that removes ``secrets`` and URL passwords from every record's
    message (install it on handlers, so records of every logger pass through it)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if scrub(text, self.secrets) != text:  # the trace would quote it: drop the trace
                record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__}; details "\
                             "withheld: they hold a secret)"
                record.exc_info, record.exc_text = None, None
        return True
