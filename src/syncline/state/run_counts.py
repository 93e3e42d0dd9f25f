"""A run's counts rebuilt from its journal, for runs that ended without recording them.

A run records its counts (per stream: journal rows by action code, errors, warnings,
conflicts, skipped; see :class:`syncline.engine.options.StreamCounts`) when it finishes. A
run that never finished (its process was killed, the state store went away) keeps none,
although its journal rows were settled batch by batch. :func:`counts_from_journal` counts
those rows the same way: a row with outcome ``ok`` or ``warning`` counts for its action
code, ``warning`` also as a warning, ``error`` as an error, ``skipped`` as skipped.
Conflicts are not journaled as such and count 0.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from syncline.state import schema as t

__all__ = ["counts_from_journal"]

_ACTIONS = ("A", "M", "D", "R")


def _empty() -> dict[str, int]:
    return {"A": 0, "M": 0, "D": 0, "R": 0, "errors": 0, "warnings": 0, "conflicts": 0,
            "skipped": 0}


def counts_from_journal(connection: Connection, run_id: int) -> dict[str, dict[str, Any]]:
    """Per stream, the counts of run ``run_id`` as its journal rows give them (see the
    module docstring); streams without a row are left out.

    Raises:
        StateUnavailable: the state store cannot be reached.
    """
    query = (select(t.scopes.c.stream, t.journal.c.action, t.journal.c.outcome,
                    func.count().label("rows"))
             .join(t.scopes, t.scopes.c.id == t.journal.c.scope_id)
             .where(t.journal.c.run_id == run_id)
             .group_by(t.scopes.c.stream, t.journal.c.action, t.journal.c.outcome))
    counts: dict[str, dict[str, Any]] = {}
    for row in connection.execute(query):
        stream = counts.setdefault(str(row.stream), _empty())
        rows = int(row.rows)
        if row.outcome in ("ok", "warning") and row.action in _ACTIONS:
            stream[row.action] += rows
        if row.outcome == "warning":
            stream["warnings"] += rows
        elif row.outcome == "error":
            stream["errors"] += rows
        elif row.outcome == "skipped":
            stream["skipped"] += rows
    return counts
