"""Updates and deletes by a key the schema does not prove unique.

Such a key may be held by several rows (a table without a primary key, a duplicate that
appeared after ``setup``): which of them is the record cannot be known, so a write by that
key must touch exactly one row. Before writing, the rows holding each key are counted, as
the database compares keys (:meth:`KeyColumn.matches
<syncline.connectors.sql.binding.KeyColumn.matches>`); a key held by several rows is refused
for that item (:func:`not_unique`). The writes then go one statement per item, and one that
touches more than one row anyway (a row with that key came in meanwhile) raises
:class:`KeyNotUnique`, so that :func:`~syncline.connectors.sql.writing.write` rolls it back
and writes the batch again one item at a time, each in a savepoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncline.connectors.base import WriteOperation, WriteResult
from syncline.connectors.sql.binding import BoundStream, KeyColumn
from syncline.errors import ItemError

__all__ = ["KeyNotUnique", "matching_rows", "not_unique", "write_one_by_one"]


class KeyNotUnique(Exception):
    """An update or delete by a key the schema does not prove unique touched more than one
    row: the item ``item_index`` is rolled back; ``count`` rows have the key."""

    def __init__(self, item_index: int, count: int) -> None:
        super().__init__(f"{count} rows")
        self.item_index = item_index
        self.count = count


def matching_rows(conn: Connection, key: KeyColumn, native: Any) -> int:
    """How many rows hold key ``native``, compared as the database compares it."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(key.column.table)
                            .where(key.matches(native))).scalar_one())


def not_unique(bound: BoundStream, op: WriteOperation, count: int) -> WriteResult:
    """The result of a write refused because its key is held by ``count`` rows."""
    return WriteResult(op.token, op.key, error=ItemError(
        f"key {op.key} matches {count} rows in {bound.table.name}: not written, {count} rows "
        f"have this key ({bound.table.name}.{bound.key.name} is not unique; which row is the "
        f"record cannot be known)", stream=bound.name, key=op.key))


def write_one_by_one(conn: Connection, bound: BoundStream, deletes: Sequence[tuple[int, Any]],
                     updates: Sequence[tuple[int, Any, dict[str, Any]]]) -> None:
    """Delete ``(item index, native key)`` and update ``(item index, native key, values)``
    one statement per item (values hold SQL expressions too, such as the ``updated`` stamp).

    Raises:
        KeyNotUnique: a statement touched more than one row.
        sqlalchemy.exc.DBAPIError: the database rejected a statement.
    """
    key = bound.key
    for index, native in deletes:
        if bound.lines is not None:
            conn.execute(sa.delete(bound.lines.table).where(bound.lines.parent == native))
        touched = conn.execute(sa.delete(bound.table).where(key.matches(native)))
        if touched.rowcount > 1:
            raise KeyNotUnique(index, touched.rowcount)
    for index, native, values in updates:
        touched = conn.execute(sa.update(bound.table).where(key.matches(native))
                               .values(values))
        if touched.rowcount > 1:
            raise KeyNotUnique(index, touched.rowcount)
