"""Bulk inserts into SQLite through one JSON parameter instead of one bound row at a time.

Python's ``sqlite3.executemany`` binds every row in Python and releases and re-takes the
GIL around each row's step. With a second thread busy (the engine settles the state store
on a background thread while it reads and writes the endpoints), every row then waits for
the GIL, and large inserts crawl. :func:`insert_rows` instead encodes the whole batch as one
JSON array (``json.dumps`` runs in C) and runs a single
``INSERT INTO t (...) SELECT ... FROM json_each(?)``: SQLite walks the array in C, in
order, with the GIL released for the whole statement. The statement has no ``ORDER BY``
(which would sort the whole batch in a temporary B-tree): ``json_each`` visits an array's
elements in their order, and ``tests/test_sqlite_bulk.py`` checks that rows get their
rowids in that order.

The values SQLite receives are the same as with bound parameters: ``str`` arrives as TEXT,
``int`` as INTEGER, ``None`` as NULL and ``bytes`` as a BLOB (bytes travel outside the JSON,
concatenated into one BLOB parameter per column and cut out with ``substr``). Rows holding
anything else (floats, whose decimal round trip SQLite does not promise to be exact, or
other types) are inserted with ``executemany`` as before, and so are texts with NUL
characters, which SQLite's text functions would cut short.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

__all__ = [
    "JSON_INSERT_MIN_ROWS",
    "insert_rows",
    "json_insert",
    "json_insert_columns",
    "json_insert_supported",
]

JSON_INSERT_MIN_ROWS = 64
"""Batches smaller than this are not worth the JSON detour."""

_TEXT_LIKE = frozenset({str, int, type(None)})
_BLOB_LIKE = frozenset({bytes, type(None)})


def json_insert_supported() -> bool:
    """Whether the linked SQLite has the ``->>`` operator (3.38 and later)."""
    return sqlite3.sqlite_version_info >= (3, 38, 0)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _blob_expression(index: int, parameter: int, values: Sequence[bytes | None],
                     position: int) -> tuple[str, bytes, list[Any] | None]:
    """The SELECT expression of bytes column ``index``, its BLOB parameter and, unless all
    values have one length, the ``[offset, length]`` pairs (``None`` for NULL) that go into
    the JSON rows at ``position``."""
    if None not in values:  # the common case, in C: no step per value
        lengths = set(map(len, values))  # type: ignore[arg-type]
        blob = b"".join(values)  # type: ignore[arg-type]
    else:
        lengths = set()
        blob = b"".join(value for value in values if value is not None)
    if len(lengths) == 1:
        width = lengths.pop()
        return f"substr(?{parameter}, json_each.key * {width} + 1, {width})", blob, None
    pairs: list[Any] = []
    offset = 1
    for value in values:
        if value is None:
            pairs.append(None)
        else:
            pairs.append((offset, len(value)))
            offset += len(value)
    return (f"substr(?{parameter}, value->>'$[{position}][0]', value->>'$[{position}][1]')",
            blob, pairs)


def _counting_from(values: Sequence[Any]) -> int | None:
    """The first number when ``values`` are the texts of consecutive integers
    (``str(n)``, ``str(n + 1)``...), else ``None``."""
    first = values[0]
    if type(first) is not str or not first or len(first) > 18:
        return None
    try:
        start = int(first)
    except ValueError:
        return None
    if str(start) != first or not isinstance(values[-1], str) \
            or values[-1] != str(start + len(values) - 1):
        return None
    return start if list(values) == list(map(str, range(start, start + len(values)))) \
        else None


def _encode(columns: Sequence[Sequence[Any]], count: int) \
        -> tuple[list[str], str, list[Any]] | None:
    """The SELECT expressions, the JSON array of the ``count`` rows whose values
    ``columns`` hold (column by column) and the further parameters (from ``?2`` on), or
    ``None`` when a value cannot travel as JSON unchanged.

    A column whose values are all ``None`` becomes ``NULL``, a column of one repeated
    text or integer a bound parameter and a column of consecutive integers written as text
    (``"41"``, ``"42"``...: new rowids as keys) an expression on the row number, so none of
    them travels in the JSON; when a single column is left, the JSON is a flat array and
    each row's value is read without parsing."""
    expressions: list[str | int] = []  # an int: the position of the value in a JSON row
    json_columns: list[Sequence[Any]] = []
    parameters: list[Any] = []
    blobs: dict[int, str] = {}  # the expression of a bytes column given twice, by identity
    for index, values in enumerate(columns):
        if id(values) in blobs:
            expressions.append(blobs[id(values)])
            continue
        kinds = set(map(type, values))
        if kinds == {type(None)}:
            expressions.append("NULL")
        elif kinds <= _TEXT_LIKE:
            first = values[0]
            start = _counting_from(values)
            if first is not None and values.count(first) == count:
                parameters.append(first)
                expressions.append(f"?{1 + len(parameters)}")
            elif start is not None:
                expressions.append(f"CAST(json_each.key + {start} AS TEXT)")
            else:
                expressions.append(len(json_columns))
                json_columns.append(values)
        elif kinds <= _BLOB_LIKE:
            if b"" in values:  # substr cannot cut an empty BLOB out of another
                return None
            expression, blob, pairs = _blob_expression(index, 2 + len(parameters), values,
                                                       len(json_columns))
            expressions.append(expression)
            parameters.append(blob)
            if pairs is not None:
                json_columns.append(pairs)
            else:
                blobs[id(values)] = expression
        else:
            return None
    flat = len(json_columns) == 1 and not any(isinstance(value, list | tuple)
                                              for value in json_columns[0])
    if flat:  # one value per row: SQLite hands each array element over as it is
        payload = json.dumps(list(json_columns[0]), separators=(",", ":"))
    else:
        payload = json.dumps(list(zip(*json_columns, strict=True)) if json_columns else
                             [0] * count, separators=(",", ":"))
    if "\\u0000" in payload:
        return None
    rendered = [expression if isinstance(expression, str)
                else "value" if flat else f"value->>{expression}"
                for expression in expressions]
    return rendered, payload, parameters


def json_insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) \
        -> tuple[str, tuple[Any, ...]] | None:
    """One ``INSERT INTO table (columns) SELECT ... FROM json_each(?)`` statement and its
    parameters that insert ``rows`` in order (see the module docstring), or ``None`` when the
    rows should be inserted with ``executemany`` instead (few rows, an old SQLite, or values
    that cannot travel as JSON unchanged)."""
    if len(rows) < JSON_INSERT_MIN_ROWS:
        return None
    transposed = list(zip(*rows, strict=True))
    if len(transposed) != len(columns):
        return None
    return json_insert_columns(table, columns, transposed)


def json_insert_columns(table: str, columns: Sequence[str],
                        values: Sequence[Sequence[Any]]) -> tuple[str, tuple[Any, ...]] | None:
    """:func:`json_insert` for rows given column by column: ``values[i]`` holds column
    ``i`` of every row (all of the same length)."""
    count = len(values[0]) if values else 0
    if count < JSON_INSERT_MIN_ROWS or len(values) != len(columns) \
            or not json_insert_supported():
        return None
    encoded = _encode(values, count)
    if encoded is None:
        return None
    expressions, payload, parameters = encoded
    names = ", ".join(_quote(column) for column in columns)
    return (f"INSERT INTO {_quote(table)} ({names}) SELECT {', '.join(expressions)} "
            f"FROM json_each(?1)", (payload, *parameters))


def insert_rows(cursor: Any, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """``INSERT INTO table (columns) VALUES (...)`` for every row, in order, through the DBAPI
    ``cursor`` of an SQLite connection: one JSON statement where :func:`json_insert` allows,
    ``executemany`` otherwise.

    Raises:
        sqlite3.Error: the database rejects the insert (as ``executemany`` would).
    """
    if not rows:
        return
    single = json_insert(table, columns, rows)
    if single is None:
        names = ", ".join(_quote(column) for column in columns)
        cursor.executemany(f"INSERT INTO {_quote(table)} ({names}) "
                           f"VALUES ({', '.join('?' * len(columns))})", rows)
        return
    cursor.execute(*single)
