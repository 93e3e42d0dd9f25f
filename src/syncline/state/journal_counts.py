"""A run's counts rebuilt from its journal: for runs that ended without recording them (a
killed process, a run whose lease was taken over).

The counts have the shape a finished run stores (per stream: ``A``, ``M``, ``D``, ``R``,
``errors``, ``warnings``, ``conflicts``, ``skipped``): an action is counted when its row's
outcome is ok or warning; ``errors``, ``warnings`` and ``skipped`` count rows by outcome;
``conflicts`` counts rows whose message starts with "conflict" (held ones, skipped, and
ones the link's policy decided, written).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from syncline.state import schema as t

__all__ = ["journal_counts"]

_FIELDS = ("A", "M", "D", "R", "errors", "warnings", "conflicts", "skipped")


def journal_counts(connection: Connection, run_id: int) -> dict[str, dict[str, int]]:
    """The counts of run ``run_id`` by stream, from its journal rows (see the module
    docstring); streams without rows are left out."""
    conflict = t.journal.c.message.like("conflict%")
    query = (select(t.scopes.c.stream, t.journal.c.action, t.journal.c.outcome,
                    conflict.label("conflict"), func.count().label("rows"))
             .join(t.scopes, t.scopes.c.id == t.journal.c.scope_id)
             .where(t.journal.c.run_id == run_id)
             .group_by(t.scopes.c.stream, t.journal.c.action, t.journal.c.outcome, conflict))
    counts: dict[str, dict[str, int]] = {}
    for row in connection.execute(query):
        stream = counts.setdefault(str(row.stream), dict.fromkeys(_FIELDS, 0))
        rows = int(row.rows)
        outcome: Any = row.outcome
        if outcome in ("ok", "warning") and row.action in ("A", "M", "D", "R"):
            stream[row.action] += rows
        if outcome == "error":
            stream["errors"] += rows
        elif outcome == "warning":
            stream["warnings"] += rows
        elif outcome == "skipped":
            stream["skipped"] += rows
        if row.conflict:
            stream["conflicts"] += rows
    return counts
