"""``init``, ``connectors``, ``setup``, help and version, and where ``--config`` may go."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from syncline import __version__
from syncline.cli import app
from syncline.cli.starter import STARTER_CONFIG
from syncline.config import load_config
from syncline.plan_types import ConflictPolicy, LinkDirection

from .helpers import MemoryPair, SqlPair


def test_init_writes_a_starter_that_loads(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "conf" / "syncline.toml"
    result = runner.invoke(app, ["init", "--config", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == STARTER_CONFIG
    config = load_config(target)
    link = config.link("crm-books")
    assert (link.a, link.b, link.streams) == ("crm", "books", ["contact"])
    assert link.direction is LinkDirection.BOTH
    assert link.conflict is ConflictPolicy.NEWEST
    assert config.endpoints["crm"].settings["streams"]["contact"]["table"] == "people"
    assert STARTER_CONFIG.count("\n#") >= 5  # commented


def test_init_refuses_to_overwrite(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "syncline.toml"
    target.write_text("# mine\n", encoding="utf-8")
    result = runner.invoke(app, ["--config", str(target), "init"])
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert target.read_text(encoding="utf-8") == "# mine\n"


def test_init_defaults_to_the_current_folder(runner: CliRunner, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNCLINE_CONFIG", raising=False)
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert (tmp_path / "syncline.toml").exists()


def test_connectors_prints_the_capability_matrix(runner: CliRunner, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no syncline.toml here: none is needed
    result = runner.invoke(app, ["connectors"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "connector" in line
                  and "stream" in line)
    assert header.split() == ["connector", "stream", "read", "create", "update", "delete",
                              "incremental", "deletes"]
    memory_row = next(line for line in result.stdout.splitlines()
                      if line.split()[:2] == ["memory", "organisation"])
    assert memory_row.split()[2:] == ["✓"] * 6
    assert any(line.split()[:1] == ["sql"] for line in result.stdout.splitlines())


def test_connectors_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["connectors", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    contact = next(row for row in rows
                   if row["connector"] == "memory" and row["stream"] == "contact")
    assert contact == {"connector": "memory", "stream": "contact", "read": True,
                       "create": True, "update": True, "delete": True, "incremental": True,
                       "deletes": True}
    assert {row["connector"] for row in rows} >= {"memory", "sql"}


def test_connectors_lists_the_configured_endpoints(runner: CliRunner,
                                                   memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("connectors"))
    assert result.exit_code == 0, result.output
    assert "left (memory), right (memory)" in result.stdout


def test_setup_installs_change_capture_and_is_repeatable(runner: CliRunner,
                                                         sql: SqlPair) -> None:
    first = runner.invoke(app, ["setup", "crm-books", "--config", str(sql.config)])
    assert first.exit_code == 0, first.output
    assert "crm (sql, side a):" in first.stdout
    assert "books (sql, side b):" in first.stdout
    assert "crm-books is ready" in first.stdout
    for database in (sql.crm, sql.books):
        db = sqlite3.connect(database)
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        finally:
            db.close()
        assert "syncline_changes" in tables
    again = runner.invoke(app, ["setup", "crm-books", "--config", str(sql.config)])
    assert again.exit_code == 0, again.output


def test_setup_of_an_unknown_link_is_a_config_error(runner: CliRunner, sql: SqlPair) -> None:
    result = runner.invoke(app, ["setup", "crm-book", "--config", str(sql.config)])
    assert result.exit_code == 2
    assert "did you mean 'crm-books'?" in result.stderr


def test_setup_of_memory_endpoints_has_nothing_to_do(runner: CliRunner,
                                                     memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("setup", "lr"))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("nothing to do") == 2


def test_config_may_come_before_the_command_or_from_the_environment(
        runner: CliRunner, memory: MemoryPair) -> None:
    before = runner.invoke(app, ["--config", str(memory.config), "status", "lr", "--json"])
    assert before.exit_code == 0, before.output
    env = runner.invoke(app, ["status", "lr", "--json"],
                        env={"SYNCLINE_CONFIG": str(memory.config)})
    assert env.exit_code == 0, env.output
    assert json.loads(before.stdout)["link"] == json.loads(env.stdout)["link"] == "lr"
    # the command's own --config wins over the one before it
    wins = runner.invoke(app, ["--config", "nowhere.toml", "status", "--config",
                               str(memory.config)])
    assert wins.exit_code == 0, wins.output


def test_every_command_takes_config(runner: CliRunner) -> None:
    for command in ("init", "setup", "sync", "status", "journal", "conflicts", "connectors"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
        assert "--config" in result.stdout, command


def test_help_and_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for command in ("init", "demo", "setup", "sync", "status", "journal", "conflicts",
                    "connectors"):
        assert command in result.stdout
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0
    assert version.stdout.strip() == f"syncline {__version__}"


def test_console_script_is_installed() -> None:
    import subprocess
    import sys

    script = Path(sys.executable).with_name("syncline")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                            timeout=60, env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"syncline {__version__}"
