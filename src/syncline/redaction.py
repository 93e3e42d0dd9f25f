"""Keeping secrets out of everything syncline shows or stores: API responses, logs,
journal rows, run messages, pending items' errors.

Terms:

secret setting
    An endpoint setting whose name says it holds a credential: ``password``, ``secret``,
    ``token``, ``api_key``, ``client_secret``, ``private_key``, ``credentials``, or a name
    ending in one of them (``smtp_password``, ``refresh_token``). Its value is replaced by
    :data:`MASK` (an ``env:NAME`` or ``vault:NAME`` reference is kept: it names where the
    secret is, it is not the secret).
secret parts of a URL
    In any text of the form ``scheme://userinfo@host/path?query``: the password of the
    user-info (``user:password@``; user-info without a password, often a token, is masked
    whole) and the value of every query parameter (``?token=…&sslmode=…``). Each is
    replaced by :data:`MASK`, wherever the URL appears: a setting, a webhook address, a
    log line, an error message (``https://hooks.example.com/hook?token=***``,
    ``postgresql+psycopg://app:***@db/crm?password=***``). :func:`mask_text_urls` is the
    one function that does it; everything shown to people goes through it.
planted text
    :func:`scrub` also removes every value of a secret setting, and every password of a URL,
    from free text (an error message that quoted one: some systems echo the credentials
    they were sent).
store redaction
    :func:`redact_store` makes a state store scrub the text it writes to the tables people
    read (``journal``, ``pending``, ``pending_causes``, ``runs``, ``force_requests``) before
    it reaches the database, so an error message quoting a secret is stored with ``***`` in
    its place.
    Record data (mappings, conflicts) is never touched. A batch is first looked at as a
    whole (its ``repr``, in C); only a batch holding a secret is scrubbed value by value
    (100,000 journal rows: about 0.2 s more with secrets configured, nothing without).

Secrets themselves are kept encrypted at rest by :mod:`syncline.vault`; the state store holds
only argon2 password hashes and SHA-256 digests of API tokens
(:mod:`syncline.state.users_store`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from syncline.config import Config
    from syncline.state.store import StateStore

__all__ = ["MASK", "ScrubbingFilter", "config_secrets", "install_log_scrubbing",
           "is_secret_name", "mask_settings", "mask_text_urls", "redact_store", "scrub",
           "scrub_error", "secret_values"]


MASK = "***"
_REFERENCES = ("env:", "vault:")

_SECRET_NAME = re.compile(
    r"(^|_)(password|passwd|pass|secret|token|api_key|apikey|private_key|credentials?)$",
    re.IGNORECASE)
_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<authority>[^/?#\s\"'<>`]*)"
                  r"(?P<rest>[^\s\"'<>`]*)")
_QUERY_VALUE = re.compile(r"(?P<name>[?&;](?:amp;)?[^=&#;\s\"'<>`]+=)(?P<value>[^&#;\s\"'<>`]+)")
_SENTENCE_END = ".,:!)]"
_URL_SECRET_PARAMETER = re.compile(r"(^|_)(sig|signature|key|code|auth|access)$", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a setting called ``name`` holds a credential (see the module docstring)."""
    return bool(_SECRET_NAME.search(name))


_TOKEN_USERINFO = 16
"""User-info without a password this long or longer is a token (masked), not a user name."""


def _userinfo_secret(authority: str) -> str | None:
    """The secret of a URL's user-info (its password, or a token given as the whole
    user-info), or ``None`` when it has none."""
    if "@" not in authority:
        return None
    userinfo = authority.rsplit("@", 1)[0]
    if ":" in userinfo:
        return userinfo.split(":", 1)[1] or None
    return userinfo if len(userinfo) >= _TOKEN_USERINFO else None


def _mask_query_value(item: re.Match[str]) -> str:
    """``name=***``, keeping punctuation that ends a sentence after the URL."""
    value = item["value"]
    trailing = value[len(value.rstrip(_SENTENCE_END)):]
    return f"{item['name']}{MASK}{trailing}"


def _mask_url(found: re.Match[str]) -> str:
    authority, rest = found["authority"], found["rest"]
    if _userinfo_secret(authority) is not None:
        userinfo, host = authority.rsplit("@", 1)
        user = userinfo.split(":", 1)[0] + ":" if ":" in userinfo else ""
        authority = f"{user}{MASK}@{host}"
    query_at = rest.find("?")
    if query_at >= 0:
        path, query = rest[:query_at], rest[query_at:]
        rest = path + _QUERY_VALUE.sub(_mask_query_value, query)
    return f"{found['scheme']}{authority}{rest}"


def mask_text_urls(text: str) -> str:
    """``text`` with the secret parts of every URL in it (see the module docstring)
    replaced by :data:`MASK`: a user-info password and every query parameter's value."""
    if "://" not in text:
        return text
    return _URL.sub(_mask_url, text)


def _url_secrets(text: str) -> Iterable[str]:
    """The secrets of the URLs in ``text`` worth scrubbing from free text too: user-info
    passwords and the values of query parameters whose names say they are credentials
    (``token``, ``password``, ``sig``, ``key``, …)."""
    for found in _URL.finditer(text):
        userinfo = _userinfo_secret(found["authority"])
        if userinfo:
            yield userinfo
        rest = found["rest"]
        if "?" in rest:
            for item in _QUERY_VALUE.finditer(rest[rest.find("?"):]):
                name = item["name"][1:-1].removeprefix("amp;")
                if is_secret_name(name) or _URL_SECRET_PARAMETER.search(name):
                    yield item["value"]


def mask_settings(value: Any, name: str = "") -> Any:
    """A copy of ``value`` (settings: nested mappings, lists, text) safe to show."""
    if isinstance(value, Mapping):
        return {str(key): mask_settings(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_settings(item, name) for item in value]
    if isinstance(value, str):
        if is_secret_name(name) and not value.startswith(_REFERENCES):
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
        if is_secret_name(name) and not settings.startswith(_REFERENCES) and settings:
            yield settings
        yield from _url_secrets(settings)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with the secret parts of URLs and each of ``secrets`` (non-empty) replaced by
    :data:`MASK`."""
    cleaned = mask_text_urls(text)
    for secret in sorted({item for item in secrets if len(item) >= 4}, key=len, reverse=True):
        cleaned = cleaned.replace(secret, MASK)
    return cleaned


def _resolved(value: Any, name: str = "") -> Any:
    """``value`` with every ``env:NAME`` text replaced by that variable's value and every
    ``vault:NAME`` by that credential (unset or not stored: kept)."""
    if isinstance(value, Mapping):
        return {str(key): _resolved(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_resolved(item, name) for item in value]
    if isinstance(value, str) and value.startswith("env:"):
        return os.environ.get(value[4:], value)
    if isinstance(value, str) and value.startswith("vault:"):
        from syncline.errors import ConfigError
        from syncline.vault import resolve_credential

        try:
            return resolve_credential(value[len("vault:"):])
        except ConfigError:
            return value
    return value


def _vault_values(value: Any) -> Iterable[str]:
    """The stored values of every ``vault:NAME`` reference in ``value`` (settings)."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _vault_values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _vault_values(item)
    elif isinstance(value, str) and value.startswith("vault:"):
        resolved = _resolved(value)
        if resolved != value:
            yield str(resolved)


def config_secrets(config: Config) -> list[str]:
    """Every secret the configuration uses (endpoints, notifications, the state store's
    URL), resolved from the environment and the credentials vault: the values to keep out
    of API responses, logs and the state store."""
    found: list[str] = []
    for endpoint in config.endpoints.values():
        found.extend(secret_values(_resolved(endpoint.settings)))
        found.extend(_vault_values(endpoint.settings))  # whatever is kept there is secret
    found.extend(secret_values(_resolved(dict(config.raw.get("notify", {}) or {}))))
    links = config.raw.get("links", {})
    for link in links.values() if isinstance(links, Mapping) else ():
        if isinstance(link, Mapping):
            found.extend(secret_values(_resolved(dict(link.get("notify", {}) or {}))))
    found.extend(secret_values(_resolved({"state": dict(config.raw.get("state", {}) or {})})))
    return sorted(set(found))


class ScrubbingFilter(logging.Filter):
    """A logging filter that removes ``secrets`` and the secret parts of URLs from every record's
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


def scrub_error(error: BaseException, secrets: Iterable[str]) -> None:
    """Scrub ``secrets`` and the secret parts of URLs from ``error``'s message in place (its
    ``args`` and a ``message`` or ``detail`` text attribute), so whoever shows it shows no
    secret."""
    hidden = list(secrets)
    cleaned = tuple(scrub(item, hidden) if isinstance(item, str) else item
                    for item in error.args)
    if cleaned != error.args:
        error.args = cleaned
    for name in ("message", "detail"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            with contextlib.suppress(AttributeError):  # read-only: nothing to clean there
                setattr(error, name, scrub(value, hidden))


def install_log_scrubbing(secrets: Iterable[str],
                          logger: logging.Logger | None = None) -> ScrubbingFilter:
    """Add a :class:`ScrubbingFilter` for ``secrets`` to every handler of ``logger`` (the
    root logger by default), so records of every logger pass through it; returns it."""
    scrubber = ScrubbingFilter(secrets)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(scrubber)
    return scrubber


# -- store redaction --------------------------------------------------------------------------
_REDACTED_TABLES = re.compile(
    r"^\s*(?:INSERT\s+INTO|UPDATE|COPY)\s+[\"`]?(?:journal|pending|pending_causes|runs|force_requests)[\"`]?[\s(]",
    re.IGNORECASE)


class _StoreRedactor:
    """The secrets one database engine scrubs from what it writes (see :func:`redact_store`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.secrets: frozenset[str] = frozenset()
        self.quick = True

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self.secrets = self.secrets | {item for item in secrets if len(item) >= 4}
            # the quick check looks in repr() of the parameters: only when repr keeps
            # every secret as it is (no quote, backslash or unprintable character)
            self.quick = all(item.isprintable() and not set(item) & {"'", '"', "\\"}
                             for item in self.secrets)

    def _clean(self, parameters: Any, secrets: frozenset[str]) -> bool:
        """Whether ``parameters`` surely hold no secret and no URL with a password."""
        if not self.quick:
            return False
        text = repr(parameters)  # one pass in C over the whole batch
        return "://" not in text and not any(secret in text for secret in secrets)

    def _value(self, value: Any, secrets: frozenset[str]) -> Any:
        if isinstance(value, str) and (any(secret in value for secret in secrets)
                                       or ("://" in value and ("@" in value or "?" in value))):
            return scrub(value, secrets)
        return value

    def _parameters(self, parameters: Any, secrets: frozenset[str]) -> Any:
        if isinstance(parameters, Mapping):
            return {key: self._value(value, secrets) for key, value in parameters.items()}
        if isinstance(parameters, tuple):
            return tuple(self._value(value, secrets) for value in parameters)
        if isinstance(parameters, list):
            return [self._parameters(item, secrets) if isinstance(item, Mapping | tuple | list)
                    else self._value(item, secrets) for item in parameters]
        return parameters

    def before_cursor_execute(self, _connection: Any, _cursor: Any, statement: str,
                              parameters: Any, _context: Any,
                              _executemany: bool) -> tuple[str, Any]:
        secrets = self.secrets
        if not secrets or not parameters or not _REDACTED_TABLES.match(statement) \
                or self._clean(parameters, secrets):
            return statement, parameters
        return statement, self._parameters(parameters, secrets)


_REDACTORS: weakref.WeakKeyDictionary[Engine, _StoreRedactor] = weakref.WeakKeyDictionary()
_REDACTORS_LOCK = threading.Lock()


def redact_store(store: StateStore, secrets: Iterable[str]) -> None:
    """Make ``store`` scrub ``secrets`` (and, once there are any, the secret parts of URLs) from the
    text it writes to the journal, pending items, runs and force requests (see the module
    docstring). Calling it again adds secrets; it never removes any."""
    engine = store.engine
    with _REDACTORS_LOCK:
        redactor = _REDACTORS.get(engine)
        if redactor is None:
            redactor = _REDACTORS[engine] = _StoreRedactor()
            event.listen(engine, "before_cursor_execute", redactor.before_cursor_execute,
                         retval=True)
    redactor.add(secrets)
