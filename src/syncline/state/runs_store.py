"""The runs and journal of the state store (part of :class:`~syncline.state.store.StateStore`).

A **run** row records one execution of a link: trigger, mode, scope, user, who ran it
(host, process), outcome and counts. A run that ended without recording how (its process
killed, its lease taken over, the state store gone) is marked failed later, with its counts
rebuilt from its journal (:mod:`syncline.state.journal_counts`).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from syncline.state import schema as t
from syncline.state.conflicts_store import ConflictRecords, new_id, now
from syncline.state.fencing import set_fence_run
from syncline.state.journal_counts import close_taken_over, journal_counts
from syncline.state.statistics import refresh_statistics

__all__ = ["RunRecords", "process_alive"]


class RunRecords(ConflictRecords):
    """The run and journal methods of the state store (see the module docstring)."""

    def start_run(self, *, link: str, trigger: str, mode: str, scope: dict[str, Any],
                  user: str | None, dry_run: bool, started_at: datetime) -> int:
        """Record a run as started; its id. Runs of ``link`` left running by an ended
        process of this host are marked failed first; a fenced store (:meth:`fenced`) also
        marks the run of the lease it took over failed (taken over), both with their counts
        rebuilt from their journal.

        Raises:
            LeaseLost: the store is fenced and the lease was taken over meanwhile.
        """
        # under a fence (a run holding the link's lease) an earlier run of this process is
        # the lease's previous holder: it is closed as taken over below, not as interrupted
        self._close_abandoned_runs(link, own=not dry_run and self.fence is None)
        with self.begin() as connection:
            run_id = new_id(connection.execute(insert(t.runs).values(
                link=link, trigger=trigger, mode=mode, scope=json.dumps(scope, default=str),
                user=user, started_at=started_at, outcome="running", dry_run=dry_run,
                host=socket.gethostname(), pid=os.getpid())))
            if self.fence is not None:
                previous = set_fence_run(connection, self.fence, run_id)
                if previous is not None and previous != run_id:
                    close_taken_over(connection, previous, run_id, link)
            return run_id

    def _close_abandoned_runs(self, link: str, *, own: bool) -> None:
        """Mark runs of ``link`` left 'running' on this host by a process that has ended,
        and with ``own`` by this process (a run this process starts holds the link's run
        lock, so an earlier one of its own still 'running' was cut short, e.g. by a state
        store outage), as interrupted (see :meth:`close_interrupted_runs`)."""
        self.close_interrupted_runs(links={link}, own=own)

    def close_interrupted_runs(self, *, links: set[str] | None = None, own: bool = False,
                               busy: Iterable[str] = ()) -> list[int]:
        """Mark runs left 'running' on this host as ``failed``, with the message
        ``interrupted: <why>; resumed by a later run`` and their counts rebuilt from
        the journal (:func:`~syncline.state.journal_counts.journal_counts`): runs of a
        process that has ended and, with ``own``, runs of this process, except those of
        the ``busy`` links (runs this process still has going). Only runs of ``links``
        when given. Returns the ids of the runs marked.

        Raises:
            StateUnavailable: the state store cannot be reached.
        """
        query = select(t.runs.c.id, t.runs.c.pid, t.runs.c.link).where(
            t.runs.c.outcome == "running", t.runs.c.host == socket.gethostname())
        if links is not None:
            query = query.where(t.runs.c.link.in_(sorted(links)))
        going, marked = set(busy), []
        with self.engine.begin() as connection:
            for row in connection.execute(query).all():
                ours = row.pid is not None and int(row.pid) == os.getpid()
                if ours and (not own or row.link in going):
                    continue
                if not ours and row.pid and process_alive(int(row.pid)):
                    continue
                counts = journal_counts(connection, int(row.id))
                reason = _OWN_RUN_CUT_SHORT if ours else "the process running it ended"
                connection.execute(update(t.runs).where(
                    t.runs.c.id == row.id, t.runs.c.outcome == "running").values(
                    outcome="failed", finished_at=now(), counts=json.dumps(counts),
                    message=f"interrupted: {reason}; resumed by a later run"))
                marked.append(int(row.id))
        return marked

    def finish_run(self, run_id: int, *, outcome: str, finished_at: datetime,
                   duration_s: float, counts: dict[str, Any], message: str | None) -> None:
        """Record how a run ended; on PostgreSQL, then refresh the planner's statistics of
        the tables the run changed a large share of (see :mod:`~syncline.state.statistics`).

        Raises:
            LeaseLost: the store is fenced and the lease was taken over (the run that took
                it over records this one as taken over).
        """
        with self.begin() as connection:
            connection.execute(update(t.runs).where(t.runs.c.id == run_id).values(
                outcome=outcome, finished_at=finished_at, duration_s=duration_s,
                counts=json.dumps(counts), message=message))
        refresh_statistics(self.engine)  # PostgreSQL, after a run that changed many rows

    def runs(self, link: str | None = None, *, limit: int = 20,
             run_id: int | None = None) -> list[dict[str, Any]]:
        """Runs, newest first, with ``counts`` decoded."""
        query = select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        if link is not None:
            query = query.where(t.runs.c.link == link)
        if run_id is not None:
            query = query.where(t.runs.c.id == run_id)
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        for row in rows:
            row["counts"] = json.loads(row["counts"]) if row.get("counts") else {}
            row["scope"] = json.loads(row["scope"]) if row.get("scope") else {}
        return rows

    def last_synced_at(self, link: str) -> datetime | None:
        """When the last run of ``link`` that was not a dry run and did not fail finished."""
        query = select(func.max(t.runs.c.finished_at)).where(
            t.runs.c.link == link, t.runs.c.outcome.in_(("ok", "warning", "error")),
            t.runs.c.dry_run.is_(False))
        with self.engine.connect() as connection:
            value = connection.execute(query).scalar()
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value if isinstance(value, datetime) else None

    def journal(self, link: str, *, run_id: int | None = None, action: str | None = None,
                outcome: str | None = None, stream: str | None = None,
                limit: int | None = 1000) -> list[dict[str, Any]]:
        """Journal rows of a link, newest first, filtered as asked."""
        query = (select(*t.journal_listed, t.scopes.c.stream)
                 .join(t.scopes, t.scopes.c.id == t.journal.c.scope_id)
                 .where(t.scopes.c.link == link).order_by(t.journal.c.id.desc()))
        if run_id is not None:
            query = query.where(t.journal.c.run_id == run_id)
        if action is not None:
            query = query.where(t.journal.c.action == action)
        if outcome is not None:
            query = query.where(t.journal.c.outcome == outcome)
        if stream is not None:
            query = query.where(t.scopes.c.stream == stream)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]


_OWN_RUN_CUT_SHORT = "the run could not record its end (the state store was unreachable)"


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` of this host is still running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
