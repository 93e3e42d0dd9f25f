"""Reading a page of raw rows a column at a time.

Terms: a page's **raw rows** are the tuples the driver returns for
:func:`~syncline.connectors.sql.reading`'s columns: the key, the mapped fields in order, then
the ``updated`` column when the stream has one. A page is turned into columns once (one
transposition in C), each column converted with
:func:`~syncline.connectors.sql.coerce.read_column` (its raw types looked at once, one
converter for the whole column), and only then into records or a columnar page. A page that
cannot be read this way (a key or value that cannot be read, lines of documents) gets
``None`` here: the caller reads it row by row, which names the row and column at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from syncline.connectors.sql.binding import BoundStream, KeyColumn
from syncline.connectors.sql.coerce import ColumnKind, read_column
from syncline.model import FieldType, Record, RecordColumns

__all__ = ["column_page", "column_records", "key_column"]

_UNREADABLE = (ValueError, TypeError, ArithmeticError)


def key_column(key: KeyColumn, values: Sequence[Any]) -> list[str]:
    """The canonical keys of a column of raw keys (see
    :meth:`~syncline.connectors.sql.binding.KeyColumn.text`), with one conversion for the
    whole column where its values are all integers, uuids, or text of a text key.

    Raises:
        ValueError: a key is NULL or cannot be read.
    """
    kinds = set(map(type, values))
    if kinds == {int} or kinds == {UUID}:
        return list(map(str, values))
    if kinds == {str} and key.kind is not ColumnKind.UUID:
        return list(values)
    return list(map(key.text, values))


def _converted(bound: BoundStream, rows: Sequence[Any]) \
        -> tuple[list[str], list[Sequence[Any]], Sequence[Any] | None] | None:
    """The keys, the field columns (in field order) and the ``updated`` column (``None``
    without one) of ``rows``, converted; ``None`` when a key or value cannot be read or the
    stream has lines."""
    width = len(bound.fields) + 1 + (bound.updated is not None)
    if bound.lines is not None or not rows or len(rows[0]) != width:
        return None
    columns = list(zip(*rows, strict=True))
    try:
        keys = key_column(bound.key, columns[0])
        values = [read_column(f.spec.type, column)
                  for f, column in zip(bound.fields, columns[1:len(bound.fields) + 1],
                                       strict=True)]
        updated = read_column(FieldType.DATETIME, columns[-1]) \
            if bound.updated is not None else None
    except _UNREADABLE:
        return None
    return keys, values, updated


def column_page(bound: BoundStream, rows: Sequence[Any]) -> RecordColumns | None:
    """``rows`` (in key order) as a columnar page; ``None`` where the page must be read as
    records: the stream has lines or an ``updated`` column (a columnar page holds neither),
    the schema does not prove its keys distinct (or they are loose, see
    :attr:`~syncline.connectors.sql.binding.KeyColumn.loose`), or a value cannot be read."""
    if bound.updated is not None or not bound.key.proven or bound.key.loose:
        return None
    converted = _converted(bound, rows)
    if converted is None:
        return None
    keys, values, _ = converted
    return RecordColumns(keys, tuple(f.name for f in bound.fields), values,
                         distinct_keys=True)  # a proven key, read in order


def column_records(bound: BoundStream, rows: Sequence[Any],
                   changed_at: dict[str, datetime] | None = None) -> list[Record] | None:
    """The records of ``rows``, converted a column at a time; ``updated_at`` from the
    ``updated`` column, else from ``changed_at`` (by canonical key) when given. ``None``
    where the page must be read row by row (see the module docstring)."""
    converted = _converted(bound, rows)
    if converted is None:
        return None
    keys, values, updated = converted
    names = tuple(f.name for f in bound.fields)
    if updated is None and changed_at is not None:
        updated = [changed_at.get(key) for key in keys]
    # every column holds one value per key (made so above): zip without the check, which
    # would cost a keyword argument per record
    fields = zip(*values) if values else ((),) * len(keys)  # noqa: B905
    if updated is None:
        return [Record(key, dict(zip(names, row)))  # noqa: B905
                for key, row in zip(keys, fields)]  # noqa: B905
    return [Record(key, dict(zip(names, row)), updated_at=at)  # noqa: B905
            for key, row, at in zip(keys, fields, updated)]  # noqa: B905
