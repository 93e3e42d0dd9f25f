"""``syncline sync`` of every link on SQL endpoints (SQLite files, PostgreSQL, MariaDB): a
link with a configuration error is reported and skipped while the others run, the exit code
is the worst result, and the end says which link got which (issue 13, defect 8); errors of
one cause are one group listing their records, a run with errors names ``syncline errors``
(defect 10).

Each backend holds, in one database, a ``people_N`` and a ``customers_N`` table per link N;
the customers' ``tel`` holds at most 20 characters (SQLite: a named CHECK constraint).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from syncline.cli import app

UNSET = "SYNCLINE_TEST_UNSET_CRM_URL"
LONG_PHONE = "+44 20 7946 0000 ext. 12345"  # 27 characters: longer than tel's 20


@dataclass
class Backend:
    """One database holding every table of the scenario, and the config over it."""

    url: str
    config: Path

    def execute(self, statement: str, rows: list[dict[str, object]] | None = None) -> None:
        engine = sa.create_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(statement), rows or [{}])
        finally:
            engine.dispose()

    def rows(self, query: str) -> list[tuple[object, ...]]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(sa.text(query))]
        finally:
            engine.dispose()

    def args(self, *more: str) -> list[str]:
        return [*more, "--config", str(self.config)]


def _tables(backend: Backend, number: int) -> None:
    dialect = sa.make_url(backend.url).get_backend_name()
    serial = {"sqlite": "INTEGER PRIMARY KEY", "postgresql": "SERIAL PRIMARY KEY",
              "mysql": "INTEGER AUTO_INCREMENT PRIMARY KEY"}[dialect]
    fits = ", CONSTRAINT tel_fits CHECK (length(tel) <= 20)" if dialect == "sqlite" else ""
    backend.execute(f"CREATE TABLE people_{number} (person_id INTEGER PRIMARY KEY, "
                    f"full_name VARCHAR(100) NOT NULL, email VARCHAR(100), phone VARCHAR(40))")
    backend.execute(f"CREATE TABLE customers_{number} (cust_no {serial}, name VARCHAR(100) "
                    f"NOT NULL, email VARCHAR(100), tel VARCHAR(20){fits})")


def _endpoints(number: int, url: str) -> str:
    return f"""
[endpoints.crm{number}]
connector = "sql"
url = "{url}"
[endpoints.crm{number}.streams.contact]
table = "people_{number}"
key = "person_id"
fields = {{ name = "full_name", email = "email", phone = "phone" }}

[endpoints.books{number}]
connector = "sql"
url = "{url}"
[endpoints.books{number}.streams.contact]
table = "customers_{number}"
key = "cust_no"
fields = {{ name = "name", email = "email", phone = "tel" }}
"""


def _link(name: str, number: int) -> str:
    return f"""
[links.{name}]
a = "crm{number}"
b = "books{number}"
streams = ["contact"]
direction = "a-to-b"
match = {{ contact = ["email"] }}
"""


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """Three links ``first``, ``second``, ``third`` over one database of each kind; the
    second's CRM URL is ``env:`` + an unset variable."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'data.db'}"
    else:
        url = request.getfixturevalue(f"{request.param}_url")
    monkeypatch.delenv(UNSET, raising=False)
    config = tmp_path / "syncline.toml"
    config.write_text(f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
                      + _endpoints(1, url) + _endpoints(2, f"env:{UNSET}") + _endpoints(3, url)
                      + _link("first", 1) + _link("second", 2) + _link("third", 3),
                      encoding="utf-8")
    found = Backend(url, config)
    for number in (1, 2, 3):
        _tables(found, number)
    for number in (1, 2, 3):
        found.execute(f"INSERT INTO people_{number} (person_id, full_name, email, phone) "
                      f"VALUES (:id, :name, :email, :phone)",
                      [{"id": n, "name": f"Person {number}.{n}",
                        "email": f"p{number}.{n}@example.com", "phone": f"+1 555 01{n:02d}"}
                       for n in (1, 2)])
    yield found


def _people_copied(backend: Backend, number: int) -> list[tuple[object, ...]]:
    return backend.rows(f"SELECT name, email FROM customers_{number} ORDER BY email")


def _switch_on(runner: CliRunner, backend: Backend, *links: str) -> None:
    """Switch ``links`` into Sync All, as an admin does (every link is out until then)."""
    for name in links:
        result = runner.invoke(app, backend.args("link", name, "--sync-all", "on"))
        assert result.exit_code == 0, result.output
        assert result.stdout == f"{name} takes part in Sync All\n"


def test_sync_all_runs_only_the_links_switched_on_and_names_the_others(
        runner: CliRunner, backend: Backend) -> None:
    """Sync All is off for every link until an admin switches it on (seed 003): ``sync``
    with no link runs only the links switched on and not paused, and says which were left
    out and why; the API's Sync All makes the same choice."""
    nothing = runner.invoke(app, backend.args("sync"))
    assert nothing.exit_code == 2, nothing.output
    assert nothing.stderr.startswith(
        "error: no link takes part in Sync All (first (Sync All is off for it), second (Sync "
        "All is off for it), third (Sync All is off for it)); run one with 'syncline sync "
        "LINK', or switch links on with 'syncline link LINK --sync-all on'"), nothing.stderr
    assert _people_copied(backend, 1) == [] and _people_copied(backend, 3) == []
    shown = runner.invoke(app, backend.args("link", "third"))
    assert shown.stdout == ("third: not paused; is left out of Sync All (switch it on: "
                            "syncline link third --sync-all on)\n")

    _switch_on(runner, backend, "first", "third")
    listed = runner.invoke(app, backend.args("link"))
    assert listed.stdout.splitlines() == ["first: not paused; Sync All on",
                                          "second: not paused; Sync All off",
                                          "third: not paused; Sync All on"], listed.output
    bare = runner.invoke(app, backend.args("link", "--sync-all", "on"))
    assert bare.exit_code == 2 and "--sync-all needs the LINK to switch" in bare.stderr
    from syncline.config import load_config
    from syncline.service.stores import controls_of, open_state_store

    with open_state_store(load_config(backend.config)) as store:
        controls_of(store).set_paused("third", True, user="test")
    result = runner.invoke(app, backend.args("sync", "--json"))
    assert result.exit_code == 0, result.output
    documents = json.loads(result.stdout)
    assert [(d["link"], d["outcome"], d["messages"]) for d in documents] == [
        ("second", "left-out", ["left out of Sync All: Sync All is off for it"]),
        ("third", "left-out", ["left out of Sync All: paused"]),
        ("first", "ok", [])]
    assert len(_people_copied(backend, 1)) == 2
    assert _people_copied(backend, 3) == []  # paused: left out

    off = runner.invoke(app, backend.args("link", "first", "--sync-all", "off", "--json"))
    assert off.exit_code == 0, off.output
    assert json.loads(off.stdout)["sync_all"] is False
    again = runner.invoke(app, backend.args("sync"))
    assert again.exit_code == 2 and "no link takes part in Sync All" in again.stderr

    from api.support import serve_api
    from syncline.state.users_store import Role

    _switch_on(runner, backend, "first")
    with serve_api(load_config(backend.config)) as api:
        answer = api.client(Role.ADMIN).post("/api/sync-all").json()
    assert [started["link"] for started in answer["started"]] == ["first"]
    assert answer["skipped"] == {"second": "Sync All is off for it", "third": "paused"}


def test_a_link_with_a_configuration_error_is_skipped_and_the_others_run(
        runner: CliRunner, backend: Backend) -> None:
    _switch_on(runner, backend, "first", "second", "third")
    result = runner.invoke(app, backend.args("sync"))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    # one clear line names the file, the setting, what is wrong, and the link skipped
    (line,) = [text for text in result.stderr.splitlines() if text.startswith("error:")]
    assert line == (f"error: {backend.config}: endpoints.crm2.url: environment variable "
                    f"{UNSET} is not set (link 'second' skipped; the other links run)"), line
    assert len(_people_copied(backend, 1)) == 2
    assert len(_people_copied(backend, 3)) == 2  # the link after the broken one ran too
    summary = result.stdout[result.stdout.index("links (3), exit code 2"):]
    outcomes = re.findall(r"^\W*(first|second|third)\W+(ok|config-error)\b", summary, re.M)
    assert outcomes == [("first", "ok"), ("second", "config-error"), ("third", "ok")]

    # --json: a summary for every link, in order, the broken one included
    backend.execute("INSERT INTO people_3 (person_id, full_name, email, phone) "
                    "VALUES (3, 'Person 3.3', 'p3.3@example.com', :phone)",
                    [{"phone": LONG_PHONE}])
    result = runner.invoke(app, backend.args("sync", "--json"))
    assert result.exit_code == 2, result.output  # a configuration error outranks item errors
    documents = json.loads(result.stdout)
    assert [(d["link"], d["outcome"]) for d in documents] == [
        ("first", "ok"), ("second", "config-error"), ("third", "error")]
    assert any(f"environment variable {UNSET} is not set" in message
               for message in documents[1]["messages"])
    assert documents[2]["streams"]["contact"]["errors"] == 1
    assert "syncline errors third" in result.stderr

    # the variable set (to the same database): every link runs; the worst left is item errors
    runner_env = CliRunner(env={"COLUMNS": "200", UNSET: backend.url})
    result = runner_env.invoke(app, backend.args("sync", "--json"))
    assert result.exit_code == 1, result.output
    assert [(d["link"], d["outcome"]) for d in json.loads(result.stdout)] == [
        ("first", "ok"), ("second", "ok"), ("third", "error")]
    assert len(_people_copied(backend, 2)) == 2


def test_five_errors_of_one_cause_are_one_group_listing_five_records(
        runner: CliRunner, backend: Backend) -> None:
    backend.execute("INSERT INTO people_1 (person_id, full_name, email, phone) "
                    "VALUES (:id, :name, :email, :phone)",
                    [{"id": n, "name": f"Long {n}", "email": f"long{n}@example.com",
                      "phone": LONG_PHONE} for n in range(11, 16)])
    result = runner.invoke(app, backend.args("sync", "first"))
    assert result.exit_code == 1, result.output
    assert "5 records could not go" in result.stdout
    assert "run `syncline errors first` to see them grouped by cause" in result.stdout
    assert len(_people_copied(backend, 1)) == 2  # the two good ones went

    listed = runner.invoke(app, backend.args("errors", "first", "--json"))
    assert listed.exit_code == 0, listed.output
    (group,) = json.loads(listed.stdout)
    assert group["count"] == 5
    assert sorted(group["keys"]) == ["11", "12", "13", "14", "15"]
    assert group["kind"] == "ValidationFailed"
    assert group["stream"] == "contact"
    shown = runner.invoke(app, backend.args("errors", "first"))
    heads = [line for line in shown.stdout.splitlines() if " — " in line]
    assert len(heads) == 1 and heads[0].endswith("— 5 contacts"), shown.stdout
    assert "11, 12, 13, 14, 15" in shown.stdout

    from api.support import serve_api
    from syncline.config import load_config
    from syncline.state.users_store import Role

    with serve_api(load_config(backend.config)) as api:
        (served,) = api.client(Role.VIEWER).get("/api/links/first/errors").json()
    assert (served["count"], sorted(served["keys"]), served["kind"], served["field"],
            served["value"]) == (5, sorted(group["keys"]), group["kind"], group["field"],
                                 group["value"])


def test_rows_refused_by_one_constraint_are_one_group(runner: CliRunner,
                                                     backend: Backend) -> None:
    """Each refusal quotes its row's own value (MariaDB: ``Duplicate entry 'Dup 3'``,
    PostgreSQL: ``Key (name)=(Dup 3)``): the cause is the constraint, not the message."""
    backend.execute("CREATE UNIQUE INDEX customers_1_name ON customers_1 (name)")
    backend.execute("INSERT INTO customers_1 (name, email) VALUES (:name, :email)",
                    [{"name": f"Dup {n}", "email": f"taken{n}@example.com"}
                     for n in range(21, 26)])
    backend.execute("INSERT INTO people_1 (person_id, full_name, email) "
                    "VALUES (:id, :name, :email)",
                    [{"id": n, "name": f"Dup {n}", "email": f"new{n}@example.com"}
                     for n in range(21, 26)])
    result = runner.invoke(app, backend.args("sync", "first"))
    assert result.exit_code == 1, result.output
    (group,) = json.loads(runner.invoke(app, backend.args("errors", "first", "--json")).stdout)
    assert sorted(group["keys"]) == ["21", "22", "23", "24", "25"]
    assert group["kind"] == "ValidationFailed"
    assert group["field"] in ("customers_1_name", "customers_1.name"), group


def test_a_busy_link_still_prints_its_summary(runner: CliRunner, backend: Backend) -> None:
    from syncline.config import load_config
    from syncline.service.lock import RunLock
    from syncline.state.store import StateStore

    _switch_on(runner, backend, "first", "second", "third")
    config = load_config(backend.config)
    store = StateStore.open(config.resolve_url(config.state.url))
    try:
        with RunLock(store, "third", holder="syncline serve (test)"):
            alone = runner.invoke(app, backend.args("sync", "third", "--json"))
            every = runner.invoke(app, backend.args("sync", "--json"))
    finally:
        store.close()
    assert alone.exit_code == 3, alone.output
    document = json.loads(alone.stdout)  # stdout is not empty: the failed run's summary
    assert document["link"] == "third" and document["outcome"] == "failed"
    assert document["run_id"] is None  # nothing ran
    (message,) = document["messages"]
    assert message.startswith("link 'third' is busy: ") and "syncline serve (test)" in message
    assert every.exit_code == 2, every.output  # the config error of 'second' ranks first
    assert [(d["link"], d["outcome"]) for d in json.loads(every.stdout)] == [
        ("first", "ok"), ("second", "config-error"), ("third", "failed")]
    assert _people_copied(backend, 3) == []  # the busy link was not run
    assert len(_people_copied(backend, 1)) == 2

