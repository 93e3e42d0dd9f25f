"""Canonical values, canonical text and content hashes: how two records are compared.

Terms:

canonical value
    ``None``, ``str``, ``int``, ``bool``, :class:`~decimal.Decimal`, :class:`~datetime.date`,
    :class:`~datetime.datetime` (timezone-aware) or, for ``lines``, a list of dicts of those.
content hash
    A short digest of the canonical values of a chosen set of fields. Two records with the same
    hash over the same fields hold the same data; the engine compares hashes to suppress echoes.
canonical text
    How text values compare: their line breaks (CRLF, a lone CR, LF) all count as LF, and
    line breaks before or after the text are ignored. vCard and iCalendar carry a line
    break only as ``\\n`` and their readers and writers trim values, so a CRM's
    ``"a\\r\\nb\\r\\n"`` comes back from a card as ``"a\\nb"``: the same text, which must not
    be written back. Spaces and tabs count everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from operator import itemgetter, methodcaller
from typing import Any

__all__ = ["canonical_text", "canonical_value", "column_hashes", "content_hash",
           "content_hashes", "field_token"]


def canonical_value(value: Any) -> Any:
    """Normalise a canonical value for comparison and hashing.

    Empty strings count as ``None``; text is canonical text (see the module docstring);
    decimals lose trailing zeros; integral floats become
    ints; datetimes become ISO text in UTC to the second (naive ones are taken as they are;
    many systems keep no fractions of a second), dates ISO text; lines become tuples of
    sorted items.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        normal = value.normalize()
        return int(normal) if normal == normal.to_integral_value() else str(normal)
    if isinstance(value, float):
        return int(value) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo is not None else value
        return moment.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return tuple(canonical_value(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, canonical_value(item)) for key, item in value.items()
                            if item not in (None, "")))
    if type(value) is str and _needs_canonical_text(value):
        return canonical_text(value)
    return value


def _needs_canonical_text(value: str) -> bool:
    """Whether ``value`` is not yet :func:`canonical_text` (``strip`` gives the very same
    object back when there is nothing to strip)."""
    return "\r" in value or value.strip("\n") is not value


def canonical_text(value: str) -> str | None:
    """``value`` as canonical text (see the module docstring); ``None`` when nothing is
    left."""
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    return text or None


def content_hash(fields: Mapping[str, Any], names: tuple[str, ...]) -> bytes:
    """A 12-byte digest of ``fields`` restricted to ``names`` (in that order).

    ``names`` must be sorted the same way for both sides of a link; the engine passes the
    link's shared field names, sorted.
    """
    values = [value if _is_canonical(value) else canonical_value(value)
              for value in map(fields.get, names)]
    return _blake2b(repr(values).encode(), digest_size=12).digest()


def content_hashes(field_maps: Iterable[Mapping[str, Any]],
                   names: tuple[str, ...]) -> list[bytes]:
    """:func:`content_hash` of each of ``field_maps``, equal to it digest for digest, with
    less work per record (for pages of thousands)."""
    digests: list[bytes] = []
    append = digests.append
    blake2b = _blake2b
    plain = _PLAIN
    pick = itemgetter(*names) if len(names) > 1 else None  # one or no name: no tuple
    for fields in field_maps:
        try:
            values = list(pick(fields)) if pick is not None else [fields[n] for n in names]
        except KeyError:  # a field this record lacks counts as None
            values = [fields.get(name) for name in names]
        for value in values:
            if type(value) not in plain or value == "":
                values = [item if _is_canonical(item) else canonical_value(item)
                          for item in values]
                break
        text = repr(values)
        if "\\" in text and _may_hold_line_breaks_to_canonicalise(text):
            text = repr([item if _is_canonical(item) else canonical_value(item)
                         for item in values])
        append(blake2b(text.encode(), digest_size=12).digest())
    return digests


def column_hashes(columns: Sequence[Sequence[Any]], count: int) -> list[bytes]:
    """:func:`content_hash` of each of ``count`` records whose values, in the order of the
    hash's field names, are ``columns[0][n]``, ``columns[1][n]``... (digest for digest the
    same as :func:`content_hash`). Columns of text, integers and ``None`` only (the common
    case) are hashed without a Python step per record."""
    if not columns:
        return [content_hash({}, ())] * count
    rows: Iterable[Sequence[Any]] = zip(*columns, strict=True) if len(columns) > 1 \
        else zip(columns[0])
    if all(_plain_canonical_column(column) for column in columns):  # canonical as they are
        # the text of repr(list(row)), formatted straight from the row
        text_of = ("[" + ", ".join(["%r"] * len(columns)) + "]").__mod__
        return list(map(_DIGEST, map(_TWELVE_BYTE_BLAKE2B, map(str.encode, map(
            text_of, rows)))))
    return [_blake2b(repr([value if _is_canonical(value) else canonical_value(value)
                           for value in row]).encode(),
                     digest_size=12).digest() for row in rows]


def _may_hold_line_breaks_to_canonicalise(text: str) -> bool:
    """Whether the ``repr`` of a list of values may hold a text with a CR, or one that
    starts or ends with a line break (see :func:`canonical_text`); never ``False`` when it
    does (``repr`` writes them ``\\r``, ``'\\n``, ``\\n'``, or with double quotes)."""
    return "\\r" in text or "'\\n" in text or "\\n'" in text or '"\\n' in text \
        or '\\n"' in text


def _is_canonical(value: Any) -> bool:
    """Whether ``value`` is hashed as it is: an int, or a non-empty canonical text."""
    kind = type(value)
    if kind is str:
        return value != "" and not _needs_canonical_text(value)
    return kind is int


def _plain_canonical_column(column: Sequence[Any]) -> bool:
    """Whether ``column`` holds only texts, ints and ``None``, no empty text, and every
    text is canonical text, found in passes of C code over the column and over its texts
    joined (one Python step per column, not per value); a column mixing texts and ints
    answers ``False`` (the slow way)."""
    kinds = set(map(type, column))
    if not kinds <= _PLAIN_OR_NONE or "" in column:
        return False
    if str not in kinds:
        return True
    if int in kinds:
        return False
    joined = "\x00".join(filter(None, column))  # a text holding a NUL may answer False
    return "\r" not in joined and "\x00\n" not in joined and "\n\x00" not in joined \
        and not joined.startswith("\n") and not joined.endswith("\n")


_PLAIN = frozenset((str, int))
_PLAIN_OR_NONE = frozenset((str, int, type(None)))
_blake2b = hashlib.blake2b
_TWELVE_BYTE_BLAKE2B = partial(hashlib.blake2b, digest_size=12)
_DIGEST = methodcaller("digest")


def field_token(value: Any) -> str:
    """A short text standing for one canonical value: equal tokens mean equal values.

    Mappings keep one per field as the last synced snapshot, for the merge policy.
    """
    return repr(canonical_value(value))
