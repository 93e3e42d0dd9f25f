"""``syncline demo`` end to end: two databases, two syncs, a conflict, a delete, and both
databases holding the same records afterwards."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from syncline.cli import app
from syncline.demo import GROUPWARE_LINKS, Demo
from syncline.formats.icalendar import calendar_fields, component_kind, parse_calendar
from syncline.formats.vcard import card_fields, parse_vcard

SYNCLINE = Path(sys.executable).with_name("syncline")


def _rows(path: Path, query: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return [tuple(row) for row in db.execute(query)]
    finally:
        db.close()


def _assert_in_step(folder: Path) -> None:
    crm, books = folder / "crm.db", folder / "books.db"
    people = _rows(crm, "SELECT full_name, email_address, phone, city, country FROM people "
                        "ORDER BY email_address")
    customers = _rows(books, "SELECT name, email, tel, town, country_code FROM customers "
                             "ORDER BY email")
    assert people == customers
    assert len(people) == 160 + 8 + 1 + 1 - 1  # crm + books' own + one new each - deleted
    products = _rows(crm, "SELECT sku, name, list_price FROM products ORDER BY sku")
    items = _rows(books, "SELECT item_code, title, sales_price FROM stock_items ORDER BY "
                         "item_code")
    assert [(c, n, Decimal(str(p))) for c, n, p in products] == \
        [(c, n, Decimal(str(p))) for c, n, p in items]
    assert len(products) == 30 + 4
    organisations = _rows(crm, "SELECT org_number, name FROM organisations ORDER BY 1")
    assert organisations == _rows(books, "SELECT reg_no, comp_name FROM companies ORDER BY 1")
    invoices = _rows(crm, "SELECT invoice_no, (SELECT count(*) FROM invoice_lines l WHERE "
                          "l.invoice_id = i.invoice_id) FROM invoices i ORDER BY 1")
    assert invoices == _rows(books, "SELECT inv_number, (SELECT count(*) FROM "
                                    "sales_invoice_lines l WHERE l.inv_id = i.inv_id) FROM "
                                    "sales_invoices i ORDER BY 1")
    assert len(invoices) == 80 + 6 + 1


def _assert_groupware(folder: Path) -> None:
    """The groupware folders hold the CRM's people, appointments and tasks, one file each."""
    crm = folder / "crm.db"
    cards = sorted((folder / "groupware" / "contacts").glob("*.vcf"))
    people = _rows(crm, "SELECT email_address, full_name, phone, mobile, job_title FROM "
                        "people ORDER BY email_address")
    found = []
    for path in cards:
        fields = card_fields(parse_vcard(path.read_text(encoding="utf-8"), source=str(path)),
                             "contact")
        found.append((fields["email"], fields["name"], fields["phone"], fields["mobile"],
                      fields["title"]))
    assert sorted(found, key=lambda row: str(row[0])) == people
    for name, stream, table, column in (("calendar", "event", "appointments", "subject"),
                                        ("tasks", "task", "tasks", "title")):
        items = sorted((folder / "groupware" / name).glob("*.ics"))
        summaries = []
        for path in items:
            calendar = parse_calendar(path.read_text(encoding="utf-8"), source=str(path))
            assert component_kind(calendar) == stream
            summaries.append(calendar_fields(calendar, stream)["summary"])
        assert sorted(summaries) == [row[0] for row in _rows(
            crm, f"SELECT {column} FROM {table} ORDER BY {column}")]
        assert summaries


def test_demo_runs_end_to_end_in_a_few_seconds(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    started = time.monotonic()
    result = subprocess.run([str(SYNCLINE), "demo", str(folder)], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "COLUMNS": "120"})
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 30, f"the demo took {elapsed:.1f}s"
    out = result.stdout
    for step in ("1. two systems with sample data", "2. setup", "3. first sync",
                 "4. people change both systems", "5. second sync", "6. what happened"):
        assert step in out
    assert "crm-books: run 1, incremental, ok" in out
    assert ("already on both sides, paired instead of created: organisation 12 (by number), "
            "contact 12 (by email), item 15 (by code)") in out
    assert "crm-books: run 2, incremental, ok" in out
    assert "D deleted" in out and "crm → books" in out
    assert "conflict on contact crm:5 / books:5" in out
    assert "the journal says: conflict (changed on both sides): newest (b) wins" in out
    assert "now crm has +44 20 7946 0222 and books has +44 20 7946 0222" in out
    assert f"syncline --config {folder}/syncline.toml status" in out
    assert f"syncline --config {folder}/syncline.toml journal crm-books --run 2" in out
    assert "crm-books contact: reading" in result.stderr  # not a terminal: log lines
    assert "7. groupware" in out
    assert f"crm-contacts: 169 contact files in {folder}/groupware/contacts" in out
    assert f"crm-calendar: 24 event files in {folder}/groupware/calendar" in out
    assert f"crm-tasks: 16 task files in {folder}/groupware/tasks" in out
    _assert_in_step(folder)
    _assert_groupware(folder)
    status = subprocess.run([str(SYNCLINE), "--config", str(folder / "syncline.toml"),
                             "status", "crm-books", "--json"], capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 0, status.stderr
    assert '"run_id": 2' in status.stdout


def test_demo_twice_in_the_same_folder_rebuilds_it(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    first = runner.invoke(app, ["demo", str(folder)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["demo", str(folder)])
    assert second.exit_code == 0, second.output
    assert "crm-books: run 1, incremental, ok" in second.stdout  # a fresh state store
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "keep me"
    _assert_in_step(folder)
    _assert_groupware(folder)  # the first demo's files are gone, not doubled


def test_demo_takes_a_folder_not_a_config(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["--config", str(tmp_path / "x.toml"), "demo",
                                 str(tmp_path / "demo")])
    assert result.exit_code == 2
    assert "give the folder instead of --config" in result.stderr
    assert not (tmp_path / "demo").exists()


def test_demo_steps_one_by_one(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "d")
    assert demo.prepare() == []
    sizes = demo.build()
    assert sizes["crm"]["people"] == 160
    assert sizes["books"]["customers"] == 20
    demo.write_config()
    setup = demo.setup()
    assert set(setup) == {"crm", "books"}
    assert any("trigger" in line for line in setup["crm"])
    first = demo.sync()
    assert first.outcome.value == "ok"
    assert first.streams["contact"].A == 148 + 8  # 12 were paired by e-mail
    assert demo.paired(first) == {"organisation": (12, ("number",)),
                                  "contact": (12, ("email",)), "item": (15, ("code",)),
                                  "invoice": (0, ("number",))}
    report = demo.change_both_sides()
    assert {edit.endpoint for edit in report.edits} == {"crm", "books"}
    second = demo.sync()
    assert second.run_id is not None
    assert second.streams["contact"].conflicts == 1
    (story,) = demo.conflicts(second.run_id)
    assert story.case is not None
    assert story.crm_now == story.books_now == report.conflict.books_value
    counts = demo.journal_counts(second.run_id)
    assert counts[("D", "a>b", "ok")] == 1
    assert counts[("A", "b>a", "ok")] == 2  # the new customer and the new invoice
    created = {}
    for link in GROUPWARE_LINKS:
        assert "crm-pim" in demo.setup(link)
        summary = demo.sync(link_name=link)
        assert summary.outcome.value == "ok", summary.messages
        ((stream, stream_counts),) = summary.streams.items()
        created[stream] = stream_counts.A
    assert created == {"contact": 169, "event": 24, "task": 16}
    assert [(found.link, found.files) for found in demo.groupware()] == [
        ("crm-contacts", 169), ("crm-calendar", 24), ("crm-tasks", 16)]
    _assert_groupware(demo.folder)
    for link in GROUPWARE_LINKS:  # nothing changed: nothing travels
        again = demo.sync(link_name=link)
        assert all(c.A == c.M == c.D == 0 for c in again.streams.values()), link
    # a contacts application edits a card in the folder: the change reaches the CRM
    card = next(path for path in (demo.folder / "groupware" / "contacts").glob("*.vcf")
                if "TITLE:" in path.read_text(encoding="utf-8"))
    text = card.read_text(encoding="utf-8")
    email = card_fields(parse_vcard(text, source=str(card)), "contact")["email"]
    title_line = next(line for line in text.splitlines() if line.startswith("TITLE:"))
    card.write_text(text.replace(title_line, "TITLE:Head of Purchasing"), encoding="utf-8")
    back = demo.sync(link_name="crm-contacts")
    assert back.streams["contact"].M == 1
    assert _rows(demo.crm, f"SELECT job_title FROM people WHERE email_address = '{email}'") \
        == [("Head of Purchasing",)]
    assert len(demo.prepare()) >= 5
    assert not (demo.folder / "groupware").exists()
