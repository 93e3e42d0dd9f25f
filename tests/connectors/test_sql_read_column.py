"""Reading a column at a time (:func:`syncline.connectors.sql.coerce.read_column`): for every
field type and every mix of raw types a driver returns, the values equal what the field
type's reader gives value by value, and a value that cannot be read fails the column."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from syncline.connectors.sql.coerce import read_column, reader_for
from syncline.model import FieldType

RAW: dict[str, list[Any]] = {
    "text": ["a", "", "Zoë 😀", "line\r\n"],
    "int": [0, 7, -3, 10**20],
    "bool": [True, False],
    "decimal": [Decimal("12.5000"), Decimal("-0.0001"), Decimal("1E+3"), Decimal("0.00")],
    "float": [1.5, 2.0, -0.25],
    "whole decimal": [Decimal("12.000"), Decimal("-3"), Decimal("1E+2")],
    "whole float": [2.0, -4.0],
    "date": [date(2024, 2, 29), date(1999, 12, 31)],
    "datetime": [datetime(2024, 3, 1, 12, 0, 3, tzinfo=timezone(timedelta(hours=5))),
                 datetime(2023, 12, 31, 23, 59, 58, 123456),
                 datetime(2024, 1, 1, tzinfo=UTC)],
    "iso": ["2024-03-01", "2024-03-01T12:00:03+05:00", "2024-03-01 12:00:03Z"],
    "numbers": ["12.50", " 7 ", "1e3"],
    "yesno": ["yes", "0", "true", "off"],
    "bytes": [b"ok", b"\x01"],
}

READABLE: dict[FieldType, list[tuple[str, ...]]] = {
    FieldType.TEXT: [("text",), ("int",), ("text", "int", "decimal", "bool"), ("date",),
                     ("datetime",), ("float",), ("bytes", "text")],
    FieldType.INTEGER: [("int",), ("bool",), ("int", "bool"), ("whole decimal",),
                        ("whole float",), ("int", "whole decimal")],
    FieldType.DECIMAL: [("decimal",), ("int",), ("float",), ("decimal", "int")],
    FieldType.BOOLEAN: [("bool",), ("int",), ("yesno",), ("bool", "int", "yesno")],
    FieldType.DATE: [("date",), ("datetime",), ("iso",), ("date", "datetime")],
    FieldType.DATETIME: [("datetime",), ("date",), ("iso",), ("datetime", "date", "iso")],
    FieldType.REFERENCE: [("text",), ("int",), ("text", "int"), ("float",)],
}


def _column(kinds: tuple[str, ...]) -> list[Any]:
    values: list[Any] = [None]
    for kind in kinds:
        values += RAW[kind] + [None]
    return values


@pytest.mark.parametrize(("field_type", "kinds"), [
    (field_type, kinds) for field_type, mixes in READABLE.items() for kinds in mixes])
def test_a_column_reads_as_its_values_do(field_type: FieldType,
                                         kinds: tuple[str, ...]) -> None:
    values = _column(kinds)
    read = reader_for(field_type)
    expected = [read(value) for value in values]
    got = list(read_column(field_type, values))
    assert got == expected
    assert [type(value) for value in got] == [type(value) for value in expected]
    assert [str(value) for value in got] == [str(value) for value in expected]


def test_a_column_of_nothing_but_nulls_stays_as_it_is() -> None:
    values = (None, None)
    assert read_column(FieldType.DECIMAL, values) is values


def test_canonical_columns_are_not_copied() -> None:
    text = ("a", None, "b")
    numbers = (1, 2, None)
    assert read_column(FieldType.TEXT, text) is text
    assert read_column(FieldType.INTEGER, numbers) is numbers


@pytest.mark.parametrize(("field_type", "values"), [
    (FieldType.INTEGER, [1, "x"]),
    (FieldType.DECIMAL, [Decimal("NaN")]),
    (FieldType.DATE, ["31.12.2024"]),
    (FieldType.BOOLEAN, [True, "maybe"]),
    (FieldType.TEXT, ["ok", b"\xff"]),
])
def test_a_value_that_cannot_be_read_fails_the_column(field_type: FieldType,
                                                      values: list[Any]) -> None:
    with pytest.raises((ValueError, TypeError, ArithmeticError)):
        read_column(field_type, values)
