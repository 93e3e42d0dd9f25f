"""Issue 17, deliverable 5: payment terms under posting rules, run as a user runs them
(``syncline setup``, ``syncline sync``, ``syncline journal``, ``syncline errors``) on the
posting world of :mod:`engine.rules_support` (SQLite order system and SQL books), with a
``terms`` column on both sides; the books' column has a default ('Net 30').

A term mapped in the ``term`` xref table goes as the books' term; an unmapped one does not
block its document: the document goes without it, so the books' default applies, and the
run journals a warning, once — a full re-run sends nothing again.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from engine.rules_support import ENDPOINTS, INVOICE_RULES, Line, Order, build_world
from syncline.cli import app

D = Decimal
XREF = 'xref = { "lines.item" = "ledger_account", "lines.tax_rate" = "tax_rate" }'
RULES = INVOICE_RULES.replace(XREF, XREF[:-2] + ', term = "term" }') + """
[links.crm-books.xref.term]
NET14 = "Net 14"
"""
WARNING = ("invoice INV-7002: no term mapped for payment term 'NET45'; sent without it: the "
           "books' default terms apply")


def test_an_unmapped_term_goes_with_the_books_default_and_a_warning(tmp_path: Path) -> None:
    assert ', term = "term" }' in RULES
    orders = [Order("INV-7001", 1, [Line("WIDGET-01", D(1))]),
              Order("INV-7002", 2, [Line("GADGET-02", D(1))])]
    world = build_world(tmp_path, rules=RULES, orders=orders, setup=False)
    world.store.close()
    world.execute(world.crm, "ALTER TABLE orders ADD COLUMN terms TEXT")
    world.execute(world.crm, "UPDATE orders SET terms = CASE order_no WHEN 'INV-7001' "
                             "THEN 'NET14' ELSE 'NET45' END")
    world.execute(world.books, "ALTER TABLE invoices ADD COLUMN terms TEXT DEFAULT 'Net 30'")
    config = tmp_path / "syncline.toml"
    text = config.read_text(encoding="utf-8")
    mapped = (ENDPOINTS.replace('nc_only = "nc_only"\n', 'nc_only = "nc_only"\nterm = "terms"\n')
              .replace('total = "gross"\n[endpoints.books.streams.invoice.lines]',
                       'total = "gross"\nterm = "terms"\n[endpoints.books.streams.invoice.lines]'))
    assert mapped.count('term = "terms"') == 2
    config.write_text(text.replace(ENDPOINTS, mapped), encoding="utf-8")
    runner = CliRunner()

    def cli(*arguments: str, expect: int = 0) -> str:
        result = runner.invoke(app, [*arguments, "--config", str(config)])
        assert result.exit_code == expect, result.output
        return result.stdout

    cli("setup", "crm-books")
    first = json.loads(cli("sync", "crm-books", "--json"))
    assert (first["streams"]["invoice"]["A"], first["streams"]["invoice"]["warnings"],
            first["streams"]["invoice"]["errors"]) == (2, 1, 0)
    assert sorted(world.query(world.books, "SELECT inv_number, terms FROM invoices")) == [
        ("INV-7001", "Net 14"), ("INV-7002", "Net 30")]
    warnings = json.loads(cli("journal", "crm-books", "--outcome", "warning", "--json"))
    assert [row["message"] for row in warnings] == [WARNING]
    assert json.loads(cli("errors", "crm-books", "--json")) == []

    for scope in (["--full"], []):
        again = json.loads(cli("sync", "crm-books", *scope, "--json"))
        assert all(counts["A"] == counts["M"] == counts["D"] == 0
                   for counts in again["streams"].values()), again["streams"]
    assert len(json.loads(cli("journal", "crm-books", "--outcome", "warning", "--json"))) == 1
    with closing(sqlite3.connect(world.crm)) as db:  # the order system keeps its own terms
        assert sorted(db.execute("SELECT order_no, terms FROM orders")) == [
            ("INV-7001", "NET14"), ("INV-7002", "NET45")]
