"""``syncline force``: marks now and sends with the next run, or at once with ``--now``;
its detailed log in CSV and JSON lines; usage errors; a busy link."""

from __future__ import annotations

import csv
import getpass
import json
from pathlib import Path

from typer.testing import CliRunner

from service.support import MemoryLink, memory_link
from syncline.cli import app
from syncline.service import RunLock
from syncline.service.forcelog import LOG_COLUMNS
from syncline.state.service_store import marked_count
from syncline.state.store import StateStore

from .helpers import MemoryPair, SqlPair


def _versions(pair: MemoryPair | MemoryLink) -> dict[str, str]:
    return {key: value[0] for key, value in pair.b.stream("contact").items()}


def test_marks_wait_for_the_next_run_which_writes_R_and_the_log(
        runner: CliRunner, memory: MemoryPair, tmp_path: Path) -> None:
    assert runner.invoke(app, memory.args("sync", "lr")).exit_code == 0
    before = _versions(memory)
    log = tmp_path / "logs" / "forced.csv"
    result = runner.invoke(app, memory.args("force", "lr", "--stream", "contact",
                                            "--from-key", "k2", "--log", str(log)))
    assert result.exit_code == 0, result.output
    assert "lr: marked 2 records to send from a (left): contact 2" in result.stdout
    assert "they are sent with the next run of lr" in result.stdout
    assert _versions(memory) == before  # nothing sent yet
    assert not log.exists()
    result = runner.invoke(app, memory.args("sync", "lr", "--json"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["mode"] == "forced"
    assert document["streams"]["contact"]["R"] == 2
    changed = {key for key, version in _versions(memory).items() if before[key] != version}
    assert len(changed) == 2
    with log.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(LOG_COLUMNS)
    assert sorted((row["a_key"], row["action"], row["direction"], row["outcome"],
                   row["forced"]) for row in rows) == [
        ("k2", "R", "a>b", "ok", "True"), ("k3", "R", "a>b", "ok", "True")]
    assert {row["b_key"] for row in rows} == changed
    assert {row["run_id"] for row in rows} == {str(document["run_id"])}
    again = runner.invoke(app, memory.args("sync", "lr", "--json"))
    assert json.loads(again.stdout)["streams"]["contact"]["R"] == 0


def test_now_runs_at_once_and_writes_json_lines(runner: CliRunner, memory: MemoryPair,
                                                tmp_path: Path) -> None:
    assert runner.invoke(app, memory.args("sync", "lr")).exit_code == 0
    log = tmp_path / "forced.jsonl"
    result = runner.invoke(app, memory.args("force", "lr", "--now", "--to-key", "k1",
                                            "--log", str(log), "--json"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["marked"] == 1
    assert document["streams"] == {"contact": 1}
    assert document["run"]["trigger"] == "force"
    assert document["run"]["mode"] == "forced"
    assert document["run"]["streams"]["contact"]["R"] == 1
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 1
    assert set(lines[0]) == set(LOG_COLUMNS)
    assert lines[0]["a_key"] == "k1"
    assert (lines[0]["action"], lines[0]["forced"], lines[0]["outcome"]) == ("R", True, "ok")
    assert lines[0]["run_id"] == document["run"]["run_id"]


def test_mine_selects_the_records_of_the_login_user(runner: CliRunner,
                                                    tmp_path: Path) -> None:
    pair = memory_link(tmp_path, streams=["contact", "task"])
    me = getpass.getuser()
    pair.a.put("contact", "c1", {"name": "Mine", "email": "m@x.org", "owner": me})
    pair.a.put("contact", "c2", {"name": "Other", "email": "o@x.org", "owner": "someone"})
    pair.a.put("task", "t1", {"uid": "t1", "summary": "mine too", "owner": me.upper()})
    assert runner.invoke(app, pair.args("sync", "lr")).exit_code == 0
    result = runner.invoke(app, pair.args("force", "lr", "--mine", "--now", "--json"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["streams"] == {"contact": 1, "task": 1}
    assert document["run"]["streams"]["contact"]["R"] == 1
    assert document["run"]["streams"]["task"]["R"] == 1


def test_usage_errors_touch_nothing(runner: CliRunner, memory: MemoryPair,
                                    tmp_path: Path) -> None:
    cases = [
        (["--owner", "x", "--mine"], "give --owner NAME or --mine, not both"),
        (["--log", str(tmp_path / "log.txt")], "must end in .csv"),
        (["--since", "2030-02-01", "--until", "2030-01-01"], "is after"),
        (["--stream", "invoice"], "does not sync invoice"),
        (["--due-from", "2030-01-01"], "no due date"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, memory.args("force", "lr", *extra))
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.stderr, (extra, result.stderr)
    state = memory.config.parent / "state.db"
    if state.exists():
        store = StateStore.open(f"sqlite:///{state}")
        try:
            assert marked_count(store) == 0
        finally:
            store.close()


def test_force_from_the_target_of_a_one_way_link_is_refused(runner: CliRunner,
                                                            tmp_path: Path) -> None:
    pair = memory_link(tmp_path, link_extra='direction = "a-to-b"')
    result = runner.invoke(app, pair.args("force", "lr", "--from", "b"))
    assert result.exit_code == 2
    assert "records can be forced from a only" in result.stderr


def test_now_on_a_busy_link_keeps_the_marks(runner: CliRunner, memory: MemoryPair) -> None:
    assert runner.invoke(app, memory.args("sync", "lr")).exit_code == 0
    store = StateStore.open(f"sqlite:///{memory.config.parent / 'state.db'}")
    try:
        with RunLock(store, "lr", holder="syncline serve on elsewhere"):
            result = runner.invoke(app, memory.args("force", "lr", "--now"))
            assert result.exit_code == 3, result.output
            assert "link 'lr' is busy: syncline serve on elsewhere" in result.stderr
            assert "the marks are kept" in result.stderr
            assert marked_count(store, "lr") == 3
            busy_sync = runner.invoke(app, memory.args("sync", "lr"))
            assert busy_sync.exit_code == 3
            assert "busy" in busy_sync.stderr
        result = runner.invoke(app, memory.args("sync", "lr", "--json"))
        assert json.loads(result.stdout)["streams"]["contact"]["R"] == 3
        assert marked_count(store, "lr") == 0
    finally:
        store.close()


def test_sync_selects_by_key_range_like_force(runner: CliRunner, memory: MemoryPair) -> None:
    result = runner.invoke(app, memory.args("sync", "lr", "--stream", "contact",
                                            "--from-key", "k2", "--to-key", "k2", "--json"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["streams"]["contact"]["A"] == 1
    assert [fields["email"] for _, fields, _ in memory.b.stream("contact").values()] == \
        ["p2@example.com"]


def test_force_over_sqlite_databases(runner: CliRunner, sql: SqlPair, tmp_path: Path) -> None:
    assert runner.invoke(app, ["sync", "crm-books", "--config", str(sql.config)]).exit_code == 0
    sql.execute(sql.books, "UPDATE customers SET tel = '+1 000' WHERE email = ?",
                "alan@example.com")  # out of step on b, unseen by an incremental run
    log = tmp_path / "force.csv"
    result = runner.invoke(app, ["force", "crm-books", "--from-key", "2", "--to-key", "2",
                                 "--now", "--log", str(log), "--config", str(sql.config)])
    assert result.exit_code == 0, result.output
    assert "marked 1 records to send from a (crm): contact 1" in result.stdout
    assert ("Alan Turing", "alan@example.com", "+44 20 7946 0002") in sql.customers()
    with log.open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["a_key"], row["action"], row["outcome"]) == ("2", "R", "ok")


def test_now_with_email_mails_the_detailed_log(runner: CliRunner, tmp_path: Path) -> None:
    from notify.support import smtp_server

    with smtp_server() as (port, mailbox):
        link = memory_link(tmp_path, extra=f"""
[notify.smtp]
host = "127.0.0.1"
port = {port}
sender = "syncline@example.com"
timeout = 10
""")
        for number in range(3):
            link.a.put("contact", f"k{number}", {"name": f"Contact {number}",
                                                 "email": f"c{number}@example.com"})
        args = ["--config", str(link.path)]
        assert runner.invoke(app, ["sync", "lr", *args]).exit_code == 0
        result = runner.invoke(app, ["force", "lr", "--from-key", "k1", "--now",
                                     "--email", "ops@example.com, lead@example.com", *args])
        assert result.exit_code == 0, result.output
        assert "log e-mailed to ops@example.com, lead@example.com" in result.output
    [(recipients, message)] = mailbox.messages
    assert recipients == ["ops@example.com", "lead@example.com"]
    assert "forced synchronisation of lr" in str(message["Subject"])
    body = message.get_content()
    assert "2 records" in body
    assert ",contact,R,a>b,k1," in body and ",contact,R,a>b,k2," in body
    logs = list((tmp_path / "force-logs").glob("lr-*.csv"))
    assert len(logs) == 1 and "k2" in logs[0].read_text(encoding="utf-8")


def test_email_needs_now_and_a_mail_server(runner: CliRunner, memory: MemoryPair) -> None:
    later = runner.invoke(app, memory.args("force", "lr", "--email", "ops@example.com"))
    assert later.exit_code == 2 and "--email needs --now" in later.output
    no_server = runner.invoke(app, memory.args("force", "lr", "--now", "--email",
                                               "ops@example.com"))
    assert no_server.exit_code == 2 and "[notify.smtp]" in no_server.output
    wrong = runner.invoke(app, memory.args("force", "lr", "--now", "--email", "ops"))
    assert wrong.exit_code == 2 and "'ops' is not an e-mail address" in wrong.output
    store = StateStore.open(f"sqlite:///{memory.config.parent / 'state.db'}")
    assert marked_count(store) == 0  # refused before anything was marked
    store.close()
