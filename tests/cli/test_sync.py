"""``syncline sync``: exit codes, scopes, dry runs, JSON output and the summary table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from syncline.cli import app

from .helpers import MemoryPair, SqlPair, memory_config

SYNCLINE = Path(sys.executable).with_name("syncline")
RUN_KEYS = {"link", "run_id", "mode", "trigger", "started_at", "finished_at", "duration_s",
            "outcome", "streams", "messages", "dry_run"}
COUNT_KEYS = {"A", "M", "D", "R", "errors", "warnings", "conflicts", "skipped"}


def test_sync_creates_missing_records_and_prints_the_summary(runner: CliRunner,
                                                             memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("sync", "lr"))
    assert result.exit_code == 0, result.output
    assert len(memory.b.stream("contact")) == 3
    assert "lr: run 1, incremental, ok" in result.stdout
    assert "contact" in result.stdout
    # not a terminal: progress comes as plain log lines on stderr
    assert "lr contact: reading" in result.stderr
    assert "lr contact: done, 3 read" in result.stderr


def test_sync_without_link_runs_every_link_switched_on(runner: CliRunner,
                                                       tmp_path: Path) -> None:
    pair = memory_config(tmp_path, extra="""
[links.rl]
a = "right"
b = "left"
streams = ["contact"]
direction = "a-to-b"
match = { contact = ["email"] }
""")
    pair.b.put("contact", "r1", {"name": "Rita", "email": "rita@example.com"})
    for name in ("lr", "rl"):  # Sync All is off for every link until switched on
        assert runner.invoke(app, pair.args("link", name, "--sync-all", "on")).exit_code == 0
    result = runner.invoke(app, pair.args("sync", "--json"))
    assert result.exit_code == 0, result.output
    documents = json.loads(result.stdout)
    assert [document["link"] for document in documents] == ["lr", "rl"]
    assert documents[0]["streams"]["contact"]["A"] == 1  # rita, right -> left
    assert len(pair.a.stream("contact")) == 1


def test_sync_all_with_streams_runs_the_links_taking_part_that_sync_them(
        runner: CliRunner, tmp_path: Path) -> None:
    pair = memory_config(tmp_path, extra="""
[endpoints.left.streams.organisation]
fields = ["name"]
[endpoints.right.streams.organisation]
fields = ["name"]
[links.orgs]
a = "left"
b = "right"
streams = ["organisation"]
""")
    assert runner.invoke(app, pair.args("link", "lr", "--sync-all", "on")).exit_code == 0
    bogus = runner.invoke(app, pair.args("sync", "--stream", "invoice"))
    assert bogus.exit_code == 2 and "no link syncs invoice" in bogus.stderr
    wanted = runner.invoke(app, pair.args("sync", "--stream", "organisation"))
    assert wanted.exit_code == 2, wanted.output
    assert wanted.stderr.startswith("error: no link taking part in Sync All syncs "
                                    "organisation (taking part: lr)"), wanted.stderr
    pair.a.put("contact", "c1", {"name": "Ada", "email": "ada@example.com"})
    pair.a.put("organisation", "o1", {"name": "Acme"})
    result = runner.invoke(app, pair.args("sync", "--stream", "contact", "--json"))
    assert result.exit_code == 0, result.output
    assert [(d["link"], d["outcome"]) for d in json.loads(result.stdout)] == [
        ("orgs", "left-out"), ("lr", "ok")]
    assert len(pair.b.stream("contact")) == 1 and len(pair.b.stream("organisation")) == 0


def test_sync_json_prints_only_the_documented_shape(runner: CliRunner,
                                                    memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("sync", "lr", "--json"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # stdout holds nothing but the JSON
    assert set(document) == RUN_KEYS
    assert document["link"] == "lr"
    assert document["run_id"] == 1
    assert document["mode"] == "incremental"
    assert document["trigger"] == "manual"
    assert document["outcome"] == "ok"
    assert document["dry_run"] is False
    assert isinstance(document["duration_s"], float)
    assert set(document["streams"]["contact"]) == COUNT_KEYS
    assert document["streams"]["contact"]["A"] == 3


def test_full_mode_is_recorded(runner: CliRunner, memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("sync", "lr", "--full", "--json"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mode"] == "full"


def test_item_errors_exit_1_and_stay_pending(runner: CliRunner, memory: MemoryPair) -> None:
    assert runner.invoke(app, memory.args("sync", "lr")).exit_code == 0
    memory.b.fail_keys.update(memory.b.stream("contact"))
    memory.a.put("contact", "k1", {"name": "Person 1", "email": "p1@example.com",
                                   "phone": "changed"})
    result = runner.invoke(app, memory.args("sync", "lr", "--json"))
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["outcome"] == "error"
    assert document["streams"]["contact"]["errors"] == 1
    status = json.loads(runner.invoke(app, memory.args("status", "lr", "--json")).stdout)
    assert status["pending_items"] == 1


def test_warnings_are_not_errors(runner: CliRunner, memory: MemoryPair) -> None:
    from syncline.cli.render import worst_exit
    from syncline.engine import RunOutcome

    assert worst_exit([RunOutcome.OK, RunOutcome.WARNING]) == 0
    assert worst_exit([RunOutcome.WARNING, RunOutcome.ERROR]) == 1
    assert worst_exit([RunOutcome.ERROR, RunOutcome.FAILED]) == 3


def test_unreachable_endpoint_exits_3_with_the_reason(runner: CliRunner,
                                                      memory: MemoryPair) -> None:
    memory.b.unavailable = True
    result = runner.invoke(app, memory.args("sync", "lr", "--json"))
    assert result.exit_code == 3
    assert "endpoint 'right' is unavailable" in result.stderr
    assert "nothing was lost" in result.stderr
    assert "Traceback" not in result.output
    failed = json.loads(result.stdout)
    assert failed["outcome"] == "failed"
    assert failed["run_id"] == 1
    assert memory.b.stream("contact") == {}


def test_unreachable_postgres_exits_3(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "syncline.toml"
    config.write_text("""\
[state]
url = "sqlite:///state.db"
[endpoints.crm]
connector = "sql"
url = "postgresql+psycopg://syncline@127.0.0.1:9/nowhere"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = { name = "full_name" }
[endpoints.books]
connector = "memory"
[endpoints.books.streams.contact]
fields = ["name"]
[links.pg]
a = "crm"
b = "books"
streams = ["contact"]
""", encoding="utf-8")
    result = runner.invoke(app, ["sync", "pg", "--config", str(config)])
    assert result.exit_code == 3, result.output
    assert "endpoint 'crm' is unavailable" in result.stderr


def test_missing_sqlite_database_exits_3(sql: SqlPair) -> None:
    sql.books.unlink()
    result = subprocess.run([str(SYNCLINE), "--config", str(sql.config), "sync", "crm-books"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert "books" in result.stderr


def test_unknown_stream_is_a_usage_error(runner: CliRunner, memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("sync", "lr", "--stream", "invoice"))
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: link 'lr' does not sync invoice; its streams "
                                     "are: contact")


def test_unknown_link_is_a_config_error_with_a_suggestion(runner: CliRunner,
                                                          memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("sync", "lrx"))
    assert result.exit_code == 2
    assert "links.lrx: unknown link 'lrx' (did you mean 'lr'?); configured: lr" in result.stderr


def test_bad_dates_exit_2_with_a_clear_message(runner: CliRunner, memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("sync", "lr", "--since", "2024-13-45"))
    assert result.exit_code == 2
    assert "'2024-13-45' is not an ISO date or date-time" in result.output
    result = runner.invoke(app, memory.args("sync", "lr", "--since", "2024-05-01",
                                            "--until", "2024-04-01"))
    assert result.exit_code == 2
    assert "is after --until" in result.stderr
    assert memory.b.stream("contact") == {}


def test_typer_usage_errors_exit_2(runner: CliRunner, memory: MemoryPair) -> None:
    assert runner.invoke(app, memory.args("sync", "lr", "--no-such-option")).exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2


def test_key_scope_reaches_the_read_scope(runner: CliRunner, memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("sync", "lr", "--full", "--from", "k2",
                                            "--to", "k3", "--json"))
    assert result.exit_code == 0, result.output
    copied = {fields["email"] for _, fields, _ in memory.b.stream("contact").values()}
    assert copied == {"p2@example.com", "p3@example.com"}


def test_date_scope_is_stored_with_the_run(runner: CliRunner, memory: MemoryPair) -> None:
    from syncline.config import load_config
    from syncline.state.store import StateStore

    result = runner.invoke(app, memory.args("sync", "lr", "--since", "2024-03-01",
                                            "--until", "2024-03-31T12:00:00+02:00"))
    assert result.exit_code == 0, result.output
    config = load_config(memory.config)
    store = StateStore.open(config.resolve_url(config.state.url))
    try:
        scope = store.runs("lr")[0]["scope"]
    finally:
        store.close()
    assert scope["since"].startswith("2024-03-01 00:00:00")
    assert scope["until"] == "2024-03-31 12:00:00+02:00"


def test_mass_delete_needs_consent(runner: CliRunner, tmp_path: Path) -> None:
    pair = memory_config(tmp_path, max_delete="1")
    for number in range(4):
        pair.a.put("contact", f"k{number}", {"name": f"P{number}", "email": f"{number}@x.org"})
    assert runner.invoke(app, pair.args("sync", "lr")).exit_code == 0
    for number in range(3):
        pair.a.remove("contact", f"k{number}")
    result = runner.invoke(app, pair.args("sync", "lr"))
    assert result.exit_code == 1
    assert "--allow-mass-delete" in result.stdout
    assert len(pair.b.stream("contact")) == 4
    result = runner.invoke(app, pair.args("sync", "lr", "--allow-mass-delete"))
    assert result.exit_code == 0, result.output
    assert len(pair.b.stream("contact")) == 1


def test_dry_run_prints_the_plan_and_changes_nothing(runner: CliRunner, sql: SqlPair) -> None:
    assert runner.invoke(app, ["setup", "crm-books", "--config", str(sql.config)]
                         ).exit_code == 0
    before = (sql.dump(sql.crm), sql.dump(sql.books))
    result = runner.invoke(app, ["sync", "crm-books", "--dry-run", "--config",
                                 str(sql.config)])
    assert result.exit_code == 0, result.output
    assert "planned changes (2)" in result.stdout
    assert "dry run: nothing was changed" in result.stdout
    assert (sql.dump(sql.crm), sql.dump(sql.books)) == before
    status = json.loads(runner.invoke(app, ["status", "crm-books", "--json", "--config",
                                            str(sql.config)]).stdout)
    assert status["run_id"] is None  # dry runs are not recorded as runs


def test_dry_run_json_lists_the_planned_changes(runner: CliRunner, sql: SqlPair) -> None:
    result = runner.invoke(app, ["sync", "crm-books", "--dry-run", "--json", "--config",
                                 str(sql.config)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["dry_run"] is True
    assert document["run_id"] is None
    assert sorted((p["action"], p["direction"]) for p in document["planned"]) == \
        [("A", "a>b"), ("A", "a>b")]
    assert len(sql.customers()) == 1


def test_dry_run_shows_the_fields_each_side_would_change(runner: CliRunner,
                                                          sql: SqlPair) -> None:
    """The first sync pairs Ada by e-mail; b's phone is empty, so a dry run plans to fill
    it in on b (a's empty value would never blank b's), field by field, in the table and
    in the JSON."""
    sql.execute(sql.books, "UPDATE customers SET tel = NULL, name = 'Ada King'")
    sql.execute(sql.crm, "UPDATE people SET phone = NULL WHERE email_address = ?",
                "alan@example.com")
    result = runner.invoke(app, ["sync", "crm-books", "--dry-run", "--json", "--config",
                                 str(sql.config)])
    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)["planned"]
    (ada,) = [change for change in planned if change["action"] == "M"]
    assert ada["direction"] == "a>b"
    assert ada["fields"] == [{"name": "name", "old": "Ada King", "new": "Ada Lovelace"},
                             {"name": "phone", "old": None, "new": "+44 20 7946 0001"}]
    assert all(change["fields"] == [] for change in planned if change["action"] == "A")
    shown = runner.invoke(app, ["sync", "crm-books", "--dry-run", "--config",
                                str(sql.config)], terminal_width=250)
    assert shown.exit_code == 0, shown.output
    assert "fields changed on the target" in shown.stdout
    assert "phone: ∅ → '+44 20 7946 0001'" in shown.stdout
    assert sql.customers() == [("Ada King", "ada@example.com", None)]


def test_sql_sync_both_ways_then_check_constraint_error(sql: SqlPair) -> None:
    """A real subprocess over the issue's example: first sync matches Ada by e-mail and
    copies the rest; a value the books' CHECK constraint refuses is an item error (1)."""
    setup = subprocess.run([str(SYNCLINE), "setup", "crm-books", "--config", str(sql.config)],
                           capture_output=True, text=True, timeout=60)
    assert setup.returncode == 0, setup.stderr
    assert "crm (sql, side a)" in setup.stdout
    switched = subprocess.run([str(SYNCLINE), "link", "crm-books", "--sync-all", "on",
                               "--config", str(sql.config)],
                              capture_output=True, text=True, timeout=60)
    assert switched.stdout == "crm-books takes part in Sync All\n", switched.stderr
    first = subprocess.run([str(SYNCLINE), "sync", "--json", "--config", str(sql.config)],
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)[0]["streams"]["contact"]["A"] == 2
    assert sql.people() == sql.customers()
    sql.execute(sql.crm, "UPDATE people SET phone = 'bad number' WHERE full_name = ?",
                "Alan Turing")
    second = subprocess.run([str(SYNCLINE), "sync", "crm-books", "--config", str(sql.config)],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "error" in second.stdout
    journal = subprocess.run([str(SYNCLINE), "journal", "crm-books", "--outcome", "error",
                              "--json", "--config", str(sql.config)],
                             capture_output=True, text=True, timeout=60)
    rows = json.loads(journal.stdout)
    assert len(rows) == 1
    assert rows[0]["action"] == "M"
    assert rows[0]["direction"] == "a>b"
