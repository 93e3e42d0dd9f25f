"""``python -m bench.posting_rules``: what posting rules cost per document.

Two figures:

- the pure evaluation (:meth:`syncline.engine.rules.RuleSet.evaluate`) of an invoice with
  three lines against rules with an eligibility expression (CEL), an exclusion flag, two xref
  tables, a proxy, a status on create and a totals check that adds a rounding line;
- a first sync of N invoices (default 5,000) between two memory endpoints through the real
  engine, without rules (the bulk create lane) and with them (the per-record lane the rules
  take), and the same again read incrementally (nothing to do).

Options: ``--invoices N``, ``--json`` (one JSON line).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from syncline.config import load_config
from syncline.connectors.memory import shared_store
from syncline.engine import RunRequest, SyncEngine
from syncline.engine.rules import RuleSet
from syncline.rule_types import StreamRules, TotalsRule
from syncline.state.store import StateStore

RULES = """
[links.shop-ledger.rules.invoice]
eligible = "status in ['shipped', 'finished'] && !on_hold"
exclude_flag = "nc_only"
status_on_create = "AUTHORISED"
totals = { tolerance = 0.01, rounding_account = "860" }
xref = { "lines.item" = "ledger_account", "lines.tax_rate" = "tax_rate" }
proxy = { contact = "proxy_contact" }
[links.shop-ledger.xref.ledger_account]
"TEA" = "4000"
"COFFEE" = "4010"
"CAKE" = "4020"
[links.shop-ledger.xref.tax_rate]
"S20" = "OUTPUT2"
"""

CONFIG = """\
[state]
url = "sqlite:///state.db"
[endpoints.shop]
connector = "memory"
name = "{a}"
page_size = 2000
[endpoints.shop.streams.invoice]
fields = ["number", "contact", "status", "total", "tax_total", "lines", "on_hold", "nc_only",
          "proxy_contact"]
[endpoints.ledger]
connector = "memory"
name = "{b}"
page_size = 2000
[endpoints.ledger.streams.invoice]
fields = ["number", "contact", "status", "total", "tax_total", "lines"]
[links.shop-ledger]
a = "shop"
b = "ledger"
streams = ["invoice"]
direction = "a-to-b"
"""


def invoice(number: int) -> dict[str, Any]:
    """A shipped invoice with three lines whose total is a penny off every tenth time."""
    lines = [{"item": item, "quantity": Decimal(2), "unit_price": Decimal("3.25"),
              "line_amount": Decimal("6.50"), "tax_rate": "S20", "tax_amount": Decimal("1.30")}
             for item in ("TEA", "COFFEE", "CAKE")]
    total = Decimal("23.40") + (Decimal("0.01") if number % 10 == 0 else Decimal(0))
    return {"number": f"INV-{number:06d}", "contact": "C1", "status": "shipped",
            "total": total, "tax_total": Decimal("3.90"), "lines": lines, "on_hold": False,
            "nc_only": False, "proxy_contact": "WEB" if number % 2 else None}


def pure(count: int) -> float:
    """Evaluations per second of the pure rules."""
    rules = RuleSet.compile("invoice", StreamRules(
        eligible="status in ['shipped', 'finished'] && !on_hold", exclude_flag="nc_only",
        status_on_create="AUTHORISED", totals=TotalsRule(rounding_account="860"),
        xref={"lines.item": "ledger_account", "lines.tax_rate": "tax_rate"},
        proxy={"contact": "proxy_contact"}))
    tables = {"ledger_account": {"TEA": "4000", "COFFEE": "4010", "CAKE": "4020"},
              "tax_rate": {"S20": "OUTPUT2"}}
    records = [invoice(number) for number in range(count)]
    start = time.perf_counter()
    for number, record in enumerate(records):
        rules.evaluate(record, record, key=str(number), creating=True, tables=tables)
    return count / (time.perf_counter() - start)


def engine_run(count: int, with_rules: bool) -> tuple[float, float]:
    """Seconds of a first sync and of an incremental one with nothing to do."""
    names = {"a": f"shop-{uuid.uuid4().hex}", "b": f"ledger-{uuid.uuid4().hex}"}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "syncline.toml"
        path.write_text(CONFIG.format(**names) + (RULES if with_rules else ""),
                        encoding="utf-8")
        config = load_config(path)
        shop = shared_store(names["a"])
        for number in range(count):
            shop.put("invoice", str(number), invoice(number))
        store = StateStore.open(config.resolve_url(config.state.url))
        try:
            engine = SyncEngine(config, store)
            start = time.perf_counter()
            summary = engine.run(RunRequest("shop-ledger"))
            first = time.perf_counter() - start
            created = summary.streams["invoice"].A
            assert created == count, summary.messages
            start = time.perf_counter()
            engine.run(RunRequest("shop-ledger"))
            again = time.perf_counter() - start
        finally:
            store.close()
        assert len(shared_store(names["b"]).stream("invoice")) == count
    return first, again


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.posting_rules")
    parser.add_argument("--invoices", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    evaluations = pure(args.invoices)
    plain_first, plain_again = engine_run(args.invoices, with_rules=False)
    rules_first, rules_again = engine_run(args.invoices, with_rules=True)
    figures = {
        "invoices": args.invoices,
        "pure_evaluations_per_s": round(evaluations),
        "first_sync_without_rules_s": round(plain_first, 2),
        "first_sync_with_rules_s": round(rules_first, 2),
        "rules_overhead_ms_per_invoice": round((rules_first - plain_first) * 1000
                                               / args.invoices, 3),
        "incremental_without_rules_s": round(plain_again, 2),
        "incremental_with_rules_s": round(rules_again, 2),
    }
    if args.json:
        print(json.dumps(figures))
        return
    for name, value in figures.items():
        print(f"{name:34} {value}")


if __name__ == "__main__":
    main()
