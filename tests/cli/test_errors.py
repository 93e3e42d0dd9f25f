"""Bad configurations: one line on stderr naming the file, the key and what is wrong (with a
suggestion for a misspelt name), exit code 2, nothing touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from syncline.cli import app

from .helpers import ISSUE_EXAMPLE


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    assert old in ISSUE_EXAMPLE
    path = tmp_path / "syncline.toml"
    path.write_text(ISSUE_EXAMPLE.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ('conflict = "newest"', 'conflict = "newer"',
     "links.crm-books.conflict: Input should be 'a-wins', 'b-wins', 'newest', 'merge' or "
     "'manual' (got 'newer'; did you mean 'newest'?)"),
    ('conflict = "newest"', 'conflcit = "newest"',
     "links.crm-books.conflcit: unknown setting 'conflcit' (did you mean 'conflict'?); "
     "allowed: a, b, streams, direction, directions, conflict, first_sync, match, max_delete, "
     "batch_size"),
    ('b = "books"', 'b = "bookz"',
     "links.crm-books.b: unknown endpoint 'bookz' (did you mean 'books'?); configured: "
     "books, crm"),
    ('connector = "sql"', 'connector = "sqll"',
     "endpoints.crm.connector: unknown connector 'sqll' (did you mean 'sql'?); known: "),
    ('max_delete = "25%"', 'max_delete = "lots"',
     "links.crm-books.max_delete: must be a number of records or a percentage like '25%' "
     "(got 'lots')"),
    ('max_delete = "25%"', 'max_delete = "250%"',
     "links.crm-books.max_delete: a percentage cannot exceed 100% (got '250%')"),
    ('max_delete = "25%"', "max_delete = -1",
     "links.crm-books.max_delete: must be a number of records (>= 0) or a percentage like "
     "'25%' (got -1)"),
    ('table = "people"', 'tabel = "people"',
     "endpoints.crm.streams.contact.tabel: unknown setting 'tabel' (did you mean 'table'?)"),
    ('streams = ["contact"]', 'streams = ["contacts"]',
     "links.crm-books.streams[0]: unknown stream 'contacts' (did you mean 'contact'?); "
     "known streams: "),
    ('match = { contact = ["email"] }', 'match = { contact = ["mail"] }',
     "links.crm-books.match.contact: unknown contact field 'mail' (did you mean 'email'?)"),
    ('[state]', '[stat]', "stat: unknown setting 'stat' (did you mean 'state'?)"),
    ('a = "crm"\n', '', "links.crm-books.a: is required but missing"),
    ('[state]', '[state', "not valid TOML: Expected ']' at the end of a table declaration "
                         "(at line 1, column 7)"),
])
def test_bad_config_is_one_clear_line(runner: CliRunner, tmp_path: Path, old: str, new: str,
                                      message: str) -> None:
    path = _variant(tmp_path, old, new)
    result = runner.invoke(app, ["sync", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: {message}")
    assert not (tmp_path / "syncline-state.db").exists()  # nothing touched


def test_missing_config_file(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    result = runner.invoke(app, ["status", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: config file {path} not found (create one with " \
                            f"'syncline init')\n"


def test_unset_secret_is_a_config_error(runner: CliRunner, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCLINE_TEST_CRM_URL", raising=False)
    path = _variant(tmp_path, 'url = "sqlite:///crm.db"', 'url = "env:SYNCLINE_TEST_CRM_URL"')
    result = runner.invoke(app, ["sync", "crm-books", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert "environment variable SYNCLINE_TEST_CRM_URL is not set" in result.stderr
    assert "Traceback" not in result.output


def test_errors_found_while_opening_name_the_config_file(runner: CliRunner,
                                                        tmp_path: Path) -> None:
    import sqlite3

    path = _variant(tmp_path, "", "")
    for name in ("crm.db", "books.db"):
        sqlite3.connect(tmp_path / name).close()
    result = runner.invoke(app, ["sync", "crm-books", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {path}: endpoints.crm.streams.contact.table: "
                                    f"table 'people' not found")
