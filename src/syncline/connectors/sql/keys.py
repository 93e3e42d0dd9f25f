"""Checking that a stream's key column can be a key: every row has one, and no two rows share
one.

Terms:

proven key
    A key column the schema alone vouches for (:attr:`KeyColumn.proven
    <syncline.connectors.sql.binding.KeyColumn.proven>`): a primary key, a unique constraint
    or a unique index on exactly that column, and ``NOT NULL``. Read from the reflection that
    :meth:`SqlConnector.open <syncline.connectors.sql.SqlConnector.open>` does once per
    connector, so checking a proven key costs nothing.
key problem
    What the data of an unproven key column shows: an example key held by more than one row,
    and how many rows have no key (NULL). Finding it reads the whole column (one ``GROUP BY``).

When the data is read (see :func:`checks_data`):

- ``syncline setup``: always, for every unproven key of a table; a problem is a
  configuration error (nothing is installed on that endpoint). A view is never refused:
  its problem is reported as a line of setup's output, since its rows are checked while
  reading anyway.
- the start of a run: for an unproven key of a table that has no change capture. Such a
  stream is read in full on every run, so the check reads no more than the run itself.
  Once ``setup`` has installed change capture (and checked the table), runs read only the
  changed keys, and a duplicate or NULL key that appears later is met while reading them:
  each such row is then an item error (see :mod:`~syncline.connectors.sql.reading`), so an
  incremental run never scans a large table.
- views: never at the start of a run; their rows are checked while reading.

While reading (:func:`unique_rows`, used by :mod:`~syncline.connectors.sql.reading` for an
unproven key only), rows whose key is NULL or held by more than one row are left out, each
reported as an item error; keys are compared as the database compares them
(:meth:`~syncline.connectors.sql.binding.KeyColumn.identity`). Where the key is not proven
``NOT NULL``, every read (incremental ones and reads by key included) counts the rows without
a key with one query (:func:`count_keyless`): the engine holds that side's deletions while
there are any. Writes by an unproven key are checked too (see
:mod:`~syncline.connectors.sql.unproven_writes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.types import NullType

from syncline.connectors.sql.binding import BoundStream
from syncline.errors import ConfigError, ItemError, MalformedRecord, RowsWithoutKey

__all__ = ["check_keys", "checks_data", "count_keyless", "key_problem", "no_key_error",
           "unique_rows"]


def checks_data(bound: BoundStream, captured: bool) -> bool:
    """Whether the start of a run reads the data of ``bound``'s key column (see the module
    docstring): an unproven key of a table without change capture."""
    return not bound.key.proven and not bound.is_view and not captured


def _shown(bound: BoundStream, value: Any) -> str:
    try:
        return repr(bound.key.text(value))
    except ValueError:
        return repr(value)


def key_problem(conn: Connection, bound: BoundStream) -> str | None:
    """What is wrong with the data of ``bound``'s key column (see the module docstring), or
    ``None`` when nothing is: ``people.code is not unique ('A-1' is the key of 2 rows)``,
    ``people.code is NULL in 3 rows``. Reads nothing for a proven key.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refused the query.
    """
    key = bound.key
    column = key.column
    where = f"{bound.table.name}.{key.name}"
    found: list[str] = []
    if not key.unique:
        count = sa.func.count().label("n")
        # a column without a type keeps 1 and '1' apart; both are key 1 to syncline
        grouped: sa.ColumnElement[Any] = sa.cast(column, sa.Text) if key.loose else column
        raw = sa.type_coerce(grouped, NullType())
        row = conn.execute(sa.select(raw, count).where(column.is_not(None))
                           .group_by(grouped).having(sa.func.count() > 1)
                           .order_by(count.desc()).limit(1)).first()
        if row is not None:
            found.append(f"{where} is not unique ({_shown(bound, row[0])} is the key of "
                         f"{row[1]} rows)")
    if not key.not_null:
        nulls = int(conn.execute(sa.select(sa.func.count()).select_from(bound.table)
                                 .where(column.is_(None))).scalar_one())
        if nulls:
            found.append(f"{where} is NULL in {nulls} row{'s' if nulls > 1 else ''} "
                         f"({nulls} row{'s have' if nulls > 1 else ' has'} no key)")
    return "; ".join(found) or None


def check_keys(conn: Connection, endpoint: str, bound: BoundStream) -> None:
    """Refuse ``bound``'s key column if its data holds a key problem.

    Raises:
        ConfigError: naming the setting, the table, the column and an example duplicate
            (or how many rows have no key), with what to do.
        sqlalchemy.exc.DBAPIError: the database refused the query.
    """
    problem = key_problem(conn, bound)
    if problem is None:
        return
    raise ConfigError(f"the key column {problem}: a key must be unique and never NULL. Fix "
                      f"the rows, give {bound.table.name} a primary key or a unique index on "
                      f"{bound.key.name}, or map a column that is one",
                      key=f"endpoints.{endpoint}.streams.{bound.name}.key")


# -- while reading ---------------------------------------------------------------------------
def unique_rows(bound: BoundStream, rows: Sequence[Any],
                problems: list[ItemError]) -> Sequence[Any]:
    """``rows`` without those whose key is NULL, cannot be read, or is held by more than one
    row (then no row of that key is kept: which one is the record cannot be known); each
    left out with an error in ``problems`` naming the table, the key and the column. Only
    used where the schema cannot prove the key unique and not NULL.

    Keys are compared as the database and syncline compare them (:meth:`KeyColumn.identity
    <syncline.connectors.sql.binding.KeyColumn.identity>`): ``'a-1'`` beside ``'A-1'`` under
    a case-insensitive collation, or SQLite integer ``1`` beside text ``'1'``, is one key
    held by two rows. Each key text of such a group gets its own error, so that none of
    them is taken for deleted."""
    identities: list[str | None] = []
    counts: dict[str | None, int] = {}
    for row in rows:
        try:
            identity: str | None = None if row[0] is None else bound.key.identity(row[0])
        except ValueError:
            identity = repr(row[0])  # unreadable: reported with its row by the reader
        identities.append(identity)
        counts[identity] = counts.get(identity, 0) + 1
    if len(counts) == len(rows) and None not in counts:
        return rows
    where = f"{bound.table.name}.{bound.key.name}"
    reported: set[str] = set()
    nulls_reported = False
    kept = []
    for row, identity in zip(rows, identities, strict=True):
        count = counts[identity]
        if identity is None:
            if not nulls_reported:
                problems.append(no_key_error(bound, count))
                nulls_reported = True
            continue
        if count == 1:
            kept.append(row)
            continue
        key = _key_or_none(bound, row[0])
        shown = key if key is not None else repr(row[0])
        if shown in reported:
            continue
        reported.add(shown)
        problems.append(MalformedRecord(
            f"{bound.describe_key(shown)}: {count} rows have this key ({where} is not "
            f"unique{_compared(bound)}): none of them is synced until the key is unique",
            stream=bound.name, key=key))
    return kept


def _compared(bound: BoundStream) -> str:
    if bound.key.folds:
        return "; the database compares its keys without regard to case"
    if bound.key.loose:
        return "; integer and text forms of a number are one key"
    return ""


def no_key_error(bound: BoundStream, count: int) -> RowsWithoutKey:
    """The item error of ``count`` rows whose key is NULL (it names no key; while it
    stands, deletions read from the table are held: see :class:`~syncline.errors.
    RowsWithoutKey`)."""
    return RowsWithoutKey(
        f"{count} row{'s' if count > 1 else ''} in {bound.table.name} "
        f"{'have' if count > 1 else 'has'} no key ({bound.table.name}.{bound.key.name} is "
        f"NULL): left out, and deletions read from {bound.table.name} are held until they "
        f"have a key or are deleted", stream=bound.name, key=None)


def count_keyless(conn: Connection, bound: BoundStream, problems: list[ItemError],
                  *conditions: sa.ColumnElement[bool]) -> None:
    """Count the rows of ``bound``'s table without a key (within ``conditions``), one
    query, and note them as one :func:`no_key_error` in ``problems``. Reads nothing when
    the schema proves the key ``NOT NULL``."""
    if bound.key.not_null:
        return
    column = bound.key.column
    nulls = int(conn.execute(sa.select(sa.func.count()).select_from(bound.table)
                             .where(column.is_(None), *conditions)).scalar_one())
    if nulls:
        problems.append(no_key_error(bound, nulls))


def _key_or_none(bound: BoundStream, value: Any) -> str | None:
    try:
        return bound.key.text(value)
    except ValueError:
        return None
