"""State store outages (:mod:`syncline.state.outage`) and runs left 'running' by them
(:meth:`StateStore.close_interrupted_runs`, counts from :mod:`syncline.state.journal_counts`).

The outage tests stop a private PostgreSQL server (:mod:`private_postgres`) under an open
store and start it again; the run tests use a SQLite file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from private_postgres import PrivatePostgres, private_postgres
from syncline.errors import StateError, StateUnavailable
from syncline.journal import JournalRow
from syncline.state import StateStore, schema
from syncline.state.outage import StoreHealth, health_of


@pytest.fixture
def state_server() -> Iterator[PrivatePostgres]:
    yield from private_postgres()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _start(store: StateStore, link: str) -> int:
    return store.start_run(link=link, trigger="manual", mode="incremental", scope={},
                           user=None, dry_run=False, started_at=datetime.now(UTC))


def _journal(store: StateStore, run_id: int, stream: str, rows: list[tuple[str, str]]) -> None:
    scope = store.scope_id("l", stream)
    store.settle(scope_id=scope, run_id=run_id, journal_rows=[
        JournalRow(run_id, scope, f"a{n}", f"b{n}", action, "a>b", outcome, None)
        for n, (action, outcome) in enumerate(rows)])


def _run(store: StateStore, run_id: int) -> dict[str, object]:
    (row,) = store.runs(run_id=run_id)
    return row


def test_an_outage_is_one_clear_error_and_the_store_reconnects(
        state_server: PrivatePostgres) -> None:
    store = StateStore.open(state_server.url)
    health = health_of(store.engine)
    assert health is not None and not health.down
    scope = store.scope_id("l", "contact")
    store.set_cursor(scope, "a", "7")
    state_server.stop()
    with pytest.raises(StateUnavailable) as met:
        store.cursor(scope, "a")
    assert isinstance(met.value, StateError) and met.value.exit_code == 3
    assert str(met.value).startswith(
        f"the state store at postgresql+psycopg://postgres@127.0.0.1:{state_server.port}/"
        f"syncline is unreachable: ")
    assert health.down
    with pytest.raises(StateUnavailable, match="unreachable: connection refused"):
        store.runs()  # while it stays down, every use says so
    with pytest.raises(StateUnavailable, match="unreachable: connection refused"):
        StateStore.open(state_server.url)
    state_server.start()
    assert store.cursor(scope, "a") == "7"  # the same store object works again
    assert not health.down
    store.close()


def test_health_backs_off_between_tries() -> None:
    health = StoreHealth("sqlite:///x.db", first_wait=0.2, max_wait=0.4)
    assert health.due()  # up: always
    health.mark_down("connection refused")
    assert health.down and not health.due()
    time.sleep(0.25)
    assert health.due()  # the first try, then twice the wait
    assert not health.due()
    time.sleep(0.25)
    assert not health.due()
    time.sleep(0.2)
    assert health.due()
    assert health.error().reason == "connection refused"
    assert health.mark_up() and not health.down and not health.mark_up()


def test_runs_cut_short_are_marked_interrupted_with_counts_from_the_journal(
        store: StateStore) -> None:
    cut = _start(store, "l")
    _journal(store, cut, "contact", [("A", "ok"), ("A", "ok"), ("M", "warning"),
                                     ("D", "error"), ("M", "skipped")])
    _journal(store, cut, "organisation", [("A", "ok")])
    going = _start(store, "busy-link")
    assert store.close_interrupted_runs(own=False) == []  # this process's runs: only on ask
    assert store.close_interrupted_runs(own=True, busy=["busy-link"]) == [cut]
    row = _run(store, cut)
    assert row["outcome"] == "failed" and row["finished_at"] is not None
    assert str(row["message"]).startswith("interrupted: the run could not record its end")
    assert row["counts"] == {
        "contact": {"A": 2, "M": 1, "D": 0, "R": 0, "errors": 1, "warnings": 1,
                    "conflicts": 0, "skipped": 1},
        "organisation": {"A": 1, "M": 0, "D": 0, "R": 0, "errors": 0, "warnings": 0,
                         "conflicts": 0, "skipped": 0}}
    assert _run(store, going)["outcome"] == "running"


def _left_running(store: StateStore, link: str, pid: int) -> int:
    """A run row as a process ``pid`` of this host leaves it when it stops unrecorded."""
    with store.engine.begin() as connection:
        return int(connection.execute(insert(schema.runs).values(
            link=link, trigger="manual", mode="incremental", scope="{}",
            started_at=datetime.now(UTC), outcome="running", dry_run=False,
            host=socket.gethostname(), pid=pid)).inserted_primary_key[0])


def test_a_new_run_closes_the_earlier_one_of_its_process_and_of_ended_ones(
        store: StateStore) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    own = _left_running(store, "l", os.getpid())
    _journal(store, own, "contact", [("A", "ok")])
    other = _left_running(store, "l", int(ended.stdout))
    alive = _left_running(store, "m", os.getppid())
    dry = store.start_run(link="l", trigger="manual", mode="incremental", scope={},
                          user=None, dry_run=True, started_at=datetime.now(UTC))
    assert _run(store, own)["outcome"] == "running"  # a dry run leaves its process's alone
    assert _run(store, other)["outcome"] == "failed"
    assert "the process running it ended" in str(_run(store, other)["message"])
    store.finish_run(dry, outcome="ok", finished_at=datetime.now(UTC), duration_s=0.0,
                     counts={}, message=None)
    latest = _start(store, "l")
    assert _run(store, own)["outcome"] == "failed"
    assert _run(store, own)["counts"] == {
        "contact": {"A": 1, "M": 0, "D": 0, "R": 0, "errors": 0, "warnings": 0,
                    "conflicts": 0, "skipped": 0}}
    assert _run(store, alive)["outcome"] == "running"  # another link, a live process
    assert _run(store, latest)["outcome"] == "running"


def test_a_sqlite_store_whose_file_went_away_is_unreachable(tmp_path: Path) -> None:
    folder = tmp_path / "mounted"
    store = StateStore.open(f"sqlite:///{folder / 'state.db'}")
    store.scope_id("l", "contact")
    store.engine.dispose()  # the next use opens the file anew
    (folder / "state.db").rename(tmp_path / "elsewhere.db")
    folder.rmdir()  # as an unmounted volume
    with pytest.raises(StateUnavailable, match=r"is unreachable: its file cannot be opened; "
                                               r"nothing was lost"):
        store.runs()
    folder.mkdir()
    (tmp_path / "elsewhere.db").rename(folder / "state.db")
    assert store.runs() == []  # read from the file again
    store.close()
