"""Converting between column values and canonical values.

Terms:

raw value
    What the database driver returns for a column when SQLAlchemy's type processing is
    bypassed: ``str`` dates in SQLite, ``Decimal`` in PostgreSQL, ``int`` booleans in MariaDB...
canonical value
    See :mod:`syncline.model`: the value a canonical field of a given
    :class:`~syncline.model.FieldType` holds.
column kind
    The family of a reflected column type (:class:`ColumnKind`); it decides what Python value
    is handed to SQLAlchemy when writing.

Readers turn a raw value into the canonical value of a field type; writers turn a canonical
value into what SQLAlchemy binds for one column. Both raise ``ValueError`` or ``TypeError``
for a value they cannot convert; callers turn that into an item error naming the record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from syncline.model import FieldType

__all__ = [
    "ColumnKind",
    "Converter",
    "column_kind",
    "plain_decimal",
    "read_column",
    "reader_for",
    "to_utc",
    "to_uuid",
    "writer_for",
]

Converter = Callable[[Any], Any]

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off", ""})


class ColumnKind(Enum):
    """The family of a column type, as far as conversion is concerned."""

    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TEXT = "text"
    UUID = "uuid"
    """A native uuid column (PostgreSQL ``uuid``, MariaDB ``uuid``): the driver returns and
    takes :class:`uuid.UUID` values; their canonical text is the lowercase hyphenated form."""
    OTHER = "other"


def column_kind(type_: sa.types.TypeEngine[Any]) -> ColumnKind:
    """The kind of a (reflected) column type; ``OTHER`` for untyped SQLite columns and the
    types syncline has no opinion on."""
    if isinstance(type_, sa.Boolean):
        return ColumnKind.BOOLEAN
    if isinstance(type_, sa.Uuid):
        return ColumnKind.UUID
    if isinstance(type_, sa.Integer):
        return ColumnKind.INTEGER
    if isinstance(type_, sa.Float):
        return ColumnKind.FLOAT
    if isinstance(type_, sa.Numeric):
        return ColumnKind.DECIMAL
    if isinstance(type_, sa.DateTime):
        return ColumnKind.DATETIME
    if isinstance(type_, sa.Date):
        return ColumnKind.DATE
    if isinstance(type_, sa.String):
        return ColumnKind.TEXT
    return ColumnKind.OTHER


# -- helpers ---------------------------------------------------------------------------------
def plain_decimal(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and without an exponent (``12.50`` -> ``12.5``,
    ``1E+2`` -> ``100``).

    Raises:
        ValueError: ``value`` is not finite.
    """
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        normal = normal.quantize(Decimal(1))
    return normal


def to_utc(value: datetime) -> datetime:
    """A timezone-aware datetime in UTC; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(plain_decimal(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    return str(value)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return plain_decimal(Decimal(repr(value)))
    if isinstance(value, str | bytes):
        text = value.decode() if isinstance(value, bytes) else value
        try:
            return plain_decimal(Decimal(text.strip()))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    raise TypeError(f"{value!r} is not a number")


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value.strip())
    number = _decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return value != 0
    if isinstance(value, bytes):  # MariaDB BIT(1)
        return int.from_bytes(value, "big") != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError(f"{value!r} is not a yes/no value")


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return to_utc(value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            raise ValueError(f"{value!r} is not a date (expected YYYY-MM-DD)") from None
    raise TypeError(f"{value!r} is not a date")


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return to_utc(datetime.fromisoformat(text))
        except ValueError:
            raise ValueError(f"{value!r} is not a date and time (expected ISO 8601)") from None
    raise TypeError(f"{value!r} is not a date and time")


def _key_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _text(value)


# -- reading ---------------------------------------------------------------------------------
def _optional(convert: Converter) -> Converter:
    def read(value: Any) -> Any:
        return None if value is None else convert(value)
    return read


def _text_or_none(value: Any) -> Any:
    """The common case first: text stays text (one call per value matters for big batches)."""
    if value is None or value.__class__ is str:
        return value
    return _text(value)


_READERS: dict[FieldType, Converter] = {
    FieldType.TEXT: _text_or_none,
    FieldType.INTEGER: _optional(_integer),
    FieldType.DECIMAL: _optional(_decimal),
    FieldType.DATE: _optional(_date),
    FieldType.DATETIME: _optional(_datetime),
    FieldType.BOOLEAN: _optional(_boolean),
    FieldType.REFERENCE: _optional(_key_text),
}


def reader_for(field_type: FieldType) -> Converter:
    """A function turning a raw column value into the canonical value of ``field_type``.

    Raises:
        KeyError: ``field_type`` is ``LINES`` (lines are read from their own table).
    """
    return _READERS[field_type]


_AS_THEY_ARE: dict[FieldType, frozenset[type]] = {
    FieldType.TEXT: frozenset({str}),
    FieldType.INTEGER: frozenset({int}),
    FieldType.DECIMAL: frozenset(),
    FieldType.DATE: frozenset({date}),
    FieldType.DATETIME: frozenset(),
    FieldType.BOOLEAN: frozenset({bool}),
    FieldType.REFERENCE: frozenset({str}),
}
"""The raw value types that are canonical values of a field type already (exact types:
``bool`` is no integer here, ``datetime`` no date)."""

_BY_TYPE: dict[tuple[FieldType, type], Converter] = {
    (FieldType.DECIMAL, Decimal): plain_decimal,
    (FieldType.DECIMAL, int): Decimal,
    (FieldType.DATETIME, datetime): to_utc,
    (FieldType.INTEGER, bool): int,
    (FieldType.REFERENCE, int): str,
    (FieldType.TEXT, int): str,
}
"""The one converter of a field type for a column whose values are all of one raw type
(the driver's type for the column), where it is shorter than the field type's reader."""

_NONE = type(None)


def read_column(field_type: FieldType, values: Sequence[Any]) -> Sequence[Any]:
    """The canonical values of ``field_type`` for one column's raw ``values`` (``None`` stays
    ``None``), equal value for value to :func:`reader_for`'s reader applied to each.

    The column's raw types are looked at once (a set built in C): values already canonical
    (text, integers, booleans, dates as the driver returns them) are handed back as they
    are, a column of one other raw type gets that type's one converter, and only a column
    of mixed types is read value by value with the field type's reader.

    Raises:
        ValueError, TypeError, ArithmeticError: a value cannot be read as ``field_type``.
        KeyError: ``field_type`` is ``LINES``.
    """
    kinds = set(map(type, values))
    kinds.discard(_NONE)
    if kinds <= _AS_THEY_ARE[field_type]:
        return values
    if len(kinds) == 1:
        convert = _BY_TYPE.get((field_type, kinds.pop()))
        if convert is not None:
            return [None if value is None else convert(value) for value in values]
    return list(map(_READERS[field_type], values))


# -- writing ---------------------------------------------------------------------------------
def _naive_utc(value: Any) -> datetime:
    return _datetime(value).replace(tzinfo=None)


def _other(value: Any) -> Any:
    """For columns of no known kind (untyped SQLite columns): values SQLite can store."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return str(plain_decimal(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _float(value: Any) -> float:
    return float(_decimal(value))


def to_uuid(value: Any) -> UUID:
    """``value`` as a :class:`uuid.UUID` (any form :class:`uuid.UUID` reads: hyphenated or
    not, any case, braces).

    Raises:
        ValueError: ``value`` is not a uuid.
    """
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a uuid") from None


def writer_for(field_type: FieldType, column: sa.Column[Any]) -> Converter:
    """A function turning a canonical value of ``field_type`` into what SQLAlchemy binds for
    ``column`` (``int`` for an integer reference column, naive UTC for a ``DATETIME`` column
    without time zone, ISO text for a date kept in a text column...). ``None`` stays ``None``.

    Raises:
        KeyError: ``field_type`` is ``LINES``.
    """
    if field_type is FieldType.LINES:
        raise KeyError(field_type)
    kind = column_kind(column.type)
    convert: Converter
    if kind is ColumnKind.INTEGER:
        convert = _integer
    elif kind is ColumnKind.DECIMAL:
        convert = _decimal
    elif kind is ColumnKind.FLOAT:
        convert = _float
    elif kind is ColumnKind.BOOLEAN:
        convert = _boolean
    elif kind is ColumnKind.DATE:
        convert = _date
    elif kind is ColumnKind.DATETIME:
        timezone = bool(getattr(column.type, "timezone", False))
        convert = _datetime if timezone else _naive_utc
    elif kind is ColumnKind.UUID:
        convert = to_uuid
    elif kind is ColumnKind.TEXT:
        if field_type is not FieldType.REFERENCE:
            return _text_or_none
        convert = _key_text
    else:
        convert = _other
    return _optional(convert)
