"""Reading records: whole tables in key order, chosen keys, and lines with their documents.

Terms: a **page** is a list of at most ``page_size`` records; **raw columns** are selected
with SQLAlchemy's type processing switched off, so that every value reaches the readers of
:mod:`~syncline.connectors.sql.coerce` exactly as the driver returns it (and a value that
cannot be read is reported with its record instead of failing the whole page).

Full reads are streamed on PostgreSQL and on MariaDB's InnoDB tables (one query, its rows
fetched a page at a time; see :mod:`~syncline.connectors.sql.streamed`), elsewhere read
with keyset pagination (``WHERE key > last ORDER BY key LIMIT page_size``: one short query
per page on the key's index, and no transaction open while the caller works on a page).
Memory stays flat however big the table either way.

Values are converted a column at a time (:func:`~syncline.connectors.sql.coerce.read_column`):
the raw types of a page's column are looked at once, and a column that is canonical as the
driver returns it (text, integers, booleans, dates) is not touched value by value.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import NullType

from syncline.connectors.base import ReadScope
from syncline.connectors.sql import streamed
from syncline.connectors.sql.binding import BoundLines, BoundStream
from syncline.connectors.sql.coerce import (
    Converter,
    reader_for,
    writer_for,
)
from syncline.connectors.sql.columns import column_page, column_records
from syncline.connectors.sql.keys import count_keyless, unique_rows
from syncline.errors import ItemError, MalformedRecord, UsageError
from syncline.model import FieldType, Record, RecordColumns

__all__ = [
    "IN_CHUNK",
    "chunks",
    "fetch_records",
    "in_key_range",
    "key_bounds",
    "key_in",
    "read_all",
    "read_all_columnar",
    "read_keys",
    "updated_clause",
]

_Page = TypeVar("_Page")

IN_CHUNK = 1000
"""Most values bound into one ``IN (...)`` list (well under every supported parameter limit)."""

_read_datetime = reader_for(FieldType.DATETIME)


_TEXT = reader_for(FieldType.TEXT)
"""The reader of text fields: the fast path of :func:`_records` skips it for ``str``."""

def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _fetch(conn: Connection, query: sa.Select[Any]) -> list[Any]:
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def fetch_plain(conn: Connection, query: sa.Select[Any]) -> list[Any]:
    """Every row of ``query`` as the driver's own tuples. The queries of this module select
    raw columns (no type processing), so SQLAlchemy's row objects would only add cost: the
    rows are taken from the DBAPI cursor directly.

    SQLite refuses a whole query when one text value is not valid UTF-8 ("Could not decode
    to UTF-8 column ..."). Then the query is run again with text read as bytes, and every
    value that decodes is turned back into text; the others stay ``bytes``, which the
    readers of :mod:`~syncline.connectors.sql.coerce` refuse for that one record (see
    :func:`_records`), so one bad row does not stop the page.
    """
    try:
        return _fetch(conn, query)
    except (sa.exc.OperationalError, sqlite3.OperationalError) as error:
        # raised by the DBAPI cursor itself while fetching, or wrapped by SQLAlchemy when
        # the first row comes with the query
        if conn.dialect.name != "sqlite" or "could not decode" not in str(error).lower():
            raise
    raw: Any = conn.connection.dbapi_connection
    previous = raw.text_factory
    raw.text_factory = bytes
    try:
        rows = _fetch(conn, query)
    finally:
        raw.text_factory = previous
    return [tuple(_decoded(value) for value in row) for row in rows]


def _decoded(value: Any) -> Any:
    """A value read by :func:`fetch_plain`'s fallback: text again when it is UTF-8."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def _raw(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    return sa.type_coerce(column, NullType())


def _columns(bound: BoundStream) -> list[sa.ColumnElement[Any]]:
    """Key, mapped fields, then the ``updated`` column (when configured), all raw."""
    columns = [_raw(bound.key.column)] + [_raw(f.column) for f in bound.fields]
    if bound.updated is not None:
        columns.append(_raw(bound.updated))
    return columns


def key_bounds(bound: BoundStream, scope: ReadScope) -> tuple[Any, Any]:
    """The scope's key range in the key column's own type (``None`` where open).

    Raises:
        UsageError: a bound cannot be a key of this column (``"abc"`` for an integer key).
    """
    values: list[Any] = []
    for given in (scope.from_key, scope.to_key):
        if given is None:
            values.append(None)
            continue
        try:
            values.append(bound.key.native(given))
        except ValueError:
            raise UsageError(f"key range bound '{given}' is not a valid {bound.key.name} of "
                             f"{bound.table.name} ({bound.key.kind.value} key)") from None
    return values[0], values[1]


def in_key_range(bound: BoundStream, key: str, low: Any, high: Any) -> bool:
    """Whether canonical ``key`` lies within ``low..high`` (from :func:`key_bounds`)."""
    if low is None and high is None:
        return True
    value = bound.key.sort_value(key)
    if value is None:
        return False
    return not ((low is not None and value < low) or (high is not None and value > high))


def updated_clause(bound: BoundStream, since: datetime | None,
                   until: datetime | None) -> list[sa.ColumnElement[bool]]:
    """Conditions keeping rows whose ``updated`` column lies within ``since..until``; none
    when the stream has no ``updated`` column (dates are then ignored)."""
    column = bound.updated
    if column is None:
        return []
    clauses: list[sa.ColumnElement[bool]] = []
    for value, is_low in ((since, True), (until, False)):
        if value is None:
            continue
        if bound.dialect == "sqlite":  # ISO text in any form SQLite reads, as points in time
            utc = _read_datetime(value).replace(tzinfo=None).isoformat(" ")
            left: sa.ColumnElement[Any] = sa.func.julianday(_raw(column))
            right: Any = sa.func.julianday(utc)
        else:
            left, right = column, writer_for(FieldType.DATETIME, column)(value)
        clauses.append(left >= right if is_low else left <= right)
    return clauses


def _read(bound: BoundStream, key: str, column: sa.Column[Any], convert: Any,
          value: Any) -> Any:
    try:
        return convert(value)
    except (ValueError, TypeError, ArithmeticError) as error:
        raise MalformedRecord(f"{bound.describe_key(key)}: column {column.name} holds "
                              f"{value!r}: {error}", stream=bound.name, key=key) from None


def fetch_lines(conn: Connection, bound: BoundStream, lines: BoundLines,
                parents: Sequence[Any], problems: list[ItemError] | None = None) \
        -> dict[str, list[dict[str, Any]]]:
    """The lines of the documents with (native) keys ``parents``, by canonical parent key,
    each list in line order. A document with a line that cannot be read is left out, with
    its error appended to ``problems``.

    Raises:
        MalformedRecord: a line cannot be read and ``problems`` is ``None``.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    bad: set[str] = set()
    columns = [_raw(lines.parent)] + [_raw(f.column) for f in lines.fields]
    order = [lines.parent] + ([lines.order] if lines.order is not None else []) \
        + [lines.key.column]
    for part in chunks(parents):
        query = sa.select(*columns).where(lines.parent.in_(part)).order_by(*order)
        for row in fetch_plain(conn, query):
            parent = bound.key.text(row[0])
            if parent in bad:
                continue
            try:
                line = {f.name: _read(bound, parent, f.column, f.read, value)
                        for f, value in zip(lines.fields, row[1:], strict=True)}
            except MalformedRecord as error:
                if problems is None:
                    raise
                problems.append(error)
                bad.add(parent)
                found.pop(parent, None)
                continue
            found.setdefault(parent, []).append(line)
    for parent in bad:
        found[parent] = _UNREADABLE
    return found


_UNREADABLE: list[dict[str, Any]] = []
"""The lines :func:`fetch_lines` gives a document with a line it could not read (compared by
identity: such a document is left out)."""


def _columnar(conn: Connection | None, bound: BoundStream, rows: Sequence[Any],
              problems: list[ItemError] | None = None) -> list[Record] | RecordColumns:
    """``rows`` as a columnar page where they can be one (see
    :func:`~syncline.connectors.sql.columns.column_page`), else as records (see
    :func:`_records` for ``problems``)."""
    page = column_page(bound, rows)
    if page is None:
        return _records(conn, bound, rows, problems=problems)
    return page


def _records(conn: Connection | None, bound: BoundStream, rows: Sequence[Any],
             changed_at: dict[str, datetime] | None = None,
             problems: list[ItemError] | None = None) -> list[Record]:
    """The records of ``rows`` (raw rows of :func:`_columns`); ``conn`` reads the lines of
    documents (it may be ``None`` for a stream without lines). With ``problems`` given, a
    row that cannot be read (a NULL or duplicated key where the schema does not rule them
    out, a value that cannot be read as its field's type, such as text that is not UTF-8)
    is left out with its error appended there; without, the first such row raises.

    Raises:
        MalformedRecord: a row cannot be read and ``problems`` is ``None``.
    """
    if problems is not None and not bound.key.proven:
        rows = unique_rows(bound, rows, problems)
    lines: dict[str, list[dict[str, Any]]] = {}
    if bound.lines is not None and rows:
        if conn is None:
            raise ValueError("the lines of documents are read through a connection")
        lines = fetch_lines(conn, bound, bound.lines, [row[0] for row in rows], problems)
    converted = column_records(bound, rows, changed_at)
    if converted is not None:  # the common page: converted a column at a time
        return converted
    records: list[Record] = []
    names = [f.name for f in bound.fields]
    texts = [f.name for f in bound.fields if f.read is _TEXT]
    others = [(f.name, f.read) for f in bound.fields if f.read is not _TEXT]
    for row in rows:
        try:
            record = _record(bound, row, names, texts, others, lines, changed_at)
        except MalformedRecord as error:
            if problems is None:
                raise
            problems.append(error)
            continue
        if record is not None:
            records.append(record)
    return records


def _record(bound: BoundStream, row: Sequence[Any], names: list[str], texts: list[str],
            others: list[tuple[str, Converter]], lines: dict[str, list[dict[str, Any]]],
            changed_at: dict[str, datetime] | None) -> Record | None:
    """The record of one raw row; ``None`` when its lines could not be read (their error is
    noted already).

    Raises:
        MalformedRecord: the key or a value cannot be read, naming the row and the column.
    """
    count = len(names)
    try:
        key = bound.key.text(row[0])
    except ValueError as error:
        raise MalformedRecord(f"a row in {bound.table.name}: its key {bound.key.name} holds "
                              f"{row[0]!r}: {error}", stream=bound.name) from None
    # fast path: text stays text, only other values are converted; on a failure the
    # slow path names the column and value that cannot be read
    fields = dict(zip(names, row[1:count + 1], strict=True))
    try:
        for name in texts:
            value = fields[name]
            if value is not None and value.__class__ is not str:
                fields[name] = _TEXT(value)
        for name, convert in others:
            fields[name] = convert(fields[name])
    except (ValueError, TypeError, ArithmeticError):
        fields = {f.name: _read(bound, key, f.column, f.read, value)
                  for f, value in zip(bound.fields, row[1:count + 1], strict=True)}
    if bound.lines is not None:
        found = lines.get(key, [])
        if found is _UNREADABLE:
            return None
        fields["lines"] = found
    updated_at = None
    if bound.updated is not None:
        updated_at = _read(bound, key, bound.updated, _read_datetime, row[count + 1])
    elif changed_at is not None:
        updated_at = changed_at.get(key)
    return Record(key, fields, updated_at=updated_at)


def key_in(bound: BoundStream, natives: Sequence[Any],
           dialect: str = "") -> sa.ColumnElement[bool]:
    """The condition selecting the rows whose key is one of ``natives`` (see
    :func:`column_among` for ``dialect``): in a column without a type
    (:attr:`~syncline.connectors.sql.binding.KeyColumn.loose`), each number in both its
    integer and text forms, so that a key held by two rows is seen as such."""
    key = bound.key
    if not key.loose:
        return column_among(key.column, natives, dialect)
    return key.column.in_([form for native in natives for form in key.forms(native)])


def column_among(column: sa.ColumnElement[Any], values: Sequence[Any],
                 dialect: str) -> sa.ColumnElement[bool]:
    """``column`` is one of ``values``: on PostgreSQL (``dialect``) ``= ANY`` one array of
    the column's own type (integer, text, ``citext`` or ``uuid`` without a collation of
    its own, so that the array compares as the column does), elsewhere ``IN (…)``. An
    ``IN`` list of a thousand values costs SQLAlchemy and the driver a placeholder each to
    render and parse (a tenth of a re-sync of 10,000 changed rows); the array is one
    parameter."""
    kind = column.type
    if dialect == "postgresql" and isinstance(kind, sa.Integer | sa.String | sa.Uuid) \
            and not isinstance(kind, sa.Enum) \
            and getattr(kind, "collation", None) is None:
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam("syncline_keys_", list(values),
                                              type_=ARRAY(column.type)))
    return column.in_(values)


def fetch_records(conn: Connection, bound: BoundStream, natives: Sequence[Any],
                  changed_at: dict[str, datetime] | None = None,
                  problems: list[ItemError] | None = None) -> list[Record]:
    """The current records with (native) keys ``natives`` (one query per chunk of
    :data:`IN_CHUNK` keys); keys with no row are left out. ``changed_at`` supplies
    ``updated_at`` for streams without an ``updated`` column; see :func:`_records` for
    ``problems`` (a key held by two rows is left out with an error there).

    Raises:
        MalformedRecord: a row cannot be read and ``problems`` is ``None``.
    """
    records: list[Record] = []
    for part in chunks(natives):
        query = sa.select(*_columns(bound)).where(key_in(bound, part, conn.dialect.name))
        records.extend(_records(conn, bound, fetch_plain(conn, query), changed_at, problems))
    return records


def read_keys(engine: Engine, bound: BoundStream, keys: Iterable[str],
              problems: list[ItemError]) -> dict[str, Record]:
    """The current records with canonical ``keys``; keys that cannot exist or do not are left
    out, and so are rows that cannot be read (with their errors appended to ``problems``).
    Where the schema does not prove the key ``NOT NULL``, the rows without a key are counted
    too (see :func:`~syncline.connectors.sql.keys.count_keyless`): a key not found may be
    one of them."""
    natives = []
    for key in dict.fromkeys(keys):
        try:
            natives.append(bound.key.native(key))
        except ValueError:
            continue
    with engine.connect() as conn:
        count_keyless(conn, bound, problems)
        return {record.key: record
                for record in fetch_records(conn, bound, natives, problems=problems)}


def _record_page(conn: Connection | None, bound: BoundStream, rows: Sequence[Any],
                 problems: list[ItemError] | None) -> list[Record]:
    return _records(conn, bound, rows, problems=problems)


def read_all(engine: Engine, bound: BoundStream, scope: ReadScope, page_size: int,
             problems: list[ItemError]) -> Iterator[list[Record]]:
    """Every record within ``scope`` in key order, in pages of at most ``page_size``.

    The key range compares keys in the key column's own type (integer keys numerically).
    ``since``/``until`` filter on the ``updated`` column and are ignored for streams without
    one. Rows that cannot be read (see :func:`_records`) are left out, each with its error
    appended to ``problems``; where the schema does not rule out NULL keys, one error
    counts the rows without a key.

    Raises:
        UsageError: a key range bound cannot be a key of this stream.
    """
    return _pages(engine, bound, scope, page_size, _record_page, problems)


def read_all_columnar(engine: Engine, bound: BoundStream, scope: ReadScope, page_size: int,
                      problems: list[ItemError]) -> Iterator[list[Record] | RecordColumns]:
    """:func:`read_all`, with every page that needs no conversion as a columnar page.

    Raises:
        as :func:`read_all`.
    """
    return _pages(engine, bound, scope, page_size, _columnar, problems)


def _pages(engine: Engine, bound: BoundStream, scope: ReadScope, page_size: int,
           make_page: Callable[[Connection | None, BoundStream, Sequence[Any],
                                list[ItemError] | None], _Page],
           problems: list[ItemError]) -> Iterator[_Page]:
    """The pages of :func:`read_all`, each made from its rows by ``make_page``.

    Where the schema does not prove the key unique and not NULL, rows without a key are
    counted (one query) and left out of the pages, and a page that ends inside a run of
    rows sharing one key is completed with the rest of that run (so that the duplicate is
    seen, not skipped by the next page's ``key > last``)."""
    low, high = key_bounds(bound, scope)
    key = bound.key.column
    conditions = updated_clause(bound, scope.since, scope.until)
    if low is not None:
        conditions.append(key >= low)
    if high is not None:
        conditions.append(key <= high)
    proven = bound.key.proven
    if not proven:
        with engine.connect() as conn:
            count_keyless(conn, bound, problems, *conditions)
        conditions.append(key.is_not(None))
    if streamed.streams(engine, bound):
        query = sa.select(*_columns(bound)).where(*conditions).order_by(key)
        with closing(streamed.row_pages(engine, query, page_size,
                                        whole_runs=not proven)) as pages:
            for rows in pages:  # closed at once when the caller gives up
                if bound.lines is None:
                    yield make_page(None, bound, rows, problems)
                    continue
                with engine.connect() as other:  # the streaming connection is busy
                    page = make_page(other, bound, rows, problems)
                yield page
        return
    after: Any = None
    while True:
        query = sa.select(*_columns(bound)).where(*conditions).order_by(key).limit(page_size)
        if after is not None:
            query = query.where(key > after)
        with engine.connect() as conn:
            rows = fetch_plain(conn, query)
            if not rows:
                return
            full = len(rows) >= page_size
            if full and not proven:
                last = rows[-1][0]
                rows = [row for row in rows if row[0] != last] + fetch_plain(
                    conn, sa.select(*_columns(bound)).where(*conditions, key == last))
            page = make_page(conn, bound, rows, problems)
        yield page
        if not full:
            return
        after = rows[-1][0]
