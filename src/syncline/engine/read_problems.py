"""Pending items of records that could not be read, and when they leave the pending list.

Terms: a **read problem** is a pending item kept for a record its connector could not read
(a malformed vCard, an SQL row whose key is duplicated, a deletion held while rows without a
key exist): its stored cause is a :class:`~syncline.errors.MalformedRecord`. It is read again
by key on every run (see :mod:`syncline.engine.reading`); once the read succeeds, the record
goes like any other. If then nothing is left to write (the record did not change meanwhile,
or it is gone and was never synced) no write clears it, so :func:`fixed_read_problems` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from syncline.errors import ErrorCause
from syncline.state.store import StateStore

__all__ = ["READ_PROBLEM_KINDS", "fixed_read_problems"]

READ_PROBLEM_KINDS = frozenset({"MalformedRecord", "RowsWithoutKey"})
"""The error classes whose pending items are read problems."""


def _is_read_problem(causes: Sequence[ErrorCause]) -> bool:
    """Whether a pending item with ``causes`` is a read problem."""
    return bool(causes) and all(cause.kind in READ_PROBLEM_KINDS for cause in causes)


def fixed_read_problems(store: StateStore, link: str, stream: str, run_id: int,
                        read_cleanly: dict[str, Iterable[str]]) -> list[tuple[str, str]]:
    """The ``(side, key)`` pending items of ``stream`` that are read problems from an earlier
    run (not noted again by run ``run_id``) whose record this run read without a problem;
    ``read_cleanly`` gives those keys by side (``"a"``/``"b"``)."""
    wanted = {side: set(keys) for side, keys in read_cleanly.items()}
    if not any(wanted.values()):
        return []
    return [(str(row["side"]), str(row["key"])) for row in store.pending_items(link)
            if row["stream"] == stream and row["last_run"] != run_id
            and str(row["key"]) in wanted.get(str(row["side"]), set())
            and _is_read_problem(row["causes"])]
