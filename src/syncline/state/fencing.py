"""Fencing tokens: a run's writes to the state store are refused once its lease is lost.

Terms:

fencing token
    A link's **generation** (table ``link_fences``): a number that grows by one each time a
    run lock of the link is taken, in the same transaction (:func:`next_generation`), and is
    never reset. A run holds the generation its lock was taken with.
fence
    :class:`Fence`: the token a run holds, with what its lock knows of its renewals. A state
    store opened for a run (:meth:`~syncline.state.store.StateStore.fenced`) checks the fence
    in the same transaction as every write it makes (:func:`check_fence`): the check updates
    the link's fence row only where the generation is still the run's, so on PostgreSQL the
    row stays locked until the write commits and a process taking the link over waits for
    it; on SQLite the check takes the database's write lock. A stale token is refused with
    :class:`~syncline.errors.LeaseLost`, and nothing of that transaction is written.
stale write
    On PostgreSQL, a fenced transaction names itself (``application_name``, for that
    transaction only: :func:`session_tag`). A process taking over an expired lease first
    ends the sessions whose transactions are still open under the old token
    (:func:`end_stale_writes`): a holder frozen in the middle of a write (SIGSTOP, a long
    pause) would otherwise hold its locks, and the link, until it wakes. Its transaction
    is rolled back; once woken, it finds its connection closed and its lease lost.
fresh
    A lease renewed less than half its time ago. A run whose lease is not fresh stops before
    it sends its next batch to an endpoint (:meth:`Fence.check_fresh`, called where the
    batch's intent is written), even if nobody took the link over yet.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from syncline.errors import LeaseLost, SynclineError
from syncline.state import schema as t

__all__ = ["Fence", "check_fence", "end_stale_writes", "fence_run_id", "lost_after_error",
           "next_generation", "session_tag", "set_fence_run"]

log = logging.getLogger("syncline.service")


@dataclass
class Fence:
    """The fencing token of one run's lease (see the module docstring).

    ``renewed_at`` is the :func:`time.monotonic` time of the lease's last renewal (or of
    its taking); ``taken_over`` is set by the lock's heartbeat when renewing found the lease
    held by someone else. ``run_id`` is the run started under the lease, once started.
    """

    link: str
    token: int
    ttl: float
    run_id: int | None = None
    renewed_at: float = field(default_factory=time.monotonic)
    taken_over: threading.Event = field(default_factory=threading.Event)

    def renewed(self) -> None:
        """Note a successful renewal (now)."""
        self.renewed_at = time.monotonic()

    def check_fresh(self) -> None:
        """Stop a run whose lease was not renewed for more than half its time (see the
        module docstring).

        Raises:
            LeaseLost: the lease was not renewed for more than half its time (a lease
                taken over is refused by :func:`check_fence`, which names the taker).
        """
        silent = time.monotonic() - self.renewed_at
        if silent > self.ttl / 2:
            raise LeaseLost(self.link, self.run_id, None,
                            f"this process could not renew its lease for {silent:.0f} s, "
                            f"more than half of the {self.ttl:g} s lease; another process "
                            f"may take the link over")


def session_tag(link: str, token: int) -> str:
    """The ``application_name`` of a fenced transaction on PostgreSQL (short enough for the
    server's 63 characters, whatever the link's name)."""
    digest = hashlib.sha256(link.encode("utf-8")).hexdigest()[:16]
    return f"syncline fence {digest} {token}"


def end_stale_writes(connection: Connection, link: str) -> int:
    """On PostgreSQL, end the sessions holding a transaction open under ``link``'s current
    token (see the module docstring), before the token moves on; how many were ended. Does
    nothing elsewhere, and logs (without raising) when the server does not allow it."""
    if connection.dialect.name != "postgresql":
        return 0
    current = connection.execute(select(t.link_fences.c.generation).where(
        t.link_fences.c.link == link)).scalar()
    if current is None:
        return 0
    try:
        with connection.begin_nested():
            ended = connection.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :tag AND pid <> pg_backend_pid()"),
                {"tag": session_tag(link, int(current))}).scalar()
    except Exception as error:  # e.g. not allowed to signal that role's sessions
        log.warning("%s: could not end the writes of the run that lost its lease: %s",
                    link, error)
        return 0
    if ended:
        log.warning("%s: ended %d open write(s) of the run whose lease expired", link, ended)
    return int(ended or 0)


def next_generation(connection: Connection, link: str) -> int:
    """Give ``link`` its next fencing token, in the caller's transaction; the new token.
    The run of the previous generation is kept (see :func:`fence_run_id`) until the new
    holder starts its run."""
    current = connection.execute(select(t.link_fences.c.generation).where(
        t.link_fences.c.link == link)).scalar()
    if current is None:
        connection.execute(insert(t.link_fences).values(link=link, generation=1, run_id=None))
        return 1
    connection.execute(update(t.link_fences).where(t.link_fences.c.link == link)
                       .values(generation=t.link_fences.c.generation + 1))
    return int(connection.execute(select(t.link_fences.c.generation).where(
        t.link_fences.c.link == link)).scalar_one())


def check_fence(connection: Connection, fence: Fence) -> None:
    """Refuse a write of a run whose token is stale, in the caller's transaction (before
    its writes): see the module docstring.

    Raises:
        LeaseLost: another lock holder took the link over (naming its run when it has one).
    """
    if fence.taken_over.is_set():
        raise _lost(connection, fence)
    if connection.dialect.name == "postgresql":  # found by a taker: see end_stale_writes
        connection.execute(select(func.set_config("application_name",
                                                  session_tag(fence.link, fence.token), True)))
    checked = connection.execute(
        update(t.link_fences).where(t.link_fences.c.link == fence.link,
                                    t.link_fences.c.generation == fence.token)
        .values(generation=fence.token))
    if checked.rowcount != 1:
        raise _lost(connection, fence)


def _lost(connection: Connection, fence: Fence) -> LeaseLost:
    taker = fence_run_id(connection, fence.link)
    return LeaseLost(fence.link, fence.run_id, taker if taker != fence.run_id else None)


def fence_run_id(connection: Connection, link: str) -> int | None:
    """The run started by the current (or last) holder of ``link``'s lease, if any."""
    value = connection.execute(select(t.link_fences.c.run_id).where(
        t.link_fences.c.link == link)).scalar()
    return None if value is None else int(value)


def set_fence_run(connection: Connection, fence: Fence, run_id: int) -> int | None:
    """Record ``run_id`` as the run of ``fence``'s lease (after :func:`check_fence`);
    returns the run the previous holder had started, if any (it may have been taken over)."""
    previous = fence_run_id(connection, fence.link)
    connection.execute(update(t.link_fences).where(t.link_fences.c.link == fence.link)
                       .values(run_id=run_id))
    fence.run_id = run_id
    return previous


def lost_after_error(engine: Engine, fence: Fence) -> LeaseLost | None:
    """After a state-store error met by a run holding ``fence``: the :class:`LeaseLost` to
    report instead when the link was taken over meanwhile (a taker ends the sessions of a
    stale holder, which the holder meets as a dropped connection), else ``None`` (the fence
    still holds, or the store cannot say: the error stands)."""
    try:
        with engine.connect() as connection:
            current = connection.execute(select(t.link_fences.c.generation).where(
                t.link_fences.c.link == fence.link)).scalar()
            if fence.taken_over.is_set() or (current is not None
                                             and int(current) != fence.token):
                return _lost(connection, fence)
    except (SQLAlchemyError, SynclineError):
        return None
    return None
