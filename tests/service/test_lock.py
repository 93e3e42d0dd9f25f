"""The run lock: atomic, named in LinkBusy, taken over when stale, and holding across real
processes on one SQLite file and on PostgreSQL (``syncline sync`` fails or ``--wait``s)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli.helpers import SqlPair, make_sql
from syncline.errors import LinkBusy
from syncline.service import ManualClock, RunLock
from syncline.service.lock import holder_text
from syncline.state.service_store import lease_holder
from syncline.state.store import StateStore

HERE = Path(__file__).parent
SYNCLINE = Path(sys.executable).with_name("syncline")
TIMEOUT = 60  # generous bound on a subprocess step; never a timing assertion


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(f"sqlite:///{tmp_path}/state.db")
    yield opened
    opened.close()


def test_one_holder_at_a_time_and_busy_names_the_holder(store: StateStore) -> None:
    first = RunLock(store, "lr", holder=holder_text("syncline serve", None))
    second = RunLock(store, "lr", holder="the other")
    first.acquire()
    try:
        with pytest.raises(LinkBusy) as caught:
            second.acquire()
        assert "link 'lr' is busy: syncline serve on " in str(caught.value)
        assert "--wait" in str(caught.value)
        assert RunLock(store, "other-link", holder="x").try_acquire() is None  # per link
    finally:
        first.release()
    assert lease_holder(store, "lr") is None
    with second:
        assert lease_holder(store, "lr") is not None
        assert lease_holder(store, "lr").holder == "the other"  # type: ignore[union-attr]
    assert lease_holder(store, "lr") is None


def test_a_stale_lease_is_taken_over_after_it_expires(store: StateStore) -> None:
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    dead = RunLock(store, "lr", holder="a process that hangs", ttl=60, clock=clock,
                   heartbeat=False)
    dead.acquire()
    taker = RunLock(store, "lr", holder="the service", ttl=60, clock=clock, heartbeat=False)
    clock.advance(59)
    with pytest.raises(LinkBusy):
        taker.acquire()
    clock.advance(2)
    taker.acquire()
    assert lease_holder(store, "lr").holder == "the service"  # type: ignore[union-attr]
    dead.release()  # the old holder's late release must not free the new holder's lease
    assert lease_holder(store, "lr").holder == "the service"  # type: ignore[union-attr]
    taker.release()
    assert lease_holder(store, "lr") is None


def test_the_heartbeat_keeps_a_lease_alive(store: StateStore) -> None:
    clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
    lock = RunLock(store, "lr", holder="holder", ttl=0.3, clock=clock)
    lock.acquire()
    try:
        first = lease_holder(store, "lr")
        assert first is not None
        clock.advance(100)
        # wait (bounded) for the heartbeat thread to renew against the moved clock
        for _ in range(200):
            current = lease_holder(store, "lr")
            if current is not None and current.expires_at > first.expires_at:
                break
            lock._stop.wait(0.05)
        assert current is not None and current.expires_at == pytest.approx(
            clock.now().timestamp() + 0.3)
    finally:
        lock.release()


def _holder(url: str, link: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, str(HERE / "hold_lock.py"), url, link],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_the_lease_of_a_dead_process_is_taken_over_at_once(tmp_path: Path,
                                                           store: StateStore) -> None:
    url = str(store.engine.url)
    process = _holder(url, "lr")
    try:
        with pytest.raises(LinkBusy) as caught:
            RunLock(store, "lr", holder="me").acquire()
        assert "hold_lock.py by tester" in str(caught.value)
        assert process.stdin is not None
        process.stdin.write("die\n")
        process.stdin.flush()
        assert process.wait(TIMEOUT) == 9
        lock = RunLock(store, "lr", holder="me")
        lock.acquire()  # the lease has ten minutes left, but its process has ended
        lock.release()
    finally:
        process.kill()
        process.wait(TIMEOUT)


def _sync(config: Path, *more: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(SYNCLINE), "sync", "crm-books", "--config", str(config),
                             *more], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _cross_process(pair: SqlPair, url: str) -> None:
    """While another process holds the lock: ``sync`` fails naming it, ``sync --wait``
    waits and runs once it is released."""
    holder = _holder(url, "crm-books")
    try:
        busy = _sync(pair.config)
        _out, err = busy.communicate(timeout=TIMEOUT)
        assert busy.returncode == 3, err
        assert "link 'crm-books' is busy: hold_lock.py by tester on" in err
        assert len(pair.customers()) == 1  # nothing ran
        waiting = _sync(pair.config, "--wait")
        assert waiting.stderr is not None
        line = waiting.stderr.readline()
        while "waiting for" not in line:
            assert line, "sync --wait ended without waiting"
            line = waiting.stderr.readline()
        assert "hold_lock.py by tester" in line
        assert waiting.poll() is None  # still waiting: the lock is held
        assert holder.stdin is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "released"
        _out, err = waiting.communicate(timeout=TIMEOUT)
        assert waiting.returncode == 0, err
        assert len(pair.customers()) == 3  # it ran once the lock was free
    finally:
        holder.kill()
        holder.wait(TIMEOUT)


def test_lock_across_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    pair = make_sql(tmp_path)
    _cross_process(pair, f"sqlite:///{pair.folder}/syncline-state.db")


@pytest.mark.postgres
def test_lock_across_processes_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    pair = make_sql(tmp_path)
    text = pair.config.read_text(encoding="utf-8")
    pair.config.write_text(text.replace('url = "sqlite:///syncline-state.db"',
                                        f'url = "{postgres_url}"', 1), encoding="utf-8")
    _cross_process(pair, postgres_url)


def _race(store: StateStore) -> None:
    """Eight threads with their own connections try to take a free lock at once."""
    barrier = threading.Barrier(8)
    results: list[object] = []

    def attempt(number: int) -> None:
        lock = RunLock(store, "race", holder=f"racer {number}", heartbeat=False)
        barrier.wait()
        results.append(lock.try_acquire())

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(results) == 8
    assert sum(result is None for result in results) == 1  # exactly one winner
    holder = lease_holder(store, "race")
    assert holder is not None
    assert all(result is None or result.owner == holder.owner  # type: ignore[attr-defined]
               for result in results)


def test_exactly_one_of_many_takes_the_lock_sqlite(store: StateStore) -> None:
    _race(store)


@pytest.mark.postgres
def test_exactly_one_of_many_takes_the_lock_postgresql(postgres_url: str) -> None:
    opened = StateStore.open(postgres_url)
    try:
        _race(opened)
    finally:
        opened.close()


def test_ctrl_c_while_waiting_for_the_link_stops_at_once(tmp_path: Path) -> None:
    pair = make_sql(tmp_path)
    holder = _holder(f"sqlite:///{pair.folder}/syncline-state.db", "crm-books")
    try:
        waiting = _sync(pair.config, "--wait")
        assert waiting.stderr is not None
        line = waiting.stderr.readline()
        while "waiting for" not in line:
            assert line, "sync --wait ended without waiting"
            line = waiting.stderr.readline()
        sent = time.monotonic()
        waiting.send_signal(signal.SIGINT)
        _out, err = waiting.communicate(timeout=TIMEOUT)
        assert waiting.returncode == 130, err
        assert time.monotonic() - sent < 2.0
        assert "stopping…" in err and "interrupted (Ctrl-C)" in err
        assert "stopping at once" not in err  # it stopped waiting cleanly
        assert len(pair.customers()) == 1  # nothing ran
    finally:
        holder.kill()
        holder.wait(TIMEOUT)
