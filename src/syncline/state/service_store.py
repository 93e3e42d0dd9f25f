"""The service's rows in the state store: run-lock leases and forced resynchronisation.

Functions here take a :class:`~syncline.state.store.StateStore` and work on the tables
``run_locks``, ``force_requests`` and ``force_marks`` (see :mod:`syncline.state.schema`).

Terms:

lease
    The row that says who runs a link now: an ``owner`` id unique to one lock holder, a
    human-readable ``holder`` text, and ``expires_at`` (seconds since the epoch). It is
    taken atomically — an insert that does nothing when a row exists, then an update that
    only succeeds when the row is ours, has expired, or belongs to a process of this host
    that has ended — so two processes can never both hold it.
mark
    One record to send again (action code R), by its key on the authoritative side. A mark
    is cleared only once the run's journal shows the record written, so a crash between
    marking and writing leaves it for the next run.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from syncline.state import schema as t
from syncline.state.fencing import end_stale_writes, next_generation, session_tag
from syncline.state.runs_store import process_alive
from syncline.state.store import StateStore, now

__all__ = [
    "Lease",
    "acquire_lease",
    "add_force_request",
    "clear_written_marks",
    "force_requests",
    "lease_holder",
    "mark_ceiling",
    "mark_records",
    "marked_count",
    "marked_keys",
    "release_lease",
    "release_leases_of_process",
    "renew_lease",
    "set_log_written",
]

_PAGE = 900


@dataclass(frozen=True, slots=True)
class Lease:
    """A run lock's row: who holds the link, since and until when (epoch seconds)."""

    link: str
    owner: str
    holder: str | None
    host: str | None
    pid: int | None
    acquired_at: float
    heartbeat_at: float
    expires_at: float

    def describe(self) -> str:
        """``HOLDER since HH:MM:SS UTC``: for LinkBusy messages."""
        since = datetime.fromtimestamp(self.acquired_at).astimezone().isoformat(
            timespec="seconds")
        return f"{self.holder or self.owner} (since {since})"


def _lease(row: Any) -> Lease:
    return Lease(row.link, row.owner, row.holder, row.host, row.pid, float(row.acquired_at),
                 float(row.heartbeat_at), float(row.expires_at))


def lease_holder(store: StateStore, link: str) -> Lease | None:
    """The lease on ``link``, expired or not; ``None`` when nobody holds it."""
    with store.engine.connect() as connection:
        row = connection.execute(select(t.run_locks).where(t.run_locks.c.link == link)).first()
    return _lease(row) if row is not None else None


def acquire_lease(store: StateStore, link: str, *, owner: str, holder: str, pid: int,
                  at: float, ttl: float) -> Lease | int:
    """Take the lease on ``link`` for ``owner`` until ``at + ttl``.

    Returns the lease's fencing token (see :mod:`syncline.state.fencing`; the link's next
    generation, given in the same transaction) when taken, else the lease of whoever holds
    it. A lease is taken over when it has expired, or when its holder is a process of this
    host that has ended.
    """
    host = socket.gethostname()
    values = {"owner": owner, "holder": holder, "host": host, "pid": pid, "acquired_at": at,
              "heartbeat_at": at, "expires_at": at + ttl}
    with store.engine.begin() as connection:
        _end_writes_of_expired(connection, link, owner=owner, at=at)
        if _insert_if_absent(connection, {"link": link, **values}):
            return next_generation(connection, link)
        row = connection.execute(select(t.run_locks).where(t.run_locks.c.link == link)).first()
        if row is None:  # released in between: try once more on the next call
            return Lease(link, "", "a run that just ended", None, None, at, at, at)
        current = _lease(row)
        dead = current.host == host and current.pid is not None and current.pid != pid \
            and not process_alive(current.pid)
        if current.owner != owner and current.expires_at > at and not dead:
            return current
        taken = connection.execute(
            update(t.run_locks).where(
                t.run_locks.c.link == link, t.run_locks.c.owner == current.owner,
                t.run_locks.c.expires_at == current.expires_at).values(**values))
        if taken.rowcount != 1:
            return current
        if current.owner != owner:  # expired, or its process ended: end its open writes
            end_stale_writes(connection, link)
        return next_generation(connection, link)


def _end_writes_of_expired(connection: Connection, link: str, *, owner: str,
                           at: float) -> None:
    """Before taking ``link``'s lease over, end the open transactions of its holder when
    the lease has expired (see :func:`~syncline.state.fencing.end_stale_writes`): a holder
    frozen in the middle of renewing it would otherwise keep the lease row locked, and the
    taker's insert or update of that row would wait for it for as long as it sleeps. The
    row is read without a lock (MVCC: a plain select does not wait for the holder)."""
    if connection.dialect.name != "postgresql":
        return
    row = connection.execute(select(t.run_locks.c.owner, t.run_locks.c.expires_at)
                             .where(t.run_locks.c.link == link)).first()
    if row is not None and row.owner != owner and float(row.expires_at) <= at:
        end_stale_writes(connection, link)


def _insert_if_absent(connection: Connection, values: dict[str, Any]) -> bool:
    """Insert a lease row unless one exists for the link; whether it was inserted."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        statement: Any = sqlite.insert(t.run_locks).values(**values).on_conflict_do_nothing(
            index_elements=["link"])
        return connection.execute(statement).rowcount == 1
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(t.run_locks).values(**values).on_conflict_do_nothing(
            index_elements=["link"])
        return connection.execute(statement).rowcount == 1
    try:
        with connection.begin_nested():
            connection.execute(insert(t.run_locks).values(**values))
    except IntegrityError:
        return False
    return True


def renew_lease(store: StateStore, link: str, *, owner: str, at: float, ttl: float,
                token: int | None = None) -> bool:
    """Move the lease's expiry to ``at + ttl``; ``False`` when ``owner`` no longer holds it.
    With the lease's fencing ``token``, the renewal's transaction names itself as the run's
    writes do (:func:`~syncline.state.fencing.session_tag`), so that a process taking an
    expired lease over can end it if its holder froze in the middle of it."""
    with store.engine.begin() as connection:
        if token is not None and connection.dialect.name == "postgresql":
            connection.execute(select(func.set_config("application_name",
                                                      session_tag(link, token), True)))
        result = connection.execute(
            update(t.run_locks).where(t.run_locks.c.link == link, t.run_locks.c.owner == owner)
            .values(heartbeat_at=at, expires_at=at + ttl))
    return result.rowcount == 1


def release_lease(store: StateStore, link: str, *, owner: str) -> bool:
    """Give the lease up; ``False`` when ``owner`` did not hold it (any more)."""
    with store.engine.begin() as connection:
        result = connection.execute(delete(t.run_locks).where(t.run_locks.c.link == link,
                                                              t.run_locks.c.owner == owner))
    return result.rowcount == 1


def release_leases_of_process(store: StateStore, *, keep: Iterable[str] = ()) -> list[str]:
    """Give up the leases this process (this host, this pid) holds on links other than
    ``keep`` (the links whose runs it still has going): those of runs an outage of the
    state store cut short, which could not release them. Returns their links.

    Raises:
        StateUnavailable: the state store cannot be reached.
    """
    kept = set(keep)
    query = select(t.run_locks.c.link, t.run_locks.c.owner).where(
        t.run_locks.c.host == socket.gethostname(), t.run_locks.c.pid == os.getpid())
    released: list[str] = []
    with store.engine.begin() as connection:
        for row in connection.execute(query).all():
            if row.link in kept:
                continue
            connection.execute(delete(t.run_locks).where(t.run_locks.c.link == row.link,
                                                         t.run_locks.c.owner == row.owner))
            released.append(str(row.link))
    return released


# -- forced resynchronisation ----------------------------------------------------------------

def add_force_request(store: StateStore, *, link: str, side: str, criteria: dict[str, Any],
                      requested_by: str | None, log_path: str | None) -> int:
    """Store a force request (its marks are added with :func:`mark_records`); its id."""
    with store.engine.begin() as connection:
        result = connection.execute(insert(t.force_requests).values(
            link=link, side=side, criteria=json.dumps(criteria, default=str),
            requested_by=requested_by, created_at=now(), marked=0, log_path=log_path,
            run_id=None, log_written=False))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def mark_records(store: StateStore, *, request_id: int, scope_id: int, side: str,
                 keys: Sequence[tuple[str, str]]) -> int:
    """Mark records ``(key, reason)`` of a scope to be sent again from ``side``. A key marked
    before is marked anew (new id, this request). Returns how many were marked."""
    wanted = list(dict((key, reason) for key, reason in keys).items())
    created = now()
    with store.engine.begin() as connection:
        for start in range(0, len(wanted), _PAGE):
            chunk = wanted[start:start + _PAGE]
            connection.execute(delete(t.force_marks).where(
                t.force_marks.c.scope_id == scope_id, t.force_marks.c.side == side,
                t.force_marks.c.key.in_([key for key, _ in chunk])))
            connection.execute(insert(t.force_marks), [
                {"scope_id": scope_id, "side": side, "key": key, "request_id": request_id,
                 "reason": reason, "created_at": created} for key, reason in chunk])
        connection.execute(update(t.force_requests).where(t.force_requests.c.id == request_id)
                           .values(marked=t.force_requests.c.marked + len(wanted)))
    return len(wanted)


def _written_keys(scope_id: int, run_id: int, side: str) -> Any:
    """The keys on ``side`` that run ``run_id`` journalled as written (R or D, ok or
    warning) in a scope: a subquery."""
    column = t.journal.c.a_key if side == "a" else t.journal.c.b_key
    return select(column).where(
        t.journal.c.run_id == run_id, t.journal.c.scope_id == scope_id,
        t.journal.c.action.in_(("R", "D")), t.journal.c.outcome.in_(("ok", "warning")),
        column.is_not(None)).scalar_subquery()


def marked_keys(store: StateStore, scope_id: int, side: str,
                run_id: int | None = None) -> set[str]:
    """The keys on ``side`` marked for resynchronisation in a scope; with ``run_id``, less
    those that run already wrote (an interrupted run's writes that it settled)."""
    query = select(t.force_marks.c.key).where(t.force_marks.c.scope_id == scope_id,
                                              t.force_marks.c.side == side)
    if run_id:
        query = query.where(t.force_marks.c.key.not_in(_written_keys(scope_id, run_id, side)))
    with store.engine.connect() as connection:
        return {row.key for row in connection.execute(query)}


def marked_count(store: StateStore, link: str | None = None,
                 streams: Sequence[str] = ()) -> int:
    """How many marks wait (for one link, or all; for some of its streams, or all)."""
    query = select(func.count()).select_from(t.force_marks)
    if link is not None:
        query = query.join(t.scopes, t.scopes.c.id == t.force_marks.c.scope_id).where(
            t.scopes.c.link == link)
        if streams:
            query = query.where(t.scopes.c.stream.in_(list(streams)))
    with store.engine.connect() as connection:
        return int(connection.execute(query).scalar() or 0)


def mark_ceiling(store: StateStore) -> int:
    """The newest mark's id: a run clears only marks that existed when it started."""
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.max(t.force_marks.c.id))).scalar() or 0)


def clear_written_marks(store: StateStore, *, scope_id: int, run_id: int,
                        ceiling: int) -> int:
    """Clear the marks of a scope (ids up to ``ceiling``) whose records run ``run_id``
    journalled as written: action R (or D, a record deleted meanwhile) with outcome ok or
    warning, by the key on the mark's side. Records the run on their requests. Returns how
    many were cleared."""
    condition = and_(
        t.force_marks.c.scope_id == scope_id, t.force_marks.c.id <= ceiling,
        or_(and_(t.force_marks.c.side == "a",
                 t.force_marks.c.key.in_(_written_keys(scope_id, run_id, "a"))),
            and_(t.force_marks.c.side == "b",
                 t.force_marks.c.key.in_(_written_keys(scope_id, run_id, "b")))))
    with store.begin() as connection:
        requests = select(t.force_marks.c.request_id).where(condition).distinct()
        connection.execute(update(t.force_requests).where(
            t.force_requests.c.id.in_(requests.scalar_subquery()),
            t.force_requests.c.run_id.is_(None)).values(run_id=run_id))
        return int(connection.execute(delete(t.force_marks).where(condition)).rowcount)


def force_requests(store: StateStore, *, link: str | None = None, run_id: int | None = None,
                   request_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Force requests (newest first), with their criteria decoded and ``waiting``: how many
    of their marks are not yet written."""
    waiting = select(func.count()).select_from(t.force_marks).where(
        t.force_marks.c.request_id == t.force_requests.c.id).scalar_subquery()
    query = select(t.force_requests, waiting.label("waiting")).order_by(
        t.force_requests.c.id.desc())
    if link is not None:
        query = query.where(t.force_requests.c.link == link)
    if run_id is not None:
        query = query.where(t.force_requests.c.run_id == run_id)
    if request_ids is not None:
        query = query.where(t.force_requests.c.id.in_(list(request_ids)))
    with store.engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    for row in rows:
        row["criteria"] = json.loads(row["criteria"])
    return rows


def set_log_written(store: StateStore, request_id: int) -> None:
    """Note that a request's log file was written."""
    with store.engine.begin() as connection:
        connection.execute(update(t.force_requests).where(t.force_requests.c.id == request_id)
                           .values(log_written=True))
