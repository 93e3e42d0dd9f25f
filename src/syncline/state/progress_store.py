"""Run progress in the state store: where each run going on stands, for other processes.

Terms:

run progress
    A JSON object kept in ``run_progress`` while a run goes: ``streams`` maps each stream
    to ``total`` (records to read, when known), ``done`` (read), ``written``, ``to_write``
    and ``finished``. The engine rewrites it about once a second and removes it when the
    run ends (:class:`syncline.engine.progress_recorder.ProgressRecorder`); a service on
    the same state store reads it for the runs of other processes (:func:`live_runs`), so
    the console shows the progress of a ``syncline sync`` started from a shell.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select, update

from syncline.state import schema as t
from syncline.state.store import StateStore, now

__all__ = ["forget_progress", "live_runs", "record_progress", "run_outcome"]


def record_progress(store: StateStore, run_id: int, progress: dict[str, Any]) -> None:
    """Keep ``progress`` (see the module docstring) as run ``run_id``'s.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the state store cannot be written.
    """
    text, moment = json.dumps(progress), now()
    table = t.run_progress
    with store.engine.begin() as connection:
        changed = connection.execute(update(table).where(table.c.run_id == run_id).values(
            progress=text, updated_at=moment)).rowcount
        if not changed:
            connection.execute(insert(table).values(run_id=run_id, progress=text,
                                                    updated_at=moment))


def forget_progress(store: StateStore, run_id: int) -> None:
    """Remove run ``run_id``'s progress (it ended).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the state store cannot be written.
    """
    with store.engine.begin() as connection:
        connection.execute(delete(t.run_progress).where(t.run_progress.c.run_id == run_id))


def live_runs(store: StateStore, links: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The runs going on (outcome ``running``) that recorded progress: ``id``, ``link``,
    ``mode``, ``trigger``, ``user``, ``started_at``, ``host``, ``pid`` and ``progress``
    (decoded), oldest first; only those of ``links`` when given."""
    runs = t.runs
    query = (select(runs.c.id, runs.c.link, runs.c.mode, runs.c.trigger, runs.c.user,
                    runs.c.started_at, runs.c.host, runs.c.pid, t.run_progress.c.progress)
             .join(t.run_progress, t.run_progress.c.run_id == runs.c.id)
             .where(runs.c.outcome == "running").order_by(runs.c.id))
    if links is not None:
        query = query.where(runs.c.link.in_(list(links)))
    with store.engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    for row in rows:
        row["progress"] = json.loads(row["progress"])
    return rows


def run_outcome(store: StateStore, run_id: int) -> dict[str, Any] | None:
    """The outcome, duration, counts and message of run ``run_id`` (``None``: no such
    run)."""
    found = store.runs(run_id=run_id, limit=1)
    if not found:
        return None
    row = found[0]
    return {"outcome": row["outcome"], "duration_s": row.get("duration_s"),
            "counts": row.get("counts") or {}, "message": row.get("message")}
