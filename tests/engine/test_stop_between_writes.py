"""A run asked to stop in the middle of a batch that a connector writes one request at a
time (a vdir folder: one file per record) stops after the record being written: what was
written is settled (a mapping per file, no intent left), the run raises RunCancelled and is
recorded as interrupted, the cursors stay, and the next run writes the rest exactly once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from syncline.config import load_config
from syncline.engine import NullProgress, RunOutcome, RunRequest, SyncEngine
from syncline.errors import RunCancelled
from syncline.run_context import StopSignal
from syncline.state.store import StateStore

PEOPLE = 40

CONFIG = """\
[state]
url = "sqlite:///state.db"

[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = { name = "full_name", email = "email_address" }

[endpoints.phone]
connector = "vdir"
path = "phone"
fileext = ".vcf"

[links.crm-phone]
a = "crm"
b = "phone"
streams = ["contact"]
"""


class StopAfter(NullProgress):
    """Asks the run to stop once ``after`` records were reported written."""

    def __init__(self, stop: StopSignal, after: int) -> None:
        self.stop = stop
        self.after = after
        self.seen: list[tuple[int, int]] = []

    def written(self, stream: str, done: int, total: int) -> None:
        self.seen.append((done, total))
        if done >= self.after:
            self.stop.request("the test")


def test_a_stop_in_the_middle_of_a_batch_keeps_what_was_written(tmp_path: Path) -> None:
    crm = sqlite3.connect(tmp_path / "crm.db")
    crm.execute("CREATE TABLE people (person_id INTEGER PRIMARY KEY, full_name TEXT, "
                "email_address TEXT)")
    crm.executemany("INSERT INTO people VALUES (?, ?, ?)",
                    [(n, f"Person {n}", f"p{n}@example.com") for n in range(1, PEOPLE + 1)])
    crm.commit()
    crm.close()
    (tmp_path / "phone").mkdir()
    (tmp_path / "syncline.toml").write_text(CONFIG)
    config = load_config(tmp_path / "syncline.toml")
    store = StateStore.open(config.resolve_url(config.state.url))
    try:
        stop = StopSignal()
        progress = StopAfter(stop, after=1)
        with pytest.raises(RunCancelled, match="interrupted \\(the test\\)"):
            SyncEngine(config, store).run(RunRequest("crm-phone"), progress=progress, stop=stop)
        files = list((tmp_path / "phone").glob("*.vcf"))
        assert 1 <= len(files) < PEOPLE  # stopped in the middle of the one batch
        assert progress.seen[0] == (1, PEOPLE)  # counted as each file was written
        scope = store.scope_id("crm-phone", "contact")
        assert store.count_mappings(scope) == len(files)
        assert store.pending_intents(scope) == []
        assert store.cursor(scope, "a") is None  # the rest is read again
        (last,) = store.runs("crm-phone", limit=1)
        assert last["outcome"] == "failed" and "interrupted (the test)" in last["message"]
        journal = store.journal("crm-phone", run_id=last["id"])
        assert len(journal) == len(files)
        assert {row["outcome"] for row in journal} == {"ok"}
        summary = SyncEngine(config, store).run(RunRequest("crm-phone"))
        assert summary.outcome is RunOutcome.OK
        created = summary.streams["contact"].A
        assert created == PEOPLE - len(files)
        texts = [path.read_text() for path in (tmp_path / "phone").glob("*.vcf")]
        emails = sorted(line.split(":", 1)[1].strip() for text in texts
                        for line in text.splitlines() if line.startswith("EMAIL"))
        assert emails == sorted(f"p{n}@example.com" for n in range(1, PEOPLE + 1))
        assert store.count_mappings(scope) == PEOPLE
    finally:
        store.close()
