"""``syncline conflicts``: listing conflicts held by the ``manual`` policy, resolving one."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from syncline.cli import app
from syncline.config import load_config
from syncline.state.store import StateStore

from .helpers import MemoryPair, memory_config


def _held(runner: CliRunner, tmp_path: Path) -> MemoryPair:
    """A manual-policy link where contact k1 was changed on both sides: one open conflict."""
    pair = memory_config(tmp_path, conflict="manual")
    pair.a.put("contact", "k1", {"name": "Ada", "email": "ada@example.com", "phone": "1"})
    assert runner.invoke(app, pair.args("sync", "lr")).exit_code == 0
    (b_key,) = pair.b.stream("contact")
    pair.a.put("contact", "k1", {"name": "Ada", "email": "ada@example.com", "phone": "2"})
    pair.b.put("contact", b_key, {"name": "Ada", "email": "ada@example.com", "phone": "3"})
    result = runner.invoke(app, pair.args("sync", "lr", "--json"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["streams"]["contact"]["conflicts"] == 1
    return pair


def _open_id(runner: CliRunner, pair: MemoryPair) -> int:
    (conflict,) = json.loads(runner.invoke(app, pair.args("conflicts", "lr", "--json")).stdout)
    return int(conflict["id"])


def test_lists_open_conflicts_with_the_differing_fields(runner: CliRunner,
                                                       tmp_path: Path) -> None:
    pair = _held(runner, tmp_path)
    result = runner.invoke(app, pair.args("conflicts", "lr"))
    assert result.exit_code == 0, result.output
    assert "open conflicts of lr (1)" in result.stdout
    row = next(line for line in result.stdout.splitlines() if "phone" in line)
    cells = [cell.strip() for cell in row.split("│")][1:-1]
    assert cells == [str(_open_id(runner, pair)), "contact", "k1", "right-1", "run 2",
                     "phone", "2", "3"]
    assert "ada@example.com" not in result.stdout  # equal fields are not listed
    document = json.loads(runner.invoke(app, pair.args("conflicts", "lr", "--json")).stdout)
    assert len(document) == 1
    assert document[0]["a_key"] == "k1"
    assert document[0]["a_fields"]["phone"] == "2"
    assert document[0]["b_fields"]["phone"] == "3"
    assert document[0]["status"] == "open"
    status = json.loads(runner.invoke(app, pair.args("status", "lr", "--json")).stdout)
    assert status["open_conflicts"] == 1


def test_resolving_records_the_choice_for_the_next_run(runner: CliRunner,
                                                       tmp_path: Path) -> None:
    pair = _held(runner, tmp_path)
    (conflict,) = json.loads(runner.invoke(app, pair.args("conflicts", "lr", "--json")).stdout)
    result = runner.invoke(app, pair.args("conflicts", "lr", "--resolve", str(conflict["id"]),
                                          "--side", "b"))
    assert result.exit_code == 0, result.output
    assert "will be written to left by the next run of lr" in result.stdout
    config = load_config(pair.config)
    store = StateStore.open(config.resolve_url(config.state.url))
    try:
        (row,) = store.conflicts("lr", status="resolved")
    finally:
        store.close()
    assert row["id"] == conflict["id"]
    assert row["resolution"] == {"side": "b"}
    empty = runner.invoke(app, pair.args("conflicts", "lr"))
    assert "lr has no open conflicts" in empty.stdout
    # the next run writes the chosen side's version
    applied = runner.invoke(app, pair.args("sync", "lr"))
    assert applied.exit_code == 0, applied.output
    _, fields, _ = pair.a.stream("contact")["k1"]
    assert fields["phone"] == "3"


def test_resolve_needs_an_open_conflict_and_a_side(runner: CliRunner, tmp_path: Path) -> None:
    pair = _held(runner, tmp_path)
    (conflict,) = json.loads(runner.invoke(app, pair.args("conflicts", "lr", "--json")).stdout)
    missing_side = runner.invoke(app, pair.args("conflicts", "lr", "--resolve", "1"))
    assert missing_side.exit_code == 2
    assert "--resolve ID and --side a|b go together" in missing_side.stderr
    unknown = runner.invoke(app, pair.args("conflicts", "lr", "--resolve", "999", "--side",
                                           "a"))
    assert unknown.exit_code == 2
    assert f"no open conflict 999; open: {conflict['id']}" in unknown.stderr
    bad_side = runner.invoke(app, pair.args("conflicts", "lr", "--resolve", "1", "--side",
                                            "c"))
    assert bad_side.exit_code == 2
