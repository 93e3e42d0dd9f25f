"""The ``sql`` connector's settings: parsing and checking without connecting.

Terms:

stream mapping
    How one canonical stream (``contact``, ``invoice``...) lies in one table: the ``table``,
    its ``key`` column (unique; integer or text), ``fields`` (canonical field -> column), an
    optional ``updated`` column (modification time) and, for documents, a ``lines`` mapping.
lines mapping
    The table holding a document's lines: its ``table``, its ``key`` column, the ``parent``
    column holding the document's key, an optional ``order`` column (line number) and
    ``fields`` (canonical line field -> column).

A settings table looks like::

    url = "sqlite:///crm.db"      # or postgresql+psycopg://..., mysql+pymysql://..., env:NAME
    page_size = 2000              # optional: records per page when reading
    [streams.contact]
    table = "people"
    key = "person_id"
    fields = { name = "full_name", email = "email_address" }
    updated = "modified_at"       # optional
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from syncline.errors import ConfigError
from syncline.model import ENTITY_TYPES, FieldSpec, FieldType
from syncline.secret_values import resolve_secret

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "SUPPORTED_DIALECTS",
    "LinesMapping",
    "SqlSettings",
    "StreamMapping",
    "mask_secrets",
    "parse_settings",
    "resolve_url",
]

DEFAULT_PAGE_SIZE = 2000
SUPPORTED_DIALECTS = ("sqlite", "postgresql", "mysql", "mariadb")
_ENDPOINT_KEYS = ("url", "streams", "page_size")
_STREAM_KEYS = ("table", "key", "fields", "updated", "lines")
_LINES_KEYS = ("table", "key", "parent", "order", "fields")


@dataclass(frozen=True, slots=True)
class LinesMapping:
    """Where a document's lines live (see the module docstring)."""

    table: str
    key: str
    parent: str
    order: str | None
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class StreamMapping:
    """Where one stream lives (see the module docstring). ``fields`` never holds ``lines``."""

    stream: str
    table: str
    key: str
    fields: dict[str, str]
    updated: str | None = None
    lines: LinesMapping | None = None

    @property
    def field_names(self) -> frozenset[str]:
        """The canonical fields read and written, ``lines`` included when mapped."""
        names = set(self.fields)
        if self.lines is not None:
            names.add("lines")
        return frozenset(names)


@dataclass(frozen=True, slots=True)
class SqlSettings:
    """A checked settings table. ``url`` is as written (it may still be ``env:NAME``)."""

    url: str
    streams: dict[str, StreamMapping]
    page_size: int = DEFAULT_PAGE_SIZE


def _suggest(name: str, options: list[str]) -> str:
    close = get_close_matches(name, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for name in table:
        if name not in allowed:
            raise ConfigError(
                f"unknown setting '{name}'{_suggest(str(name), list(allowed))}; "
                f"allowed: {', '.join(allowed)}", key=f"{where}.{name}")


def _text(table: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str | None:
    value = table.get(name)
    if value is None:
        if required:
            raise ConfigError("is required but missing", key=f"{where}.{name}")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"must be a non-empty text (got {value!r})", key=f"{where}.{name}")
    return value


def _table(table: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = table.get(name)
    if value is None:
        raise ConfigError("is required but missing", key=f"{where}.{name}")
    if not isinstance(value, Mapping):
        raise ConfigError(f"must be a table (got {value!r})", key=f"{where}.{name}")
    return value


def _field_map(raw: Mapping[str, Any], known: Mapping[str, FieldSpec], where: str,
               kind: str) -> dict[str, str]:
    """``canonical field -> column`` checked against ``known`` canonical fields."""
    if not raw:
        raise ConfigError("must map at least one field", key=where)
    fields: dict[str, str] = {}
    mapped_by: dict[str, str] = {}
    for name, column in raw.items():
        key = f"{where}.{name}"
        if name not in known or known[name].type is FieldType.LINES:
            options = [n for n, spec in known.items() if spec.type is not FieldType.LINES]
            if name in known:
                raise ConfigError("lines are mapped with a 'lines' table, not as a field",
                                  key=key)
            raise ConfigError(
                f"'{name}' is not a canonical {kind} field{_suggest(name, options)}; "
                f"known: {', '.join(options)}", key=key)
        if not isinstance(column, str) or not column.strip():
            raise ConfigError(f"must be a column name (got {column!r})", key=key)
        if column in mapped_by:
            raise ConfigError(
                f"column '{column}' is already mapped to '{mapped_by[column]}'", key=key)
        mapped_by[column] = name
        fields[name] = column
    return fields


def _parse_lines(stream: str, raw: Any, where: str) -> LinesMapping:
    spec = ENTITY_TYPES[stream]
    if spec.line_fields is None:
        with_lines = sorted(n for n, t in ENTITY_TYPES.items() if t.line_fields is not None)
        raise ConfigError(f"stream '{stream}' has no lines (streams with lines: "
                          f"{', '.join(with_lines)})", key=where)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"must be a table (got {raw!r})", key=where)
    _check_keys(raw, _LINES_KEYS, where)
    table = _text(raw, "table", where)
    key = _text(raw, "key", where)
    parent = _text(raw, "parent", where)
    order = _text(raw, "order", where, required=False)
    assert table is not None and key is not None and parent is not None
    fields = _field_map(_table(raw, "fields", where), spec.line_fields, f"{where}.fields", "line")
    return LinesMapping(table, key, parent, order, fields)


def _parse_stream(endpoint: str, stream: str, raw: Any) -> StreamMapping:
    where = f"endpoints.{endpoint}.streams.{stream}"
    if stream not in ENTITY_TYPES:
        hint = _suggest(stream, list(ENTITY_TYPES))
        raise ConfigError(f"'{stream}' is not a canonical stream{hint}; known: "
                          f"{', '.join(ENTITY_TYPES)}", key=where)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"must be a table (got {raw!r})", key=where)
    _check_keys(raw, _STREAM_KEYS, where)
    table = _text(raw, "table", where)
    key = _text(raw, "key", where)
    updated = _text(raw, "updated", where, required=False)
    assert table is not None and key is not None
    fields = _field_map(_table(raw, "fields", where), ENTITY_TYPES[stream].fields,
                        f"{where}.fields", stream)
    lines = _parse_lines(stream, raw["lines"], f"{where}.lines") if "lines" in raw else None
    return StreamMapping(stream, table, key, fields, updated, lines)


def parse_settings(endpoint: str, settings: Mapping[str, Any]) -> SqlSettings:
    """Check an ``[endpoints.NAME]`` table of connector ``sql`` without connecting.

    Raises:
        ConfigError: naming the offending key (``endpoints.crm.streams.contact.fields.email``),
            with a suggestion where a name looks misspelt.
    """
    where = f"endpoints.{endpoint}"
    _check_keys(settings, _ENDPOINT_KEYS, where)
    url = _text(settings, "url", where)
    assert url is not None
    if not url.startswith(("env:", "vault:")):  # references are resolved when used
        _parse_url(url, f"{where}.url")
    page_size = settings.get("page_size", DEFAULT_PAGE_SIZE)
    if isinstance(page_size, bool) or not isinstance(page_size, int) \
            or not 1 <= page_size <= 100_000:
        raise ConfigError(f"must be a whole number from 1 to 100000 (got {page_size!r})",
                          key=f"{where}.page_size")
    raw_streams = _table(settings, "streams", where)
    if not raw_streams:
        raise ConfigError("must configure at least one stream", key=f"{where}.streams")
    streams = {name: _parse_stream(endpoint, name, raw) for name, raw in raw_streams.items()}
    return SqlSettings(url, streams, page_size)


def _parse_url(text: str, key: str) -> URL:
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError("is not a database URL like 'sqlite:///crm.db' or "
                          "'postgresql+psycopg://user@host/db'", key=key) from None
    backend = url.get_backend_name()
    if backend not in SUPPORTED_DIALECTS:
        raise ConfigError(f"database '{backend}' is not supported; supported: "
                          f"{', '.join(SUPPORTED_DIALECTS)}", key=key)
    return url


def resolve_url(text: str, base_dir: Path, *, key: str) -> URL:
    """The database URL: ``env:NAME`` read, a relative SQLite path made absolute.

    Raises:
        ConfigError: the environment variable is unset or the URL cannot be parsed.
    """
    url = _parse_url(resolve_secret(text, key=key), key)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not url.database.startswith("file:"):
        path = Path(url.database).expanduser()
        if not path.is_absolute():
            url = url.set(database=str(base_dir / path))
    return url


def mask_secrets(text: str, url: URL) -> str:
    """``text`` with the URL's password (plain and URL-encoded) replaced by ``***``."""
    password = url.password
    if not password:
        return text
    from urllib.parse import quote_plus

    for secret in {str(password), quote_plus(str(password))}:
        if secret:
            text = text.replace(secret, "***")
    return text
