"""A run frozen past its lease (SIGSTOP) while it holds its link loses the link to another
process, which runs it; woken (SIGCONT), the frozen run stops with the lease-lost message
and writes nothing more; no row is doubled on side b, and the link syncs cleanly after.

Real processes, one PostgreSQL state store, SQL endpoints on PostgreSQL. The issue measured
100,000 rows; this test uses 30,000 (and a 4 s lease) to stay well under a minute.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
SYNCLINE = str(Path(sys.executable).with_name("syncline"))
ROWS = 30_000
TTL = 4.0  # seconds: the frozen run loses its lease after this
TIMEOUT = 120  # generous bound on a process step; never a timing assertion


@pytest.fixture
def databases(postgres_url: str) -> Iterator[tuple[str, str, str]]:
    """State store, side a and side b: three fresh PostgreSQL databases."""
    server = postgres_url.rsplit("/", 1)[0]
    names = [f"syncline_fence_{uuid.uuid4().hex[:10]}_{side}" for side in "ab"]
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield postgres_url, f"{server}/{names[0]}", f"{server}/{names[1]}"
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _scalar(url: str, query: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(query)).scalar() or 0)
    except sa.exc.ProgrammingError:
        return 0  # table not created yet
    finally:
        engine.dispose()


@pytest.fixture
def config(tmp_path: Path, databases: tuple[str, str, str]) -> Path:
    state, a, b = databases
    engine = sa.create_engine(a)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE people (person_id SERIAL PRIMARY KEY, "
                             "full_name TEXT NOT NULL, email_address TEXT, phone TEXT)")
        conn.exec_driver_sql(
            "INSERT INTO people (full_name, email_address, phone) "
            f"SELECT 'Person ' || n, 'person.' || n || '@example.com', '+44 20 ' || n "
            f"FROM generate_series(1, {ROWS}) AS n")
    engine.dispose()
    engine = sa.create_engine(b)
    with engine.begin() as conn:  # no unique e-mail: a doubled row would stay visible
        conn.exec_driver_sql("CREATE TABLE customers (cust_no SERIAL PRIMARY KEY, "
                             "name TEXT NOT NULL, email TEXT, tel TEXT)")
    engine.dispose()
    path = tmp_path / "syncline.toml"
    path.write_text(f"""\
[state]
url = "{state}"

[endpoints.crm]
connector = "sql"
url = "{a}"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = {{ name = "full_name", email = "email_address", phone = "phone" }}

[endpoints.books]
connector = "sql"
url = "{b}"
[endpoints.books.streams.contact]
table = "customers"
key = "cust_no"
fields = {{ name = "name", email = "email", phone = "tel" }}

[links.crm-books]
a = "crm"
b = "books"
streams = ["contact"]
direction = "both"
conflict = "newest"
match = {{ contact = ["email"] }}
batch_size = 500
""", encoding="utf-8")
    return path


def _run(config: Path, ttl: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HERE / "fenced_run.py"), str(config),
                             "crm-books", str(ttl)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition: object, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(tuple(row) for row in conn.execute(sa.text(query)))
    finally:
        engine.dispose()


def _activity(url: str) -> list[tuple[object, ...]]:
    """What the server's sessions are doing (to explain a wait)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(
                "SELECT datname, state, wait_event_type, wait_event, left(query, 120) "
                "FROM pg_stat_activity WHERE datname LIKE 'syncline_%'"))]
    finally:
        engine.dispose()


def _state_counts(state: str) -> tuple[int, int]:
    return (_scalar(state, "SELECT count(*) FROM mappings"),
            _scalar(state, "SELECT count(*) FROM journal"))


def test_a_frozen_lease_holder_is_fenced_out_and_nothing_is_doubled(
        config: Path, databases: tuple[str, str, str]) -> None:
    state, a, b = databases
    customers = "SELECT count(*) FROM customers"
    frozen = _run(config, TTL)
    taker: subprocess.Popen[str] | None = None
    try:
        # freeze the first run once it has written part of the table
        _wait_for(lambda: _scalar(b, customers) >= 3_000 or frozen.poll() is not None,
                  "the first run to write 3,000 rows")
        assert frozen.poll() is None, "the first run ended before it could be frozen"
        os.kill(frozen.pid, signal.SIGSTOP)
        frozen_at = _scalar(b, customers)
        assert frozen_at < ROWS
        frozen_state = _state_counts(state)
        time.sleep(TTL + 1)  # its lease expires
        taker = _run(config, 60)
        started = time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired):
            taker.wait(timeout=60)  # without waking the frozen run
        # the link does not jam: the other process runs it while the first is frozen
        assert taker.poll() is not None, \
            f"the taker did not finish while the run was frozen: {_activity(state)}"
        print(f"taker ran {time.monotonic() - started:.1f} s; first run frozen at "
              f"{frozen_at} rows")
        settled = (_scalar(b, customers), _state_counts(state))
        assert settled[1] != frozen_state
        os.kill(frozen.pid, signal.SIGCONT)
        _out, frozen_err = frozen.communicate(timeout=TIMEOUT)
        taker_out, taker_err = taker.communicate(timeout=TIMEOUT)
    finally:
        for process in (frozen, taker):
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()
                process.wait(TIMEOUT)
    assert taker.returncode == 0, taker_err
    taker_run = int(taker_out.split()[1])
    # the frozen run stopped with the lease-lost message and wrote nothing more
    assert frozen.returncode == 3, frozen_err
    assert f"run error: run 1 of crm-books lost its lease to run {taker_run} (another " \
        f"process took the link over after this one stopped renewing): stopping, nothing " \
        f"more is written" in frozen_err, frozen_err
    assert "nothing more is written" in frozen_err
    assert "Traceback" not in frozen_err
    assert (_scalar(b, customers), _state_counts(state)) == settled  # nothing more written
    stale = _scalar(state, "SELECT min(id) FROM runs")
    assert stale < taker_run
    engine = sa.create_engine(state)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT outcome, message, counts FROM runs WHERE id = :id"),
                           {"id": stale}).one()
    engine.dispose()
    assert row.outcome == "failed"
    assert "taken over" in row.message and f"run {taker_run}" in row.message
    assert row.counts and '"A": ' in row.counts  # rebuilt from its journal
    # no row doubled on side b, nothing sent back to side a
    assert _scalar(b, customers) == ROWS
    assert _scalar(b, "SELECT count(DISTINCT email) FROM customers") == ROWS
    assert _scalar(a, "SELECT count(*) FROM people") == ROWS
    # the link syncs cleanly after: exit 0, nothing left to do, both sides equal
    again = subprocess.run([SYNCLINE, "sync", "crm-books", "--config", str(config), "--json"],
                           capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert again.returncode == 0, again.stderr
    assert _scalar(b, customers) == ROWS
    assert _scalar(state, "SELECT count(*) FROM mappings") == ROWS
    assert _scalar(state, "SELECT count(*) FROM intents") == 0
    assert _scalar(state, "SELECT count(*) FROM pending") == 0
    assert _rows(a, "SELECT full_name, email_address, phone FROM people") \
        == _rows(b, "SELECT name, email, tel FROM customers")
