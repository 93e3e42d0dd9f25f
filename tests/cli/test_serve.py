"""``syncline serve`` as a real process over SQLite endpoints: it runs links on start-up and
on schedule, logs the runs, and stops cleanly on SIGTERM / SIGINT.

Nothing here asserts on timing: each step waits (bounded by a generous timeout) for an
observable result in the databases or the process's exit.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import PipeLines, SqlPair, make_sql

SYNCLINE = Path(sys.executable).with_name("syncline")
TIMEOUT = 60.0


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str],
              what: str) -> None:
    """Poll ``condition`` until it holds; fail if the process ends first or after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert process.poll() is None, f"serve ended early while waiting for {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def _runs(pair: SqlPair) -> list[tuple[object, ...]]:
    path = pair.folder / "syncline-state.db"
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    try:
        return list(db.execute("SELECT id, trigger, outcome FROM runs ORDER BY id"))
    except sqlite3.OperationalError:  # the schema is not there yet
        return []
    finally:
        db.close()


def _locks(pair: SqlPair) -> list[tuple[object, ...]]:
    db = sqlite3.connect(pair.folder / "syncline-state.db")
    try:
        return list(db.execute("SELECT link, holder FROM run_locks"))
    finally:
        db.close()




@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_on_startup_and_schedule_and_stops_cleanly(
        tmp_path: Path, stop_signal: signal.Signals) -> None:
    pair = make_sql(tmp_path)
    text = pair.config.read_text(encoding="utf-8")
    pair.config.write_text(text + 'schedule = "every 1s"\non_startup = true\n',
                           encoding="utf-8")
    process = subprocess.Popen([str(SYNCLINE), "serve", "--tick", "0.2", "--port", "0", "--config",
                                str(pair.config)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    errors = PipeLines(process.stderr)
    try:
        _wait_for(lambda: any(row[2] != "running" for row in _runs(pair)), process,
                  "the start-up run")
        assert _runs(pair)[0][1:] == ("startup", "ok")
        assert len(pair.customers()) == 3
        pair.execute(pair.crm, "INSERT INTO people (full_name, email_address) VALUES (?, ?)",
                     "Katherine Johnson", "katherine@example.com")
        _wait_for(lambda: len(pair.customers()) == 4, process, "a scheduled run")
        _wait_for(lambda: any(row[1] == "schedule" and row[2] == "ok" for row in _runs(pair)),
                  process, "the scheduled run's record")
        process.send_signal(stop_signal)
        assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
    errors.join()
    log = errors.text()
    assert "crm-books: runs on start-up" in log
    assert "crm-books: run 1 (startup, incremental) ok" in log
    assert "(schedule, incremental) ok" in log
    assert f"{stop_signal.name}: stopping" in log
    assert "syncline serve: stopped" in log
    assert "Traceback" not in log
    assert all(row[2] != "running" for row in _runs(pair))  # no run left half-recorded
    assert _locks(pair) == []  # the run lock was released


def test_serve_with_a_bad_config_exits_2(tmp_path: Path) -> None:
    pair = make_sql(tmp_path)
    text = pair.config.read_text(encoding="utf-8")
    pair.config.write_text(text + 'schedule = "every now and then"\n', encoding="utf-8")
    result = subprocess.run([str(SYNCLINE), "serve", "--config", str(pair.config)],
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 2
    assert "links.crm-books.schedule: is not a schedule" in result.stderr
    assert "every now and then" in result.stderr


def _gated_config(folder: Path) -> Path:
    path = folder / "syncline.toml"
    path.write_text(f"""\
[state]
url = "sqlite:///state.db"

[endpoints.slow]
connector = "gated"
gate = "{folder / 'gate'}"
started = "{folder / 'started'}"
[endpoints.slow.streams.contact]
fields = ["name", "email"]

[endpoints.fast]
connector = "memory"
[endpoints.fast.streams.contact]
fields = ["name", "email"]

[links.slow-fast]
a = "slow"
b = "fast"
streams = ["contact"]
on_startup = true
""", encoding="utf-8")
    return path


def _wait_for_line(drain: PipeLines, text: str, process: subprocess.Popen[str]) -> None:
    _wait_for(lambda: text in drain.text(), process, repr(text))


@pytest.mark.parametrize("abandon", [False, True])
def test_a_signal_during_a_run_finishes_it_and_a_second_abandons_it(
        tmp_path: Path, abandon: bool) -> None:
    config = _gated_config(tmp_path)
    script = Path(__file__).parent.parent / "service" / "slow_serve.py"
    process = subprocess.Popen([sys.executable, str(script), "serve", "--tick", "0.2",
                                "--port", "0", "--config", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    errors = PipeLines(process.stderr)
    try:
        _wait_for(lambda: (tmp_path / "started").exists(), process, "the run to start")
        process.send_signal(signal.SIGTERM)
        _wait_for_line(errors, "SIGTERM: stopping; finishing slow-fast", process)
        assert process.poll() is None  # the run goes on: serve waits for it
        if abandon:
            process.send_signal(signal.SIGTERM)
            assert process.wait(TIMEOUT) == 128 + signal.SIGTERM
        else:
            (tmp_path / "gate").touch()
            assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
    errors.join()
    log = errors.text()
    assert "Traceback" not in log
    db = sqlite3.connect(tmp_path / "state.db")
    try:
        runs = list(db.execute("SELECT trigger, outcome FROM runs"))
        locks = list(db.execute("SELECT link FROM run_locks"))
    finally:
        db.close()
    if abandon:
        assert "abandoning the runs going on (slow-fast)" in log
        assert runs == [("startup", "running")]  # left as it was: the next run resumes it
        assert locks == [("slow-fast",)]  # left too: its process has ended, so it is free
        (tmp_path / "gate").touch()
        rerun = subprocess.run([sys.executable, str(script), "sync", "slow-fast",
                                "--config", str(config)], capture_output=True, text=True,
                               timeout=TIMEOUT)
        assert rerun.returncode == 0, rerun.stderr
        db = sqlite3.connect(tmp_path / "state.db")
        try:
            outcomes = [row[0] for row in db.execute("SELECT outcome FROM runs ORDER BY id")]
            assert outcomes == ["failed", "ok"]  # the abandoned run is closed as interrupted
            assert list(db.execute("SELECT link FROM run_locks")) == []
        finally:
            db.close()
    else:
        assert "slow-fast: run 1 (startup, incremental) ok" in log
        assert runs == [("startup", "ok")]
        assert locks == []
        assert "syncline serve: stopped" in log
