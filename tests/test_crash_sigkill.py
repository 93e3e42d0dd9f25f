"""A real ``syncline sync`` process over 100,000 records, killed with SIGKILL at several
points and started again: both sides end exactly equal, no key is duplicated, and the journal
holds each record's creation exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.helpers import ISSUE_EXAMPLE

pytestmark = pytest.mark.slow

RECORDS = 100_000
SYNCLINE = str(Path(sys.executable).with_name("syncline"))

CONFIG = ISSUE_EXAMPLE.replace("syncline-state.db", "state.db") + "batch_size = 1000\n"


def _syncline(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYNCLINE, "--config", str(folder / "syncline.toml"), *args],
                          capture_output=True, text=True, timeout=600, check=False)


def _count(path: Path, query: str) -> int:
    connection = sqlite3.connect(path, timeout=30)
    try:
        return int(connection.execute(query).fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # table not created yet
    finally:
        connection.close()


def _kill_when(folder: Path, query: str, threshold: int, timeout: float = 120.0) -> int:
    """Start a sync and SIGKILL it once ``query`` on the state store reaches ``threshold``
    (or the sync ends by itself). Returns the count seen when it was killed."""
    process = subprocess.Popen([SYNCLINE, "--config", str(folder / "syncline.toml"), "sync",
                                "crm-books"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    seen = 0
    try:
        while process.poll() is None and time.monotonic() < deadline:
            seen = _count(folder / "state.db", query)
            if seen >= threshold:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    return seen


def _rows(path: Path, query: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    crm = sqlite3.connect(tmp_path / "crm.db")
    crm.execute("CREATE TABLE people (person_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL,"
                " email_address TEXT, phone TEXT)")
    crm.executemany("INSERT INTO people VALUES (?, ?, ?, ?)",
                    [(n, f"Person {n}", f"person.{n}@example.com", f"+44 20 7946 {n:07d}")
                     for n in range(1, RECORDS + 1)])
    crm.commit()
    crm.close()
    books = sqlite3.connect(tmp_path / "books.db")
    books.execute("CREATE TABLE customers (cust_no INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                  " email TEXT, tel TEXT)")
    books.commit()
    books.close()
    (tmp_path / "syncline.toml").write_text(CONFIG)
    result = _syncline(tmp_path, "setup", "crm-books")
    assert result.returncode == 0, result.stderr
    return tmp_path


def _assert_equal_sides(folder: Path) -> None:
    people = sorted(_rows(folder / "crm.db",
                          "SELECT full_name, email_address, phone FROM people"))
    customers = sorted(_rows(folder / "books.db", "SELECT name, email, tel FROM customers"))
    assert len(customers) == len(people)
    assert customers == people
    duplicates = _rows(folder / "books.db",
                       "SELECT email, count(*) FROM customers GROUP BY email HAVING count(*) > 1")
    assert duplicates == []
    state = folder / "state.db"
    assert _count(state, "SELECT count(*) FROM mappings") == len(people)
    assert _count(state, "SELECT count(DISTINCT a_key) FROM mappings") == len(people)
    assert _count(state, "SELECT count(DISTINCT b_key) FROM mappings") == len(people)
    assert _count(state, "SELECT count(*) FROM intents") == 0


def test_killed_runs_resume_without_duplicates_or_loss(folder: Path) -> None:
    mappings = "SELECT count(*) FROM mappings"
    killed_at = [_kill_when(folder, mappings, threshold)
                 for threshold in (1, 20_000, 45_000, 80_000)]
    assert any(0 < seen < RECORDS for seen in killed_at), killed_at
    result = _syncline(folder, "sync", "crm-books")
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_equal_sides(folder)
    state = folder / "state.db"
    created = _rows(state, "SELECT a_key, count(*) FROM journal WHERE action = 'A' AND "
                           "outcome = 'ok' GROUP BY a_key HAVING count(*) > 1")
    assert created == []
    assert _count(state, "SELECT count(DISTINCT a_key) FROM journal WHERE action = 'A' "
                         "AND outcome = 'ok'") == RECORDS
    interrupted = _count(state, "SELECT count(*) FROM runs WHERE outcome = 'failed'")
    assert interrupted >= 1

    crm = sqlite3.connect(folder / "crm.db")
    crm.execute("UPDATE people SET phone = '+44 161 496 0000' WHERE person_id % 7 = 0")
    crm.execute("DELETE FROM people WHERE person_id % 50 = 1")
    crm.execute("INSERT INTO people (full_name, email_address, phone) "
                "SELECT 'New ' || person_id, 'new.' || person_id || '@example.com', NULL "
                "FROM people WHERE person_id % 40 = 0")
    crm.commit()
    crm.close()
    journal = "SELECT count(*) FROM journal"
    before = _count(state, journal)
    for extra in (1, 3_000, 9_000):
        _kill_when(folder, journal, before + extra)
    result = _syncline(folder, "sync", "crm-books")
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_equal_sides(folder)
    again = _syncline(folder, "sync", "crm-books", "--json")
    assert again.returncode == 0, again.stderr
    counts = json.loads(again.stdout)["streams"]["contact"]
    assert (counts["A"], counts["M"], counts["D"], counts["errors"]) == (0, 0, 0, 0)
