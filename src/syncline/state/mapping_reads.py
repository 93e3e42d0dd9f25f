"""Reading mappings by the thousand: looked up by a page of keys, or listed a page at a time.

A full read (Force Sync) looks up the mappings of every page it lists, and lists every
mapping once more to find the deletions. Done with whole rows and ``IN (…)`` lists of 900
bound values, that cost 30 times the work of reading both tables: SQLAlchemy renders and
the driver parses a thousand placeholders per query, and each row's snapshot is decoded
from JSON although an unchanged record never needs it. Here:

key list
    The keys of a page, sent as one value, a JSON array: on PostgreSQL ``key =
    ANY(ARRAY(SELECT jsonb_array_elements_text(:keys)))`` (a quarter faster than a
    ``text[]`` parameter, which the driver quotes value by value), on SQLite ``key IN
    (SELECT value FROM json_each(:keys))``; both are served by the unique ``(scope_id,
    key)`` indexes. Any other database gets ``IN (…)`` lists of :data:`IN_LIST_SIZE`
    values.
digests
    :class:`MappingDigests`: what a full read compares listed records with (each mapping's
    id, and the content hash and version last synced on that side), without the snapshot,
    as dictionaries built from the driver's rows in C code (no Python step per mapping).
noted marks
    The ids of the mappings a full read met, one byte each: byte ``id`` is not zero for a
    noted id. :func:`unnoted_keys` sends them as one value and the database keeps the
    mappings whose byte is zero (PostgreSQL ``get_byte``, SQLite ``substr``), so that a
    Force Sync's deletion pass brings back only the keys of gone records instead of every
    mapping's key and id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Select, cast, func, select, text
from sqlalchemy.sql import ColumnElement, any_, bindparam
from sqlalchemy.types import LargeBinary, String

from syncline.state import schema as t

__all__ = ["IN_LIST_SIZE", "MappingDigests", "key_pages", "keyed_rows", "mapping_digests",
           "mapping_keys", "unnoted_keys"]

IN_LIST_SIZE = 900
"""Keys per ``IN (…)`` list where no key list can be sent as one value: below SQLite's and
every driver's parameter limits."""

_KEY_LIST_SIZE = 20_000
"""Keys per query sent as one key list (bounded to keep each answer small)."""


class MappingDigests(NamedTuple):
    """The mappings of some keys as a full read compares them (see the module docstring),
    by their key on the side looked up: ``ids`` their mapping ids, ``synced`` the
    ``(hash, version)`` last synced on that side."""

    ids: dict[str, int]
    synced: dict[str, tuple[bytes | None, str | None]]


def key_pages(connection: Connection, keys: Sequence[str]) -> Iterator[Sequence[str]]:
    """``keys`` cut into the pages one query takes on ``connection``'s database."""
    size = _KEY_LIST_SIZE if connection.dialect.name in ("postgresql", "sqlite") \
        else IN_LIST_SIZE
    for start in range(0, len(keys), size):
        yield keys[start:start + size]


def _among(connection: Connection, column: ColumnElement[Any],
           keys: Sequence[str]) -> ColumnElement[bool]:
    """``column`` is one of ``keys`` (one page of :func:`key_pages`), as a key list where
    the database takes one (see the module docstring)."""
    dialect = connection.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        return column.in_(list(keys))
    listed = bindparam("keys", json.dumps(list(keys)), type_=String)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return column == any_(func.array(
            select(func.jsonb_array_elements_text(cast(listed, JSONB))).scalar_subquery()))
    return column.in_(select(func.json_each(listed).table_valued("value").c.value))


def keyed_rows(connection: Connection, query: Select[Any], column: ColumnElement[Any],
               keys: Sequence[str], *, plain: bool = False) -> Iterator[Any]:
    """The rows of ``query`` whose ``column`` is one of ``keys``, a page of keys per
    query (see :func:`key_pages`); ``plain``: as the driver's own tuples, for a query whose
    columns need no type processing (a third of the cost of SQLAlchemy's rows)."""
    for page in key_pages(connection, keys):
        result = connection.execute(query.where(_among(connection, column, page)))
        if not plain:
            yield from result.all()
            continue
        try:
            yield from result.cursor.fetchall()
        finally:
            result.close()


def mapping_digests(engine: Engine, scope_id: int, side: str,
                    keys: Sequence[str]) -> MappingDigests:
    """The :class:`MappingDigests` of the mappings of the scope whose key on ``side`` is one
    of ``keys``."""
    if side == "a":
        key, hash_, version = t.mappings.c.a_key, t.mappings.c.a_hash, t.mappings.c.a_version
    else:
        key, hash_, version = t.mappings.c.b_key, t.mappings.c.b_hash, t.mappings.c.b_version
    query = select(key, t.mappings.c.id, hash_, version).where(
        t.mappings.c.scope_id == scope_id)
    with engine.connect() as connection:  # ids, bytes and texts: nothing to process
        rows = list(keyed_rows(connection, query, key, keys, plain=True))
    if not set(map(type, map(_HASH, rows))) <= {bytes, type(None)}:  # a driver's buffers
        rows = [(found, mapping_id, None if digest is None else bytes(digest), synced)
                for found, mapping_id, digest, synced in rows]
    return MappingDigests(dict(zip(map(_KEY, rows), map(_ID, rows), strict=True)),
                          dict(zip(map(_KEY, rows), map(_SYNCED, rows), strict=True)))


_KEY = itemgetter(0)
_ID = itemgetter(1)
_HASH = itemgetter(2)
_SYNCED = itemgetter(2, 3)


def mapping_keys(engine: Engine, scope_id: int, side: str, written_before: int,
                 page: int = 20_000) -> Iterator[list[tuple[int, str]]]:
    """Every mapping of the scope as ``(id, key on side)``, leaving out the mappings run
    ``written_before`` wrote, in pages ordered by that key: keyset paging on the side's
    unique ``(scope_id, key)`` index, so that each page is one range of the index, neither
    the whole scope sorted again (what ordering by id costs where no index leads with the
    scope and the id) nor held in memory."""
    key = t.mappings.c.a_key if side == "a" else t.mappings.c.b_key
    last: str | None = None
    while True:
        query = (select(t.mappings.c.id, key, t.mappings.c.run_id)
                 .where(t.mappings.c.scope_id == scope_id)
                 .order_by(key).limit(page))
        if last is not None:
            query = query.where(key > last)
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return
        last = str(rows[-1][1])
        yield [(int(row[0]), str(row[1])) for row in rows if row[2] != written_before]


_NOT_NOTED = {
    "postgresql": "(mappings.id < 0 OR mappings.id >= length(:noted) "
                  "OR get_byte(:noted, mappings.id) = 0)",
    "sqlite": "(mappings.id < 0 OR mappings.id >= length(:noted) "
              "OR substr(:noted, mappings.id + 1, 1) = x'00')",
}
"""The condition that a mapping's id is not noted in the noted marks, by database."""


def unnoted_keys(engine: Engine, scope_id: int, side: str, written_before: int,
                 noted: bytes, page: int = 20_000) -> Iterator[list[str]]:
    """The key on ``side`` of every mapping of the scope whose id is not noted in
    ``noted`` (noted marks, see the module docstring; a negative id counts as not noted),
    leaving out the mappings run ``written_before`` wrote, in pages ordered by that key
    (keyset paging as :func:`mapping_keys`). PostgreSQL and SQLite test the marks
    themselves and send only those keys; any other database lists every mapping and the
    marks are tested here."""
    dialect = engine.dialect.name
    if dialect not in _NOT_NOTED:
        for mappings in mapping_keys(engine, scope_id, side, written_before, page):
            unnoted = _unnoted(noted, mappings)
            if unnoted:
                yield unnoted
        return
    key = t.mappings.c.a_key if side == "a" else t.mappings.c.b_key
    query = select(key).where(t.mappings.c.scope_id == scope_id,
                              t.mappings.c.run_id.is_distinct_from(written_before))
    if noted:
        query = query.where(text(_NOT_NOTED[dialect]).bindparams(
            bindparam("noted", bytes(noted), type_=LargeBinary)))
    query = query.order_by(key).limit(page)
    last: str | None = None
    while True:
        paged = query
        if last is not None:
            paged = query.where(key > last)
        with engine.connect() as connection:
            keys = [str(row[0]) for row in connection.execute(paged)]
        if not keys:
            return
        last = keys[-1]
        yield keys


def _unnoted(noted: bytes, mappings: list[tuple[int, str]]) -> list[str]:
    """The keys of those ``(id, key)`` pairs whose id is not noted in ``noted``."""
    size = len(noted)
    return [key for mapping_id, key in mappings
            if mapping_id < 0 or mapping_id >= size or not noted[mapping_id]]
