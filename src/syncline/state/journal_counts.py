"""Runs that ended without recording how (a killed process, a run whose lease was taken
over): their counts rebuilt from their journal, and their outcome.

The counts have the shape a finished run stores (per stream: ``A``, ``M``, ``D``, ``R``,
``errors``, ``warnings``, ``conflicts``, ``skipped``): an action is counted when its row's
outcome is ok or warning; ``errors``, ``warnings`` and ``skipped`` count rows by outcome;
``conflicts`` counts rows whose message starts with "conflict" (held ones, skipped, and
ones the link's policy decided, written).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, func, select, update

from syncline.state import schema as t
from syncline.state.conflicts_store import now

__all__ = ["close_taken_over", "journal_counts"]

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


def close_taken_over(connection: Connection, run_id: int, taker: int, link: str) -> None:
    """Mark run ``run_id`` of ``link``, still running when run ``taker`` took its lease
    over, as failed (taken over), with its counts rebuilt from its journal."""
    connection.execute(update(t.runs).where(t.runs.c.id == run_id,
                                            t.runs.c.outcome == "running").values(
        outcome="failed", finished_at=now(),
        counts=json.dumps(journal_counts(connection, run_id)),
        message=f"taken over: run {run_id} of {link} stopped renewing its lease and run "
                f"{taker} took the link over; that run settled what this one left"))
