"""Incremental reading from the change log (see :mod:`~syncline.connectors.sql.capture`).

A read goes in three steps:

1. the newest sequence number ``high`` is read and the next :class:`Position` worked out:
   which numbers up to ``high`` (new ones and the gaps of the cursor) are present, which are
   still missing (gaps to look at again). This happens before step 2, so that a row committed
   in between is at worst read twice, never skipped;
2. the distinct keys of the stream's table logged within those numbers are read in one short
   transaction, each with its latest ``changed_at`` (memory follows the number of changed
   keys, not the size of the table);
3. for each page of ``page_size`` keys the current rows are fetched in a short transaction of
   its own, one ``WHERE key IN (...)`` query per chunk; keys without a row were deleted and
   come back as ``Change(key, None)``. No lock is held between pages, so the caller may write
   to the same database while it works through them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from syncline.connectors.base import Change, ChangeFeed, ReadScope
from syncline.connectors.sql.binding import BoundStream
from syncline.connectors.sql.capture import CHANGES
from syncline.connectors.sql.coerce import reader_for
from syncline.connectors.sql.keys import count_keyless
from syncline.connectors.sql.position import Position, advance
from syncline.connectors.sql.reading import fetch_records, in_key_range, key_bounds
from syncline.errors import ItemError, ProtocolError
from syncline.model import FieldType

__all__ = ["TAIL_WINDOW", "current_position", "read_changes"]

TAIL_WINDOW = 10_000
"""How many of the newest sequence numbers :func:`current_position` checks for gaps (numbers
taken by transactions still running)."""

_read_datetime = reader_for(FieldType.DATETIME)


def _high(conn: Connection) -> int:
    value = conn.execute(sa.select(sa.func.max(CHANGES.c.seq))).scalar()
    return int(value or 0)


def _candidates(position: Position, high: int) -> sa.ColumnElement[bool] | None:
    seq = CHANGES.c.seq
    ranges = position.candidates(high)
    if not ranges:
        return None
    return sa.or_(*(seq.between(low, top) for low, top in ranges))


def _next_position(conn: Connection, position: Position, high: int, now: int) -> Position:
    """The position after reading everything up to ``high`` (step 1 of the module docstring)."""
    clause = _candidates(position, high)
    if clause is None:
        return advance(position, high, (), now)
    present = conn.execute(sa.select(sa.func.count()).where(clause)).scalar_one()
    if present == position.candidate_count(high):
        return Position(max(high, position.seq))
    result = conn.execution_options(yield_per=10_000).execute(
        sa.select(CHANGES.c.seq).where(clause).order_by(CHANGES.c.seq))
    return advance(position, high, (int(row[0]) for row in result), now)


def current_position(engine: Engine) -> Position:
    """The position for "now": the newest sequence number, with the missing numbers among the
    last :data:`TAIL_WINDOW` as gaps."""
    with engine.connect() as conn:
        high = _high(conn)
        return _next_position(conn, Position(max(0, high - TAIL_WINDOW)), high,
                              int(time.time()))


def _within_dates(scope: ReadScope, stamp: datetime | None) -> bool:
    if stamp is None:
        return scope.since is None and scope.until is None
    if scope.since is not None and stamp < _read_datetime(scope.since):
        return False
    return not (scope.until is not None and stamp > _read_datetime(scope.until))


def _page(conn: Connection, bound: BoundStream, logged: Sequence[Any],
          bounds: tuple[Any, Any], scope: ReadScope,
          problems: list[ItemError]) -> list[Change]:
    """The changes of one page of logged keys. A key whose row cannot be read (see
    :func:`~syncline.connectors.sql.reading.fetch_records`) is left out, not taken for a
    deletion: its error is appended to ``problems``."""
    changed: dict[str, datetime] = {}
    for key, at in logged:
        if in_key_range(bound, str(key), *bounds):
            changed[str(key)] = _read_datetime(at)
    natives = []
    for key in changed:
        try:
            natives.append(bound.key.native(key))
        except ValueError:  # not a key the table can hold: logged by hand, treat as gone
            continue
    noted = len(problems)
    found = {r.key: r for r in fetch_records(conn, bound, natives, changed_at=changed,
                                             problems=problems)}
    unreadable = {error.key for error in problems[noted:]}
    changes = []
    for key, at in changed.items():
        record = found.get(key)
        if record is None and key in unreadable:
            continue
        stamp = record.updated_at if record is not None else at
        if _within_dates(scope, stamp):
            changes.append(Change(key, record))
    return changes


def read_changes(engine: Engine, endpoint: str, bound: BoundStream, cursor: str,
                 scope: ReadScope, page_size: int, problems: list[ItemError]) -> ChangeFeed:
    """The changes of ``bound``'s table since ``cursor`` (see the module docstring).

    Within a ``scope``, changes outside its key range or dates are left out, but the cursor
    still moves past them. Rows that cannot be read are left out with their errors appended
    to ``problems`` (the cursor moves past them too: the engine keeps those with a key
    pending and reads them again by key every run). Where the schema does not prove the
    key ``NOT NULL``, the rows without a key are counted first (one query) and noted there
    as one error: the engine then holds the deletions of this read.

    Raises:
        ProtocolError: ``cursor`` is not a cursor of this connector, or the change log was
            reset since it was taken: the caller must read in full.
        UsageError: a key range bound cannot be a key of this stream.
    """
    try:
        position = Position.parse(cursor)
    except ValueError as error:
        raise ProtocolError(endpoint, f"'{cursor}' is not a cursor of the sql connector "
                                      f"({error}); read in full") from None
    bounds = key_bounds(bound, scope)
    with engine.connect() as conn:
        high = _high(conn)
        if position.seq > high:
            raise ProtocolError(endpoint, f"the change log was reset (cursor {position.seq} is "
                                          f"past its newest change {high}); read in full")
        after = _next_position(conn, position, high, int(time.time()))
        if not bound.is_view:  # rows without a key: counted every run (see keys.py)
            count_keyless(conn, bound, problems)
    clause = _candidates(position, high)
    holder: list[str | None] = [cursor]

    def pages() -> Iterator[list[Change]]:
        if clause is not None:
            query = sa.select(CHANGES.c.record_key, sa.func.max(CHANGES.c.changed_at)) \
                .where(CHANGES.c.table_name == bound.table.name, clause) \
                .group_by(CHANGES.c.record_key)
            # one short read of the log, then one short read per page: no lock is held while
            # the caller works on a page (it may write to this very database meanwhile)
            with engine.connect() as conn:
                logged = conn.execute(query).all()
            for start in range(0, len(logged), page_size):
                with engine.connect() as conn:
                    page = _page(conn, bound, logged[start:start + page_size], bounds, scope,
                                 problems)
                if page:
                    yield page
        holder[0] = str(after)

    return ChangeFeed(pages(), holder)
