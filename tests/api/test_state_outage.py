"""Defect 2 of issue 14, under ``syncline serve``: the state store's PostgreSQL (a private
server, :mod:`private_postgres`) stopped with ``pg_ctl stop -m immediate`` while a scheduled
run of 20,000 contacts (SQLite CRM to a vdir folder) is going.

While it is down, the API answers 503 with a problem-details body and the console a plain
page, and the scheduler skips its runs and says so in the log. Once the server is started
again, the service reconnects by itself, marks the interrupted run ``failed``
(interrupted) with its counts rebuilt from its journal, later runs finish the work, no run
stays ``running``, and the folder holds every contact exactly once.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cli.helpers import PipeLines
from cli.test_state_outage import CONFIG, CONTACTS, _project
from private_postgres import PrivatePostgres, private_postgres

from .support import sign_in

SYNCLINE = Path(sys.executable).with_name("syncline")
TIMEOUT = 120.0
PASSWORD = "a long enough password 14"


@pytest.fixture
def state_server() -> Iterator[PrivatePostgres]:
    yield from private_postgres()


def _until(what: str, check: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _journal_rows(state: sa.Engine, run_id: int | None = None) -> int:
    query = "SELECT count(*) FROM journal" + ("" if run_id is None else " WHERE run_id = :r")
    try:
        with state.connect() as connection:
            return int(connection.execute(sa.text(query), {"r": run_id}).scalar() or 0)
    except sa.exc.SQLAlchemyError:  # the schema is not made yet
        return 0


def test_serve_through_a_state_store_outage(tmp_path: Path,
                                            state_server: PrivatePostgres) -> None:
    config = _project(tmp_path, state_server.url)
    config.write_text(CONFIG.format(state=state_server.url) + 'schedule = "every 3s"\n',
                      encoding="utf-8")
    environment = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config-home"))
    made = subprocess.run([str(SYNCLINE), "user", "add", "ops", "--role", "operator",
                           "--token", "--password-stdin", "--config", str(config)],
                          input=PASSWORD + "\n", capture_output=True, text=True,
                          timeout=TIMEOUT, env=environment, check=False)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    state = sa.create_engine(state_server.url, poolclass=sa.pool.NullPool)
    process = subprocess.Popen([str(SYNCLINE), "serve", "--port", "0", "--tick", "0.2",
                                "--config", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=environment)
    log = PipeLines(process.stderr)
    try:
        found = _until("the API's address", lambda: process.poll() is None and re.search(
            r"API at (http://127\.0\.0\.1:\d+)/api", log.text()))
        api = httpx.Client(base_url=found.group(1), timeout=30,
                           headers={"Authorization": f"Bearer {token}"})
        console = httpx.Client(base_url=found.group(1), timeout=30)

        def answers() -> httpx.Response | None:
            try:
                return api.get("/api/links")
            except httpx.ConnectError:
                return None

        assert _until("the API", answers).status_code == 200
        signed_in = sign_in(console, "ops", PASSWORD)
        assert signed_in.status_code in (200, 303), signed_in.text
        assert console.get("/").status_code == 200

        _until("a scheduled run to settle batches", lambda: _journal_rows(state) >= 1000)
        (running,) = [run for run in api.get("/api/runs").json()
                      if run["outcome"] == "running"]
        state_server.stop()

        outage = _until("a 503", lambda: (answer := api.get("/api/links")).status_code == 503
                        and answer)
        assert outage.headers["content-type"].startswith("application/problem+json")
        assert outage.headers["retry-after"]
        body = outage.json()
        assert body["status"] == 503 and body["title"] == "Service Unavailable"
        unreachable = (rf"^the state store at postgresql\+psycopg://postgres@127\.0\.0\.1:"
                       rf"{state_server.port}/syncline is unreachable: [^;]+; nothing was "
                       rf"lost, changes wait for the next run$")
        assert re.match(unreachable, body["detail"]), body
        for path in ("/api/runs", f"/api/runs/{running['id']}", "/api/links/crm-book"):
            answer = api.get(path)
            assert answer.status_code == 503, (path, answer.text)
            assert re.match(unreachable, answer.json()["detail"]), answer.text
        page = console.get("/")
        assert page.status_code == 503 and page.headers["content-type"].startswith(
            "text/html")
        assert "The state store is unreachable" in page.text and "Traceback" not in page.text
        _until("the scheduler to skip", lambda: "scheduled runs are skipped" in log.text(),
               timeout=30)
        time.sleep(4)  # a scheduled run falls due meanwhile: skipped, not failed
        assert process.poll() is None

        state_server.start()
        assert _until("the API back", lambda: api.get("/api/links").status_code == 200)

        def interrupted() -> dict[str, Any] | None:
            run = api.get(f"/api/runs/{running['id']}").json()
            return run if run["outcome"] == "failed" else None

        marked = _until("the interrupted run marked", interrupted)
        assert marked["message"].startswith("interrupted: ")
        journaled = _journal_rows(state, running["id"])
        assert journaled >= 1000 and marked["counts"]["contact"]["A"] == journaled

        def finished() -> list[dict[str, Any]] | None:
            runs = api.get("/api/runs", params={"limit": 1000}).json()
            later = [run for run in runs if run["id"] > running["id"]]
            return runs if any(run["outcome"] == "ok" for run in later) and \
                len(list((tmp_path / "cards").glob("*.vcf"))) == CONTACTS else None

        runs = _until("a later run to finish the work", finished)
        stale = [run for run in runs if run["outcome"] == "running"
                 and run["id"] < max(r["id"] for r in runs if r["outcome"] == "ok")]
        assert stale == []  # the interrupted run does not stay 'running'
        assert console.get("/").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
        state.dispose()
    log.join()
    text = log.text()
    assert "Traceback" not in text, text
    assert "the state store is reachable again; runs resume" in text
    with sa.create_engine(state_server.url, poolclass=sa.pool.NullPool).connect() as db:
        mappings = db.exec_driver_sql("SELECT count(*) FROM mappings").scalar()
    assert mappings == CONTACTS
    cards = list((tmp_path / "cards").glob("*.vcf"))
    emails = {found.group(1) for card in cards
              if (found := re.search(r"^EMAIL[^:\n]*:(\S+)", card.read_text(), re.M))}
    assert len(cards) == CONTACTS
    assert emails == {f"p{n}@example.com" for n in range(1, CONTACTS + 1)}
