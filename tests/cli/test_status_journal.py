"""``syncline status`` and ``syncline journal``: JSON shapes, tables and filters."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from syncline.cli import app

from .helpers import MemoryPair, memory_config

STATUS_KEYS = {"link", "run_id", "mode", "trigger", "started_at", "finished_at", "duration_s",
               "outcome", "streams", "messages", "dry_run", "last_synced_at", "pending_items",
               "open_conflicts"}
JOURNAL_KEYS = {"id", "run_id", "stream", "action", "direction", "a_key", "b_key", "outcome",
                "message"}


def _two_runs(runner: CliRunner, memory: MemoryPair) -> None:
    """Run 1 creates k1..k3 on b; then k1 changes, k2 is deleted and k4 is new on a, and
    k3's copy on b is refused (fail_keys): run 2 has A, M, D ok and one M error."""
    assert runner.invoke(app, memory.args("sync", "lr")).exit_code == 0
    mapped = {fields["email"]: key for key, (_, fields, _) in memory.b.stream("contact").items()}
    memory.a.put("contact", "k1", {"name": "Person 1", "email": "p1@example.com",
                                   "phone": "+44 20 7946 9999"})
    memory.a.remove("contact", "k2")
    memory.a.put("contact", "k3", {"name": "Person Three", "email": "p3@example.com"})
    memory.a.put("contact", "k4", {"name": "Person 4", "email": "p4@example.com"})
    memory.b.fail_keys.add(mapped["p3@example.com"])
    assert runner.invoke(app, memory.args("sync", "lr")).exit_code == 1


def test_status_json_for_a_link_that_never_ran(runner: CliRunner, memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("status", "lr", "--json"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == STATUS_KEYS
    assert document["link"] == "lr"
    assert document["run_id"] is None
    assert document["outcome"] is None
    assert document["last_synced_at"] is None
    assert document["streams"] == {}


def test_status_json_shows_the_last_run_and_last_synced_at(runner: CliRunner,
                                                           memory: MemoryPair) -> None:
    _two_runs(runner, memory)
    document = json.loads(runner.invoke(app, memory.args("status", "lr", "--json")).stdout)
    assert set(document) == STATUS_KEYS
    assert document["run_id"] == 2
    assert document["outcome"] == "error"
    assert document["streams"]["contact"]["A"] == 1
    assert document["streams"]["contact"]["D"] == 1
    assert document["streams"]["contact"]["errors"] == 1
    assert document["pending_items"] == 1
    assert document["open_conflicts"] == 0
    finished = datetime.fromisoformat(document["finished_at"])
    assert datetime.fromisoformat(document["last_synced_at"]) == finished
    assert finished.tzinfo is not None


def test_status_without_link_lists_every_link(runner: CliRunner, tmp_path: Path) -> None:
    pair = memory_config(tmp_path, extra="""
[links.other]
a = "right"
b = "left"
streams = ["contact"]
""")
    result = runner.invoke(app, pair.args("status", "--json"))
    assert result.exit_code == 0, result.output
    assert [entry["link"] for entry in json.loads(result.stdout)] == ["lr", "other"]
    table = runner.invoke(app, pair.args("status"))
    assert "lr  left ⇄ right" in table.stdout
    assert "other  right ⇄ left" in table.stdout
    assert "never run" in table.stdout


def test_status_table_after_a_run(runner: CliRunner, memory: MemoryPair) -> None:
    _two_runs(runner, memory)
    result = runner.invoke(app, memory.args("status", "lr"))
    assert result.exit_code == 0, result.output
    assert "#2 manual incremental" in result.stdout
    assert ": error" in result.stdout
    assert "1 records (retried by the next run)" in result.stdout


def test_journal_filters(runner: CliRunner, memory: MemoryPair) -> None:
    _two_runs(runner, memory)

    def rows(*filters: str) -> list[dict[str, Any]]:
        result = runner.invoke(app, memory.args("journal", "lr", "--json", *filters))
        assert result.exit_code == 0, result.output
        return list(json.loads(result.stdout))

    everything = rows()
    assert all(set(row) == JOURNAL_KEYS for row in everything)
    assert len(everything) == 3 + 4
    assert [row["id"] for row in everything] == sorted((row["id"] for row in everything),
                                                       reverse=True)
    assert {row["run_id"] for row in rows("--run", "1")} == {1}
    assert len(rows("--run", "1")) == 3
    assert {(row["action"], row["a_key"]) for row in rows("--action", "D")} == {("D", "k2")}
    assert rows("--action", "d") == rows("--action", "D")
    errors = rows("--outcome", "error")
    assert [(row["action"], row["a_key"], row["direction"]) for row in errors] == \
        [("M", "k3", "a>b")]
    assert "rejected by the memory store" in str(errors[0]["message"])
    assert rows("--run", "2", "--action", "A", "--outcome", "ok")[0]["a_key"] == "k4"
    assert rows("--action", "R") == []
    assert len(rows("--limit", "2")) == 2
    assert len(rows("--stream", "contact")) == 7


def test_journal_table_and_bad_filters(runner: CliRunner, memory: MemoryPair) -> None:
    _two_runs(runner, memory)
    result = runner.invoke(app, memory.args("journal", "lr", "--run", "2"))
    assert result.exit_code == 0, result.output
    assert "journal of lr (4 rows, newest first)" in result.stdout
    empty = runner.invoke(app, memory.args("journal", "lr", "--run", "99"))
    assert empty.exit_code == 0
    assert "no journal rows of lr match" in empty.stdout
    assert runner.invoke(app, memory.args("journal", "lr", "--action", "X")).exit_code == 2
    assert runner.invoke(app, memory.args("journal", "lr", "--outcome", "fine")).exit_code == 2
    wrong_stream = runner.invoke(app, memory.args("journal", "lr", "--stream", "invoice"))
    assert wrong_stream.exit_code == 2
    assert "does not sync invoice" in wrong_stream.stderr
    assert runner.invoke(app, memory.args("journal")).exit_code == 2  # LINK is required
