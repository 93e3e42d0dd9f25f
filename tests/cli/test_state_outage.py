"""Defect 2 of issue 14, on the command line: the state store's PostgreSQL (a private server,
:mod:`private_postgres`) stopped with ``pg_ctl stop -m immediate`` in the middle of a
``syncline sync --json`` of 20,000 contacts from a SQLite CRM to a vdir folder.

The command exits 3 with one line on stderr (no traceback) and a failed-run summary on
stdout; ``status`` while the store is down exits 3 with the same line. After the server is
started again, the next sync marks the interrupted run ``failed`` (interrupted) with its
counts rebuilt from its journal, and the folder holds every contact exactly once.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from private_postgres import PrivatePostgres, private_postgres

SYNCLINE = Path(sys.executable).with_name("syncline")
CONTACTS = 20_000
TIMEOUT = 120.0

CONFIG = """\
[state]
url = "{state}"

[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = {{ name = "full_name", email = "email_address" }}

[endpoints.book]
connector = "vdir"
path = "cards"
fileext = ".vcf"

[links.crm-book]
a = "crm"
b = "book"
streams = ["contact"]
direction = "a-to-b"
"""


@pytest.fixture
def state_server() -> Iterator[PrivatePostgres]:
    yield from private_postgres()


def _project(folder: Path, state_url: str) -> Path:
    (folder / "cards").mkdir()
    config = folder / "syncline.toml"
    config.write_text(CONFIG.format(state=state_url), encoding="utf-8")
    db = sqlite3.connect(folder / "crm.db")
    db.execute("CREATE TABLE people (person_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, "
               "email_address TEXT)")
    db.executemany("INSERT INTO people VALUES (?, ?, ?)",
                   [(n, f"Person {n}", f"p{n}@example.com") for n in range(1, CONTACTS + 1)])
    db.commit()
    db.close()
    return config


def _syncline(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SYNCLINE), *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=TIMEOUT, env=dict(os.environ), check=False)


def _journal_rows(state: sa.Engine) -> int:
    try:
        with state.connect() as connection:
            return int(connection.exec_driver_sql("SELECT count(*) FROM journal").scalar() or 0)
    except sa.exc.SQLAlchemyError:  # the schema is not made yet
        return 0


def _outage_line(stderr: str, server: PrivatePostgres) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    pattern = (rf"^error: the state store at postgresql\+psycopg://postgres@127\.0\.0\.1:"
               rf"{server.port}/syncline is unreachable: [^;]+; nothing was lost, changes "
               rf"wait for the next run$")
    assert re.match(pattern, errors[0]), errors[0]
    return errors[0][len("error: "):]


def test_the_state_store_stopped_mid_run(tmp_path: Path,
                                         state_server: PrivatePostgres) -> None:
    config = _project(tmp_path, state_server.url)
    state = sa.create_engine(state_server.url, poolclass=sa.pool.NullPool)
    sync = subprocess.Popen([str(SYNCLINE), "sync", "crm-book", "--json", "--config",
                             str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while _journal_rows(state) < 1000:  # some batches are settled: stop the server
            assert sync.poll() is None, "the run ended before the server was stopped"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        state_server.stop()
        stdout, stderr = sync.communicate(timeout=TIMEOUT)
    finally:
        if sync.poll() is None:
            sync.kill()
            sync.wait()
    assert sync.returncode == 3, stderr
    message = _outage_line(stderr, state_server)
    summary = json.loads(stdout)
    assert summary["link"] == "crm-book" and summary["outcome"] == "failed"
    assert summary["messages"] == [message]

    status = _syncline(config, "status")  # any command: the same one line, exit 3
    assert status.returncode == 3 and status.stdout == ""
    assert _outage_line(status.stderr, state_server) == message

    state_server.start()
    again = _syncline(config, "sync", "crm-book", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["outcome"] == "ok"
    with state.connect() as connection:
        runs = connection.exec_driver_sql(
            "SELECT id, outcome, message, counts FROM runs ORDER BY id").all()
        journaled = connection.execute(sa.text(
            "SELECT count(*) FROM journal WHERE run_id = :run"), {"run": runs[0].id}).scalar()
        mappings = connection.exec_driver_sql("SELECT count(*) FROM mappings").scalar()
    assert [run.outcome for run in runs] == ["failed", "ok"]
    assert runs[0].message.startswith("interrupted: ")
    counts = json.loads(runs[0].counts)
    assert journaled and counts["contact"]["A"] == journaled  # rebuilt from the journal
    assert json.loads(runs[1].counts)["contact"]["A"] == CONTACTS - journaled
    assert mappings == CONTACTS
    cards = sorted((tmp_path / "cards").glob("*.vcf"))
    assert len(cards) == CONTACTS  # every contact once: nothing lost, nothing doubled
    emails = {found.group(1) for card in cards
              if (found := re.search(r"^EMAIL[^:\n]*:(\S+)", card.read_text(), re.M))}
    assert emails == {f"p{n}@example.com" for n in range(1, CONTACTS + 1)}
    assert json.loads(_syncline(config, "sync", "crm-book", "--json").stdout)["streams"][
        "contact"]["A"] == 0
    state.dispose()
