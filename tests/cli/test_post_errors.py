"""``syncline post``, ``syncline errors``, ``syncline xref`` and ``syncline journal --outcome
warning`` on the posting world of :mod:`engine.rules_support` (two SQLite databases)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.rules_support import INVOICE_RULES, Line, Order, World, build_world
from syncline.cli import app

D = Decimal


def _world(tmp_path: Path, **options: Any) -> Iterator[World]:
    world = build_world(tmp_path, **options)
    try:
        yield world
    finally:
        world.store.close()


def _run(runner: CliRunner, world: World, *args: str) -> Any:
    return runner.invoke(app, [*args, "--config", str(world.folder / "syncline.toml")])


BLOCKED = [
    Order("INV-1001", 1, [Line("WIDGET-01", D(4)), Line("CONSULT-HR", D("2.5"))]),
    Order("INV-1002", 2, [Line("GADGET-02", D(1))]),
    Order("INV-1003", 3, [Line("CONSULT-HR", D(1))]),
    Order("INV-1004", 1, [Line("SUPPORT-HR", D(2)), Line("CONSULT-HR", D(6))]),
    Order("INV-1005", 2, [Line("SUPPORT-HR", D(1), tax_code="EX")]),
]


@pytest.fixture
def blocked(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, orders=BLOCKED)


def test_errors_are_grouped_by_cause_and_go_once_the_xref_is_added(
        runner: CliRunner, blocked: World) -> None:
    synced = _run(runner, blocked, "sync", "crm-books")
    assert synced.exit_code == 1, synced.output
    listed = _run(runner, blocked, "errors", "crm-books")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0] == "no ledger account mapped for product 'CONSULT-HR' — 3 invoices"
    assert lines[1] == "  INV-1001 line 2, INV-1003 line 1, INV-1004 line 2"
    assert lines[2] == "no tax rate mapped for tax code 'EX' — 1 invoice"
    assert lines[3] == "  INV-1005 line 1"
    document = json.loads(_run(runner, blocked, "errors", "crm-books", "--json").output)
    assert "has no blocked records" in _run(runner, blocked, "errors", "crm-books", "-s",
                                            "contact").output
    assert _run(runner, blocked, "errors", "crm-books", "-s", "bill").exit_code == 2
    assert [(group["cause"], group["count"]) for group in document] == [
        ("no ledger account mapped for product 'CONSULT-HR'", 3),
        ("no tax rate mapped for tax code 'EX'", 1)]
    # the cause as data: kind, the xref table, the value missing from it; the records' keys
    assert [(group["kind"], group["field"], group["value"], sorted(group["keys"]))
            for group in document] == [
        ("RuleRejected", "ledger_account", "CONSULT-HR", ["1", "3", "4"]),
        ("RuleRejected", "tax_rate", "EX", ["5"])]

    added = _run(runner, blocked, "xref", "crm-books", "set", "ledger_account", "CONSULT-HR",
                 "270")
    assert added.exit_code == 0, added.output
    assert "ledger_account: 'CONSULT-HR' -> '270' added" in added.output
    again = _run(runner, blocked, "sync", "crm-books")
    assert again.exit_code == 1  # the tax code is still missing
    assert sorted(blocked.books_invoices()) == ["INV-1001", "INV-1002", "INV-1003", "INV-1004"]
    left = _run(runner, blocked, "errors", "crm-books").output.splitlines()
    assert left == ["no tax rate mapped for tax code 'EX' — 1 invoice", "  INV-1005 line 1"]
    assert _run(runner, blocked, "xref", "crm-books", "set", "tax_rate", "EX",
                "EXEMPTOUTPUT").exit_code == 0
    assert _run(runner, blocked, "sync", "crm-books").exit_code == 0
    assert len(blocked.books_invoices()) == 5
    assert "crm-books has no blocked records" in _run(runner, blocked, "errors",
                                                      "crm-books").output
    quiet = json.loads(_run(runner, blocked, "sync", "crm-books", "--json").stdout)
    assert quiet["streams"]["invoice"]["A"] == 0
    assert blocked.query(blocked.books, "SELECT COUNT(*) FROM invoices") == [(5,)]


def test_xref_list_set_remove(runner: CliRunner, blocked: World) -> None:
    assert _run(runner, blocked, "xref", "crm-books", "set", "ledger_account", "WIDGET-01",
                "210").exit_code == 0
    listed = json.loads(_run(runner, blocked, "xref", "crm-books", "list", "ledger_account",
                             "--json").output)
    assert listed == [
        {"table": "ledger_account", "local": "GADGET-02", "remote": "200", "source": "config"},
        {"table": "ledger_account", "local": "SUPPORT-HR", "remote": "260", "source": "config"},
        {"table": "ledger_account", "local": "WIDGET-01", "remote": "210",
         "source": "state store"}]
    table = _run(runner, blocked, "xref", "crm-books", "list")
    assert table.exit_code == 0 and "OUTPUT2" in table.output
    removed = _run(runner, blocked, "xref", "crm-books", "remove", "ledger_account",
                   "WIDGET-01")
    assert removed.output.strip() == ("ledger_account: 'WIDGET-01' removed; the config file's "
                                      "entry '200' applies again")
    config_only = _run(runner, blocked, "xref", "crm-books", "remove", "ledger_account",
                       "GADGET-02")
    assert config_only.exit_code == 2
    assert "is set in" in config_only.output and "[links.crm-books.xref.ledger_account]" \
        in config_only.output
    wrong = _run(runner, blocked, "xref", "crm-books", "set", "ledger_acount", "A", "B")
    assert wrong.exit_code == 2
    assert "link 'crm-books' has no xref table 'ledger_acount' (did you mean " \
           "'ledger_account'?); its rules use: ledger_account, tax_rate" in wrong.output
    short = _run(runner, blocked, "xref", "crm-books", "set", "ledger_account", "A")
    assert short.exit_code == 2 and "xref set needs TABLE LOCAL REMOTE" in short.output


def test_journal_lists_rounding_warnings(runner: CliRunner, tmp_path: Path) -> None:
    orders = [Order("INV-2001", 1, [Line("WIDGET-01", D(3))], total_offset=D("-0.01")),
              Order("INV-2002", 2, [Line("GADGET-02", D(1))])]
    for world in _world(tmp_path, orders=orders):
        synced = _run(runner, world, "sync", "crm-books")
        assert synced.exit_code == 0, synced.output
        rows = json.loads(_run(runner, world, "journal", "crm-books", "--outcome", "warning",
                               "--json").output)
        assert [(row["action"], row["message"]) for row in rows] == [
            ("A", "invoice INV-2001: books total differs by 0.01; rounding line added")]
        shown = _run(runner, world, "journal", "crm-books", "--outcome", "warning")
        assert shown.exit_code == 0
        assert "warning" in shown.output and "rounding" in shown.output


SEND_ALL_OFF = INVOICE_RULES.replace(
    'status_on_create = "AUTHORISED"', 'status_on_create = "AUTHORISED"\nsend_all = false'
).replace("[links.crm-books.rules.contact]\neligible = \"categories != 'web'\"\n", "")


@pytest.fixture
def one_by_one(tmp_path: Path) -> Iterator[World]:
    orders = [Order(f"INV-50{n:02d}", 1 + n % 3, [Line("WIDGET-01", D(n))]) for n in range(1, 6)]
    orders.append(Order("INV-5006", 2, [Line("GADGET-02", D(1))], nc_only=True))
    orders.append(Order("INV-5007", 3, [Line("CONSULT-HR", D(1))]))
    yield from _world(tmp_path, orders=orders, rules=SEND_ALL_OFF)


def test_post_sends_only_the_documents_asked_for(runner: CliRunner, one_by_one: World) -> None:
    world = one_by_one
    assert _run(runner, world, "sync", "crm-books").exit_code == 0
    assert world.books_invoices() == {}
    posted = _run(runner, world, "post", "crm-books", "--stream", "invoice", "--key",
                  "INV-5002", "--key", "4", "--json")
    assert posted.exit_code == 0, posted.output
    results = json.loads(posted.stdout)
    assert [(item["document"], item["key"], item["outcome"]) for item in results] == [
        ("INV-5002", "2", "ok"), ("4", "4", "ok")]
    assert all(item["b_key"] for item in results)
    assert sorted(world.books_invoices()) == ["INV-5002", "INV-5004"]
    # posting again sends nothing twice
    again = json.loads(_run(runner, world, "post", "crm-books", "-s", "invoice", "-k",
                            "INV-5002", "--json").stdout)
    assert again[0]["outcome"] == "ok"
    assert again[0]["message"] == "already in the books: nothing to send"
    assert world.query(world.books, "SELECT COUNT(*) FROM invoices") == [(2,)]
    assert _run(runner, world, "sync", "crm-books").exit_code == 0
    assert sorted(world.books_invoices()) == ["INV-5002", "INV-5004"]


def test_post_reports_blocked_and_excluded_documents(runner: CliRunner,
                                                     one_by_one: World) -> None:
    world = one_by_one
    posted = _run(runner, world, "post", "crm-books", "--stream", "invoice", "--key",
                  "INV-5006", "--key", "INV-5007", "--json")
    assert posted.exit_code == 1
    results = {item["document"]: item for item in json.loads(posted.stdout)}
    assert results["INV-5006"]["outcome"] == "skipped"
    assert results["INV-5006"]["message"] == "invoice INV-5006: kept out of the books " \
                                             "(nc_only is set)"
    assert results["INV-5007"]["outcome"] == "error"
    assert results["INV-5007"]["message"] == "invoice INV-5007 line 1: no ledger account " \
                                             "mapped for product 'CONSULT-HR'"
    scope = world.store.scope_id("crm-books", "invoice")
    from syncline.state.rules_store import RulesStore

    assert RulesStore(world.store).requested(scope) == {"7"}  # the blocked one waits
    assert _run(runner, world, "xref", "crm-books", "set", "ledger_account", "CONSULT-HR",
                "270").exit_code == 0
    assert _run(runner, world, "sync", "crm-books").exit_code == 0
    assert sorted(world.books_invoices()) == ["INV-5007"]
    assert RulesStore(world.store).requested(scope) == set()


def test_post_marks_without_running_and_refuses_unknown_documents(
        runner: CliRunner, one_by_one: World) -> None:
    world = one_by_one
    marked = _run(runner, world, "post", "crm-books", "-s", "invoice", "-k", "INV-5001",
                  "--no-run")
    assert marked.exit_code == 0
    assert "1 invoice document(s) marked for posting" in marked.output
    assert world.books_invoices() == {}
    assert _run(runner, world, "sync", "crm-books").exit_code == 0
    assert sorted(world.books_invoices()) == ["INV-5001"]
    shown = _run(runner, world, "post", "crm-books", "-s", "invoice", "-k", "INV-5003")
    assert shown.exit_code == 0, shown.output
    assert "INV-5003" in shown.output and "ok" in shown.output
    assert sorted(world.books_invoices()) == ["INV-5001", "INV-5003"]
    unknown = _run(runner, world, "post", "crm-books", "-s", "invoice", "-k", "INV-9999")
    assert unknown.exit_code == 2
    assert "no invoice with key or number 'INV-9999' on 'crm'" in unknown.output
    no_rules = _run(runner, world, "post", "crm-books", "-s", "contact", "-k", "1")
    assert no_rules.exit_code == 2
    assert "link 'crm-books' has no posting rules for contact" in no_rules.output


def test_a_bad_rule_stops_every_command_with_file_link_and_stream(runner: CliRunner,
                                                                  tmp_path: Path) -> None:
    for _world_made in _world(tmp_path):
        path = tmp_path / "syncline.toml"
        path.write_text(path.read_text().replace("!on_hold", "!onhold"))
    result = runner.invoke(app, ["sync", "crm-books", "--config",
                                 str(tmp_path / "syncline.toml")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'syncline.toml'}: links.crm-books.rules.invoice.eligible: unknown " \
           f"field 'onhold' in the expression" in result.output
    assert "(did you mean 'on_hold'?)" in result.output


def test_grouping_by_the_causes_stored_with_each_problem() -> None:
    from syncline.engine.rules_gate import RuleRejected, rule_causes
    from syncline.journal import pending_item
    from syncline.service.error_groups import group_errors

    def blocked(key: str, problems: list[tuple[str, str, str]]) -> dict[str, object]:
        messages = [message for message, _, _ in problems]
        error = RuleRejected("; ".join(messages), stream="invoice", key=key, causes=rule_causes(
            messages, [(name, value) for _, name, value in problems], "invoice"))
        item = pending_item("a", key, error, "invoice")
        return {"stream": "invoice", "side": "a", "key": key, "attempts": 1,
                "message": item.message, "causes": list(item.causes)}

    ledger = ("invoice INV-1 line 2: no ledger account mapped for product 'X'",
              "ledger_account", "X")
    rows = [blocked("1", [ledger, ("invoice INV-1 line 3: no tax rate mapped for tax code "
                                   "'Q'", "tax_rate", "Q")]),
            blocked("2", [("invoice INV-2 line 1: no tax rate mapped for tax code 'Q'",
                           "tax_rate", "Q")]),
            {"stream": "contact", "side": "b", "key": "9", "attempts": 1,
             "message": "rejected by the books", "causes": []}]
    assert [(cause.document, cause.text) for cause in rows[0]["causes"]] == [
        ("INV-1 line 2", "no ledger account mapped for product 'X'"),
        ("INV-1 line 3", "no tax rate mapped for tax code 'Q'")]
    groups = group_errors(rows)
    assert [(g.stream, g.text, g.count, g.noun) for g in groups] == [
        ("invoice", "no tax rate mapped for tax code 'Q'", 2, "invoices"),
        ("contact", "rejected by the books", 1, "contact"),
        ("invoice", "no ledger account mapped for product 'X'", 1, "invoice")]
    assert [d["document"] for d in groups[0].documents] == ["INV-1 line 3", "INV-2 line 1"]
    assert [d["document"] for d in groups[1].documents] == ["9"]
