"""Settling when the mappings table refuses a pairing: one row at a time, never jammed.

A **refused pairing** is a new (or changed) mapping that the state store's unique
constraints reject: its a-key or b-key is paired already in the same scope. The engine
never plans one (each key is read once per side and run), but if it ever happens, failing
the whole settle would leave the batch's intents in place, and every later run would
recover them and fail the same way: the link would be jammed for good. Instead
:meth:`StateStore.settle <syncline.state.store.StateStore.settle>` settles again with
:func:`insert_mappings`, which inserts the mappings one by one, each in a savepoint: the
accepted ones are recorded, each refused one becomes a journal row with outcome ``error``
naming both keys, and the rest of the settle (journal, pending items, intents) goes
through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Insert, Update

__all__ = ["RowRunner", "insert_mappings", "refused_message"]

RowRunner = Any
"""The store's ``_execute_rows`` (statement, column names, rows), run for one row at a time
(a plain statement, never a COPY: a refused row's message names the statement's error)."""


def refused_message(a_key: object, b_key: object, error: IntegrityError) -> str:
    """The journal message of a refused pairing."""
    cause = " ".join(str(error.orig).split())[:300]
    return (f"the pairing of a:{a_key} with b:{b_key} was not recorded: one of these keys is "
            f"paired already in this link ({cause}); the record was written, so check both "
            f"sides for a duplicate")


def insert_mappings(connection: Connection, statement: Insert | Update, names: Sequence[str],
                    rows: Sequence[tuple[Any, ...]], keys: Sequence[tuple[object, object]],
                    execute_many: RowRunner) -> dict[int, str]:
    """Run ``statement`` for each of ``rows`` in a savepoint of its own; ``keys`` holds the
    (a-key, b-key) of each row. Returns the refused rows' messages by index.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database failed otherwise than by refusing a row.
    """
    refused: dict[int, str] = {}
    for index, row in enumerate(rows):
        try:
            with connection.begin_nested():
                execute_many(connection, statement, names, [row])
        except IntegrityError as error:
            a_key, b_key = keys[index]
            refused[index] = refused_message(a_key, b_key, error)
    return refused
