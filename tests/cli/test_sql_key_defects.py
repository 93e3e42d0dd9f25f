"""Keys the schema does not prove unique and not NULL, after ``syncline setup`` (change
capture), on SQLite, PostgreSQL and MariaDB (issue 13 follow-up, defects C, D and E):

- C: an update or delete by a key held by two rows is refused for that item (naming the
  table, key and count) and touches no row; keys are compared as the database compares them
  (MariaDB case-insensitive collations, SQLite integer ``1`` beside text ``'1'``);
- D: rows whose key was set to NULL are counted and reported on every run, and while they
  exist no deletion is read from that table;
- E: the records that could not be read are pending items listed by ``syncline errors``,
  read again every run, and leave the list once fixed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from syncline.cli import app

from .sql_keys_support import KEY_DDL, SqlLink, make_link


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mariadb", marks=pytest.mark.mariadb)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


def _link(tmp_path: Path, url: str, key_type: str | None = "varchar(20)") -> SqlLink:
    """Link ``lr`` from table ``nopk`` (no primary key, keyed by ``code``) to ``customers``
    (an identity key), with change capture installed, and the first sync done."""
    link = make_link(tmp_path, url, left=("nopk", "code"), right=("customers", "id"))
    text = "TEXT" if link.dialect == "sqlite" else "varchar(200)"
    code = f"code {key_type}" if key_type else "code"
    link.execute(f"CREATE TABLE nopk ({code}, full_name {text}, email {text})",
                 f"CREATE TABLE customers ({KEY_DDL['identity'][link.dialect]}, "
                 f"full_name {text}, email {text})")
    return link


def _run(runner: CliRunner, link: SqlLink, *command: str, expected: int = 0) -> str:
    result = runner.invoke(app, link.args(*command))
    assert "Traceback" not in result.output
    assert result.exit_code == expected, result.output
    return " ".join(result.output.split())


def _pending(runner: CliRunner, link: SqlLink) -> int:
    status = json.loads(_run(runner, link, "status", "lr", "--json"))
    return int(status["pending_items"])


def _setup_and_sync(runner: CliRunner, link: SqlLink, rows: str) -> None:
    link.execute(f"INSERT INTO nopk VALUES {rows}")
    _run(runner, link, "setup", "lr")
    _run(runner, link, "sync", "lr")


def test_a_duplicated_key_is_neither_updated_nor_deleted(runner: CliRunner, tmp_path: Path,
                                                         database_url: str) -> None:
    link = _link(tmp_path, database_url)
    _setup_and_sync(runner, link, "('A-1', 'Al', 'al@x'), ('B-2', 'Bo', 'bo@x')")
    link.execute("INSERT INTO nopk VALUES ('B-2', 'Second Bo', 'second@x')")
    output = _run(runner, link, "sync", "lr", expected=1)
    assert "code=B-2 in nopk: 2 rows have this key" in output
    assert "errors lr" in output
    listed = _run(runner, link, "errors", "lr")
    assert "B-2" in listed and "2 rows have this key" in listed
    assert _pending(runner, link) == 1

    # the next run reads it again and still reports it
    output = _run(runner, link, "sync", "lr", expected=1)
    assert "code=B-2 in nopk: 2 rows have this key" in output

    # an edit on the other side must not land in both rows
    link.execute("UPDATE customers SET full_name = 'Bo edited in dst' WHERE email = 'bo@x'")
    _run(runner, link, "sync", "lr", expected=1)
    assert "not written, 2 rows have this key" in _run(runner, link, "errors", "lr")
    journal = _run(runner, link, "journal", "lr", "--outcome", "error")
    assert "key B-2 matches 2 rows in nopk: not written" in journal
    both = [("Al", "al@x"), ("Bo", "bo@x"), ("Second Bo", "second@x")]
    assert link.people("nopk") == both

    # nor a delete remove both
    link.execute("DELETE FROM customers WHERE email = 'bo@x'")
    _run(runner, link, "sync", "lr", "--allow-mass-delete", expected=1)
    assert link.people("nopk") == both

    # fixed: the other row gets a key of its own; the held delete goes to the one B-2 row,
    # the new row is created, and nothing is pending any more
    link.execute("UPDATE nopk SET code = 'C-3' WHERE full_name = 'Second Bo'")
    _run(runner, link, "sync", "lr", "--allow-mass-delete")
    assert link.people("nopk") == [("Al", "al@x"), ("Second Bo", "second@x")]
    assert link.people("customers") == [("Al", "al@x"), ("Second Bo", "second@x")]
    assert _pending(runner, link) == 0
    assert "no blocked records" in _run(runner, link, "errors", "lr")
    _run(runner, link, "sync", "lr")


@pytest.mark.mariadb
def test_mariadb_compares_keys_without_regard_to_case(runner: CliRunner, tmp_path: Path,
                                                      mariadb_url: str) -> None:
    link = _link(tmp_path, mariadb_url)
    _setup_and_sync(runner, link, "('A-1', 'Al', 'al@x'), ('B-2', 'Bo', 'bo@x')")
    link.execute("INSERT INTO nopk VALUES ('a-1', 'Lower Al', 'lower@x')")
    output = _run(runner, link, "sync", "lr", expected=1)
    assert "2 rows have this key" in output and "without regard to case" in output
    assert link.people("customers") == [("Al", "al@x"), ("Bo", "bo@x")]  # nothing created

    link.execute("UPDATE customers SET full_name = 'Al edited' WHERE email = 'al@x'")
    _run(runner, link, "sync", "lr", expected=1)
    assert "key A-1 matches 2 rows in nopk: not written" in _run(
        runner, link, "journal", "lr", "--outcome", "error")
    assert link.people("nopk") == [("Al", "al@x"), ("Bo", "bo@x"), ("Lower Al", "lower@x")]


def test_sqlite_integer_and_text_forms_of_a_key_are_one_key(runner: CliRunner,
                                                            tmp_path: Path) -> None:
    link = _link(tmp_path, f"sqlite:///{tmp_path / 'crm.db'}", key_type=None)
    _setup_and_sync(runner, link, "(1, 'One', 'one@x'), (2, 'Two', 'two@x')")
    link.execute("INSERT INTO nopk VALUES ('1', 'Text one', 'text@x')")
    output = _run(runner, link, "sync", "lr", expected=1)
    assert "code=1 in nopk: 2 rows have this key" in output
    link.execute("UPDATE customers SET full_name = 'One edited' WHERE email = 'one@x'")
    _run(runner, link, "sync", "lr", expected=1)
    assert "key 1 matches 2 rows in nopk: not written" in _run(
        runner, link, "journal", "lr", "--outcome", "error")
    link.execute("DELETE FROM customers WHERE email = 'one@x'")
    _run(runner, link, "sync", "lr", "--allow-mass-delete", expected=1)
    assert link.people("nopk") == [("One", "one@x"), ("Text one", "text@x"),
                                   ("Two", "two@x")]


def test_rows_whose_key_is_removed_hold_deletions(runner: CliRunner, tmp_path: Path,
                                                  database_url: str) -> None:
    link = _link(tmp_path, database_url)
    _setup_and_sync(runner, link, "('A-1', 'Al', 'al@x'), ('B-2', 'Bo', 'bo@x')")
    link.execute("UPDATE nopk SET code = NULL WHERE code = 'A-1'",
                 "INSERT INTO nopk VALUES (NULL, 'NewNull', 'nn@x')")
    for _ in range(2):  # reported on every run, the deletion held each time
        output = _run(runner, link, "sync", "lr", "--allow-mass-delete", expected=1)
        assert "2 rows in nopk have no key (nopk.code is NULL)" in output
        assert "key A-1 is gone from side a" in output and "held" in output
        assert link.people("customers") == [("Al", "al@x"), ("Bo", "bo@x")]
        assert "A-1" in _run(runner, link, "errors", "lr")
    assert _pending(runner, link) == 1

    # the key is given back and the other row deleted: nothing is reported or pending
    link.execute("UPDATE nopk SET code = 'A-1' WHERE full_name = 'Al'",
                 "DELETE FROM nopk WHERE code IS NULL")
    _run(runner, link, "sync", "lr")
    assert link.people("customers") == [("Al", "al@x"), ("Bo", "bo@x")]
    assert _pending(runner, link) == 0

    # a real deletion goes through once no row is without a key
    link.execute("DELETE FROM nopk WHERE code = 'A-1'")
    _run(runner, link, "sync", "lr", "--allow-mass-delete")
    assert link.people("customers") == [("Bo", "bo@x")]


def test_setup_refuses_integer_and_text_forms_of_one_key(runner: CliRunner,
                                                         tmp_path: Path) -> None:
    link = _link(tmp_path, f"sqlite:///{tmp_path / 'crm.db'}", key_type=None)
    link.execute("INSERT INTO nopk VALUES (1, 'One', 'one@x'), ('1', 'Text one', 'text@x')")
    output = _run(runner, link, "setup", "lr", expected=2)
    assert "nopk.code is not unique ('1' is the key of 2 rows)" in output
