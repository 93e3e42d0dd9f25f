"""Keys on real schemas, through ``syncline setup`` and ``syncline sync`` of a link between
two SQL endpoints (issue 13, defects 1, 4 and 9), on SQLite, PostgreSQL and MariaDB: uuid,
identity and citext keys round-trip both ways; a key column that is not unique or holds NULLs
is refused (exit 2, naming the table, column and an example) before anything is written; a
view's duplicate and NULL keys and an undecodable value are errors of their rows only, and
the link keeps working."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from syncline.cli import app

from .sql_keys_support import KEY_DDL, SqlLink, make_link

UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mariadb", marks=pytest.mark.mariadb)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crm.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


def _text(kind: str, dialect: str) -> str:
    return "TEXT" if dialect == "sqlite" else "varchar(200)"


def _table(link: SqlLink, name: str, key: str) -> None:
    text = _text(name, link.dialect)
    link.execute(f"CREATE TABLE {name} ({KEY_DDL[key][link.dialect]}, full_name {text}, "
                 f"email {text})")


def _sync(runner: CliRunner, link: SqlLink, expected: int = 0) -> str:
    result = runner.invoke(app, link.args("sync", "lr"))
    assert "Traceback" not in result.output
    assert result.exit_code == expected, result.output
    return result.output


def test_uuid_and_identity_keys_round_trip_both_ways(runner: CliRunner, tmp_path: Path,
                                                     database_url: str) -> None:
    link = make_link(tmp_path, database_url, left=("persons", "person_uuid"),
                     right=("customers", "id"))
    _table(link, "persons", "uuid")
    _table(link, "customers", "identity")
    if link.dialect == "sqlite":  # no uuid type: the application gives the keys
        link.execute("INSERT INTO persons VALUES ('6f1c1a52-8a4e-4f7e-9d4b-0c1d2e3f4a5b', "
                     "'Ada Lovelace', 'ada@example.com'), ('0b7e7f0e-1111-4222-8333-"
                     "944455556666', 'Alan Turing', 'alan@example.com')")
    else:
        link.execute("INSERT INTO persons (full_name, email) VALUES "
                     "('Ada Lovelace', 'ada@example.com'), ('Alan Turing', 'alan@example.com')")
    link.execute("INSERT INTO customers (full_name, email) VALUES "
                 "('Grace Hopper', 'grace@example.com')")

    _sync(runner, link)
    everyone = [("Ada Lovelace", "ada@example.com"), ("Alan Turing", "alan@example.com"),
                ("Grace Hopper", "grace@example.com")]
    assert link.people("persons") == everyone
    assert link.people("customers") == everyone
    pairs = link.mapped_keys()
    assert len(pairs) == 3
    if link.dialect != "sqlite":  # server-made uuids came back (RETURNING), as canonical text
        assert all(UUID_TEXT.match(a_key) for a_key, _ in pairs), pairs
    assert all(b_key.isdigit() for _, b_key in pairs), pairs

    # updates both ways: into the uuid row syncline created, and into the identity rows
    link.execute("UPDATE persons SET full_name = 'Grace B. Hopper' "
                 "WHERE email = 'grace@example.com'")
    link.execute("UPDATE customers SET full_name = 'Alan M. Turing' "
                 "WHERE email = 'alan@example.com'")
    _sync(runner, link)
    everyone = [("Ada Lovelace", "ada@example.com"), ("Alan M. Turing", "alan@example.com"),
                ("Grace B. Hopper", "grace@example.com")]
    assert link.people("persons") == everyone
    assert link.people("customers") == everyone

    # deletes both ways
    link.execute("DELETE FROM persons WHERE email = 'ada@example.com'")
    link.execute("DELETE FROM customers WHERE email = 'grace@example.com'")
    _sync(runner, link)
    assert link.people("persons") == [("Alan M. Turing", "alan@example.com")]
    assert link.people("customers") == [("Alan M. Turing", "alan@example.com")]
    assert len(link.mapped_keys()) == 1


def test_uuid_keys_round_trip_after_setup(runner: CliRunner, tmp_path: Path,
                                          database_url: str) -> None:
    """The same with change capture (incremental reads log the uuid key as text)."""
    link = make_link(tmp_path, database_url, left=("persons", "person_uuid"),
                     right=("people", "person_uuid"))
    _table(link, "persons", "uuid")
    _table(link, "people", "uuid")
    setup = runner.invoke(app, link.args("setup", "lr"))
    assert setup.exit_code == 0, setup.output
    key = "'5d2a4a3e-0f7a-4c55-9e1b-2b3c4d5e6f70', " if link.dialect == "sqlite" else ""
    columns = "(person_uuid, full_name, email)" if key else "(full_name, email)"
    link.execute(f"INSERT INTO persons {columns} VALUES ({key}'Ada Lovelace', "
                 f"'ada@example.com')")
    _sync(runner, link)
    assert link.people("people") == [("Ada Lovelace", "ada@example.com")]
    link.execute("UPDATE people SET full_name = 'Ada King' WHERE email = 'ada@example.com'")
    _sync(runner, link)
    assert link.people("persons") == [("Ada King", "ada@example.com")]
    link.execute("DELETE FROM people")
    _sync(runner, link)
    assert link.people("persons") == []


@pytest.mark.postgres
def test_citext_keys_round_trip(runner: CliRunner, tmp_path: Path, postgres_url: str) -> None:
    link = make_link(tmp_path, postgres_url, left=("members", "email"),
                     right=("customers", "id"))
    link.execute("CREATE EXTENSION IF NOT EXISTS citext",
                 "CREATE TABLE members (email citext PRIMARY KEY, full_name text)")
    _table(link, "customers", "identity")
    link.execute("INSERT INTO members VALUES ('Ada@Example.COM', 'Ada Lovelace')")
    link.execute("INSERT INTO customers (full_name, email) VALUES "
                 "('Grace Hopper', 'grace@example.com')")
    _sync(runner, link)
    assert link.people("members") == [("Ada Lovelace", "Ada@Example.COM"),
                                      ("Grace Hopper", "grace@example.com")]
    assert sorted(a for a, _ in link.mapped_keys()) == ["Ada@Example.COM", "grace@example.com"]
    link.execute("UPDATE customers SET full_name = 'Ada King' WHERE email = 'Ada@Example.COM'")
    link.execute("DELETE FROM customers WHERE email = 'grace@example.com'")
    _sync(runner, link)
    assert link.people("members") == [("Ada King", "Ada@Example.COM")]


def test_a_key_column_that_is_not_unique_is_refused(runner: CliRunner, tmp_path: Path,
                                                    database_url: str) -> None:
    link = make_link(tmp_path, database_url, left=("loose_people", "code"),
                     right=("customers", "id"))
    text = _text("", link.dialect)
    link.execute(f"CREATE TABLE loose_people (code varchar(20), full_name {text}, "
                 f"email {text})")
    _table(link, "customers", "identity")
    link.execute("INSERT INTO loose_people VALUES ('A-1', 'Ada Lovelace', 'ada@example.com'), "
                 "('A-1', 'Alan Turing', 'alan@example.com'), "
                 "('B-2', 'Grace Hopper', 'grace@example.com')")

    for command in (("setup", "lr"), ("sync", "lr"), ("sync", "lr", "--dry-run")):
        result = runner.invoke(app, link.args(*command))
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        message = " ".join(result.output.split())
        assert "endpoints.left.streams.contact.key" in message
        assert "loose_people.code is not unique ('A-1' is the key of 2 rows)" in message
    assert link.people("customers") == []  # nothing was written

    link.execute("UPDATE loose_people SET code = NULL WHERE full_name = 'Alan Turing'")
    result = runner.invoke(app, link.args("sync", "lr"))
    assert result.exit_code == 2, result.output
    assert "loose_people.code is NULL in 1 row (1 row has no key)" in " ".join(
        result.output.split())
    assert link.people("customers") == []

    link.execute("UPDATE loose_people SET code = 'C-3' WHERE full_name = 'Alan Turing'")
    _sync(runner, link)  # fixed: the link runs
    assert len(link.people("customers")) == 3


def test_a_view_with_duplicate_and_null_keys_syncs_the_other_rows(
        runner: CliRunner, tmp_path: Path, database_url: str) -> None:
    link = make_link(tmp_path, database_url, left=("people_view", "code"),
                     right=("customers", "id"), direction="a-to-b")
    text = _text("", link.dialect)
    link.execute(f"CREATE TABLE people_source (id integer PRIMARY KEY, code varchar(20), "
                 f"full_name {text}, email {text})",
                 "CREATE VIEW people_view AS SELECT code, full_name, email FROM people_source")
    _table(link, "customers", "identity")
    link.execute("INSERT INTO people_source VALUES "
                 "(1, 'A-1', 'Ada Lovelace', 'ada@example.com'), "
                 "(2, 'A-1', 'Alan Turing', 'alan@example.com'), "
                 "(3, NULL, 'Nobody', 'nobody@example.com'), "
                 "(4, 'B-2', 'Grace Hopper', 'grace@example.com'), "
                 "(5, 'C-3', 'Linus Torvalds', 'linus@example.com')")

    output = " ".join(_sync(runner, link, expected=1).split())
    assert link.people("customers") == [("Grace Hopper", "grace@example.com"),
                                        ("Linus Torvalds", "linus@example.com")]
    assert "code=A-1 in people_view: 2 rows have this key" in output
    assert "1 row in people_view has no key (people_view.code is NULL)" in output
    journal = runner.invoke(app, link.args("journal", "lr", "--outcome", "error"))
    assert journal.exit_code == 0, journal.output
    assert "A-1" in journal.output and "no key" in journal.output

    # the next run still works: a change goes through, the bad rows are reported again
    link.execute("UPDATE people_source SET full_name = 'Grace B. Hopper' WHERE id = 4")
    output = " ".join(_sync(runner, link, expected=1).split())
    assert "code=A-1 in people_view" in output
    assert link.people("customers") == [("Grace B. Hopper", "grace@example.com"),
                                        ("Linus Torvalds", "linus@example.com")]

    # once fixed, the rows sync and nothing is reported
    link.execute("UPDATE people_source SET code = 'D-4' WHERE id = 2",
                 "UPDATE people_source SET code = 'E-5' WHERE id = 3")
    _sync(runner, link)
    assert [name for name, _ in link.people("customers")] == [
        "Ada Lovelace", "Alan Turing", "Grace B. Hopper", "Linus Torvalds", "Nobody"]


def test_a_value_that_is_not_utf8_fails_only_its_row(runner: CliRunner,
                                                     tmp_path: Path) -> None:
    link = make_link(tmp_path, f"sqlite:///{tmp_path / 'crm.db'}",
                     left=("people", "person_id"), right=("customers", "id"))
    link.execute("CREATE TABLE people (person_id INTEGER PRIMARY KEY, full_name TEXT, "
                 "email TEXT)")
    _table(link, "customers", "identity")
    db = sqlite3.connect(tmp_path / "crm.db")
    db.execute("INSERT INTO people VALUES (1, 'Ada Lovelace', 'ada@example.com'), "
               "(2, CAST(X'416C616EFF' AS TEXT), 'alan@example.com'), "
               "(3, 'Grace Hopper', 'grace@example.com')")
    db.commit()
    db.close()

    output = " ".join(_sync(runner, link, expected=1).split())
    assert "person_id=2 in people: column full_name" in output
    assert link.people("customers") == [("Ada Lovelace", "ada@example.com"),
                                        ("Grace Hopper", "grace@example.com")]
    link.execute("UPDATE people SET full_name = 'Ada King' WHERE person_id = 1")
    output = " ".join(_sync(runner, link, expected=1).split())
    assert "person_id=2 in people" in output
    assert link.people("customers")[0] == ("Ada King", "ada@example.com")
    link.execute("UPDATE people SET full_name = 'Alan Turing' WHERE person_id = 2")
    _sync(runner, link)
    assert len(link.people("customers")) == 3

    # a synced row that becomes unreadable is reported, not taken for deleted
    db = sqlite3.connect(tmp_path / "crm.db")
    db.execute("UPDATE people SET full_name = CAST(X'4164FF' AS TEXT) WHERE person_id = 1")
    db.commit()
    db.close()
    output = " ".join(_sync(runner, link, expected=1).split())
    assert "person_id=1 in people: column full_name" in output
    assert link.people("customers")[0] == ("Ada King", "ada@example.com")
    assert len(link.mapped_keys()) == 3
