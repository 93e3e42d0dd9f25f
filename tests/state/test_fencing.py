"""Fenced leases in the state store: every write a run makes checks its fencing token in
the same transaction; a stale one is refused (LeaseLost) and nothing of it is written; the
run that takes the link over records the stale run as taken over, with its counts rebuilt
from its journal; a killed run's counts come from its journal too. On SQLite files and on
PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from syncline.errors import LeaseLost
from syncline.journal import JournalRow
from syncline.model import Direction
from syncline.plan_types import MappingRow
from syncline.service import ManualClock, RunLock
from syncline.state import schema as t
from syncline.state.bulk import CreatedMappings
from syncline.state.service_store import clear_written_marks
from syncline.state.store import PendingIntent, StateStore, now

LINK = "crm-books"


def _count(store: StateStore, table: sa.Table) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _start(store: StateStore) -> int:
    return store.start_run(link=LINK, trigger="manual", mode="incremental", scope={},
                           user=None, dry_run=False, started_at=now())


class _TakenOver:
    """A run of LINK under lease A (``stale``, a fenced store), then lease A expired and
    taken over by lease B, whose run started (``taker_run``)."""

    def __init__(self, store: StateStore) -> None:
        clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
        self.first = RunLock(store, LINK, holder="frozen", ttl=60, clock=clock,
                             heartbeat=False)
        self.first.acquire()
        assert self.first.fence is not None
        self.stale = store.fenced(self.first.fence)
        self.stale_run = _start(self.stale)
        self.scope_id = store.scope_id(LINK, "contact")
        clock.advance(61)
        self.second = RunLock(store, LINK, holder="taker", ttl=60, clock=clock,
                              heartbeat=False)
        self.second.acquire()
        assert self.second.fence is not None
        assert self.second.fence.token > self.first.fence.token
        self.taker = store.fenced(self.second.fence)
        self.taker_run = _start(self.taker)


def _writes(case: _TakenOver) -> dict[str, Callable[[], object]]:
    """Every kind of state write a run makes, through the stale run's store."""
    stale, scope_id, run_id = case.stale, case.scope_id, case.stale_run
    created = CreatedMappings(Direction.A_TO_B, "created", ["1"], ["b1"], [b"h" * 16],
                              [None], [None], ["A"])
    return {
        "settle": lambda: stale.settle(
            scope_id=scope_id, run_id=run_id,
            new_mappings=[MappingRow(None, "1", "b1", b"h" * 16, b"h" * 16)],
            journal_rows=[JournalRow(run_id, scope_id, "1", "b1", "A", "a>b", "ok", "created")]),
        "bulk-create settle": lambda: stale.settle(scope_id=scope_id, run_id=run_id,
                                                   created=[created]),
        "write_intent": lambda: stale.write_intent(
            PendingIntent("batch-1", run_id, scope_id, "b", {"ops": []})),
        "set_cursor": lambda: stale.set_cursor(scope_id, "a", "42"),
        "finish_run": lambda: stale.finish_run(run_id, outcome="ok", finished_at=now(),
                                               duration_s=1.0, counts={}, message=None),
        "start_run": lambda: _start(stale),
        "hold_conflict": lambda: stale.hold_conflict(
            scope_id=scope_id, run_id=run_id, a_key="1", b_key="b1", a_fields={},
            b_fields={}, base=None),
        "clear_written_marks": lambda: clear_written_marks(stale, scope_id=scope_id,
                                                           run_id=run_id, ceiling=1),
    }


WRITES = ["settle", "bulk-create settle", "write_intent", "set_cursor", "finish_run",
          "start_run", "hold_conflict", "clear_written_marks"]


@pytest.mark.parametrize("write", WRITES)
def test_every_state_write_of_a_run_that_lost_its_lease_is_refused(store: StateStore,
                                                                   write: str) -> None:
    case = _TakenOver(store)
    tables = (t.mappings, t.journal, t.intents, t.cursors, t.conflicts, t.runs)
    before = {table.name: _count(store, table) for table in tables}
    with pytest.raises(LeaseLost) as caught:
        _writes(case)[write]()
    assert str(caught.value) == (
        f"run {case.stale_run} of {LINK} lost its lease to run {case.taker_run} (another "
        f"process took the link over after this one stopped renewing): stopping, nothing "
        f"more is written")
    assert {table.name: _count(store, table) for table in tables} == before
    stale = store.runs(LINK, run_id=case.stale_run)[0]
    assert stale["outcome"] == "failed" and "taken over" in stale["message"]


@pytest.mark.parametrize("write", WRITES)
def test_the_holders_own_writes_pass_the_fence(store: StateStore, write: str) -> None:
    lock = RunLock(store, LINK, holder="holder", heartbeat=False)
    lock.acquire()
    try:
        assert lock.fence is not None
        case = _TakenOver.__new__(_TakenOver)
        case.stale = store.fenced(lock.fence)
        case.stale_run = _start(case.stale)
        case.scope_id = store.scope_id(LINK, "contact")
        _writes(case)[write]()  # no LeaseLost
    finally:
        lock.release()


def test_the_taken_over_run_is_failed_with_counts_from_its_journal(store: StateStore) -> None:
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    first = RunLock(store, LINK, holder="frozen", ttl=60, clock=clock, heartbeat=False)
    first.acquire()
    assert first.fence is not None
    stale = store.fenced(first.fence)
    run_id = _start(stale)
    scope_id = store.scope_id(LINK, "contact")
    stale.settle(scope_id=scope_id, run_id=run_id, journal_rows=[
        JournalRow(run_id, scope_id, "1", "b1", "A", "a>b", "ok", "created"),
        JournalRow(run_id, scope_id, "2", "b2", "A", "a>b", "ok", "created"),
        JournalRow(run_id, scope_id, "3", "b3", "M", "a>b", "warning", "shortened"),
        JournalRow(run_id, scope_id, "4", None, "A", "a>b", "error", "refused"),
        JournalRow(run_id, scope_id, "5", "b5", "M", "a>b", "skipped",
                   "conflict (changed on both)")])
    clock.advance(61)
    second = RunLock(store, LINK, holder="taker", ttl=60, clock=clock, heartbeat=False)
    second.acquire()
    assert second.fence is not None
    taker_run = _start(store.fenced(second.fence))
    row = store.runs(LINK, run_id=run_id)[0]
    assert row["outcome"] == "failed"
    assert row["message"] == (f"taken over: run {run_id} of {LINK} stopped renewing its "
                              f"lease and run {taker_run} took the link over; that run "
                              f"settled what this one left")
    assert row["counts"] == {"contact": {"A": 2, "M": 1, "D": 0, "R": 0, "errors": 1,
                                         "warnings": 1, "conflicts": 1, "skipped": 1}}
    assert store.runs(LINK, run_id=taker_run)[0]["outcome"] == "running"


def test_a_lease_not_renewed_for_half_its_time_stops_before_the_next_batch(
        store: StateStore) -> None:
    lock = RunLock(store, LINK, holder="holder", ttl=60, heartbeat=False)
    lock.acquire()
    try:
        assert lock.fence is not None
        fenced = store.fenced(lock.fence)
        run_id = _start(fenced)
        scope_id = store.scope_id(LINK, "contact")
        intent = PendingIntent("batch-1", run_id, scope_id, "b", {"ops": []})
        lock.fence.renewed_at -= 29  # renewed 29 s ago: still fresh
        fenced.write_intent(intent)
        lock.fence.renewed_at -= 2  # 31 s: more than half of 60 s
        with pytest.raises(LeaseLost, match="could not renew its lease for 31 s, more than "
                                            "half of the 60 s lease"):
            fenced.write_intent(PendingIntent("batch-2", run_id, scope_id, "b", {"ops": []}))
        assert [i.batch_id for i in store.pending_intents(scope_id)] == ["batch-1"]
        # nobody took the link over: the run can still record how it ended
        fenced.finish_run(run_id, outcome="failed", finished_at=now(), duration_s=1.0,
                          counts={}, message="stopped")
    finally:
        lock.release()


def test_fencing_tokens_only_grow_across_releases(store: StateStore) -> None:
    tokens = []
    for _ in range(3):
        with RunLock(store, LINK, holder="holder", heartbeat=False) as lock:
            assert lock.fence is not None
            tokens.append(lock.fence.token)
    assert tokens == sorted(set(tokens)) and len(tokens) == 3


def test_a_killed_runs_counts_are_rebuilt_from_its_journal(store: StateStore) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead_pid = int(ended.stdout)
    run_id = _start(store)
    scope_id = store.scope_id(LINK, "contact")
    store.settle(scope_id=scope_id, run_id=run_id, journal_rows=[
        JournalRow(run_id, scope_id, str(n), f"b{n}", "A", "a>b", "ok", "created")
        for n in range(7)])
    with store.engine.begin() as connection:  # as if the process running it was killed
        connection.execute(t.runs.update().where(t.runs.c.id == run_id).values(pid=dead_pid))
    later = _start(store)
    row = store.runs(LINK, run_id=run_id)[0]
    assert row["outcome"] == "failed" and row["message"].startswith("interrupted")
    assert row["counts"] == {"contact": {"A": 7, "M": 0, "D": 0, "R": 0, "errors": 0,
                                         "warnings": 0, "conflicts": 0, "skipped": 0}}
    assert json.loads(json.dumps(row["counts"]))  # stored as JSON
    assert later != run_id


def test_the_heartbeat_notices_a_takeover_and_the_next_write_names_the_taker(
        store: StateStore) -> None:
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    frozen = RunLock(store, LINK, holder="frozen", ttl=0.3, clock=clock)
    frozen.acquire()
    try:
        assert frozen.fence is not None
        stale = store.fenced(frozen.fence)
        stale_run = _start(stale)
        frozen._stop.set()  # its heartbeat stops, as if the process were frozen
        assert frozen._thread is not None
        frozen._thread.join()
        clock.advance(1)
        taker = RunLock(store, LINK, holder="taker", ttl=60, clock=clock, heartbeat=False)
        taker.acquire()
        assert taker.fence is not None
        taker_run = _start(store.fenced(taker.fence))
        frozen._stop.clear()
        frozen._beat_once()  # woken: the renewal finds the lease taken over
        assert frozen.fence.taken_over.is_set()
        with pytest.raises(LeaseLost, match=f"run {stale_run} of {LINK} lost its lease to "
                                            f"run {taker_run} "):
            stale.set_cursor(store.scope_id(LINK, "contact"), "a", "1")
        taker.release()
    finally:
        frozen.release()


def test_a_holder_frozen_in_the_middle_of_renewing_does_not_jam_the_taker(
        postgres_url: str) -> None:
    """PostgreSQL: the holder's heartbeat stops between its update of the lease row and its
    commit (a process frozen there holds the row locked); once the lease has expired, a
    taker ends that transaction instead of waiting for it, and takes the link."""
    holder_store, taker_store = StateStore.open(postgres_url), StateStore.open(postgres_url)
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    holder = RunLock(holder_store, LINK, holder="frozen", ttl=60, clock=clock, heartbeat=False)
    taker = RunLock(taker_store, LINK, holder="taker", ttl=60, clock=clock, heartbeat=False)
    in_renewal, wake = threading.Event(), threading.Event()

    def freeze(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("UPDATE run_locks"):
            in_renewal.set()
            wake.wait(30)

    holder.acquire()
    sa.event.listen(holder_store.engine, "after_cursor_execute", freeze)
    beat = threading.Thread(target=holder._beat_once, daemon=True)
    try:
        beat.start()
        assert in_renewal.wait(10), "the heartbeat did not renew"
        clock.advance(61)  # the lease expires while its renewal is still open
        taking = threading.Thread(target=taker.acquire, daemon=True)
        taking.start()
        taking.join(15)
        assert not taking.is_alive(), "the taker waited for the frozen renewal"
        assert taker.held and taker.fence is not None and holder.fence is not None
        assert taker.fence.token == holder.fence.token + 1
    finally:
        wake.set()
        beat.join(10)
        sa.event.remove(holder_store.engine, "after_cursor_execute", freeze)
        taker.release()
        holder_store.close()
        taker_store.close()
