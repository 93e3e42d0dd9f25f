"""Posting rules through the real engine: an order system (SQLite) posting to an accounting
package (SQLite), as small stories with realistic data (see :mod:`engine.rules_support`).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.rules_support import (
    INVOICE_RULES,
    WEB_CUSTOMER,
    Line,
    Order,
    World,
    build_world,
)
from syncline.state.rules_store import RulesStore

D = Decimal


def _world(tmp_path: Path, **options: Any) -> Iterator[World]:
    world = build_world(tmp_path, **options)
    try:
        yield world
    finally:
        world.store.close()


UNPOSTED = [
    Order("INV-1001", 1, [Line("WIDGET-01", D(4)), Line("CONSULT-HR", D("2.5"))]),
    Order("INV-1002", 2, [Line("GADGET-02", D(1)), Line("SUPPORT-HR", D(3))]),
    Order("INV-1003", 3, [Line("WIDGET-01", D(10), tax_code="Z0")]),
    Order("INV-1004", 1, [Line("SUPPORT-HR", D("1.5")), Line("GADGET-02", D(2))]),
]


@pytest.fixture
def unposted(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, orders=UNPOSTED)


def test_sync_all_unposted_blocks_only_the_unmapped_product_then_posts_it_once(
        unposted: World) -> None:
    world = unposted
    first = world.sync()
    books = world.books_invoices()
    assert sorted(books) == ["INV-1002", "INV-1003", "INV-1004"]
    # mapped codes, the status on create and the customer by its books key
    assert books["INV-1002"]["state"] == "AUTHORISED"
    assert books["INV-1002"]["contact"] == "Millbrook Bakery"
    assert [(line[1], line[5], line[6]) for line in books["INV-1002"]["lines"]] == [
        ("GADGET-02", "200", "OUTPUT2"), ("SUPPORT-HR", "260", "OUTPUT2")]
    assert books["INV-1003"]["lines"][0][5:7] == ("200", "ZERORATEDOUTPUT")
    errors = world.journal("error")
    assert [row["message"] for row in errors] == [
        "invoice INV-1001 line 2: no ledger account mapped for product 'CONSULT-HR'"]
    assert first.streams["invoice"].errors == 1
    assert first.outcome.value == "error"
    pending = world.store.pending_items("crm-books")
    assert [(row["stream"], row["message"]) for row in pending] == [
        ("invoice", "invoice INV-1001 line 2: no ledger account mapped for product "
                    "'CONSULT-HR'")]

    # still unmapped: blocked again, nothing else happens
    again = world.sync()
    assert sorted(world.books_invoices()) == ["INV-1002", "INV-1003", "INV-1004"]
    assert again.streams["invoice"].A == 0
    assert again.streams["invoice"].errors == 1

    RulesStore(world.store).set_xref("crm-books", "ledger_account", "CONSULT-HR", "270")
    fixed = world.sync()
    assert fixed.streams["invoice"].A == 1
    assert fixed.outcome.value == "ok"
    books = world.books_invoices()
    assert sorted(books) == ["INV-1001", "INV-1002", "INV-1003", "INV-1004"]
    assert [line[5] for line in books["INV-1001"]["lines"]] == ["200", "270"]
    assert world.store.pending_items("crm-books") == []

    # nothing twice: the posted documents read back as echoes
    quiet = world.sync()
    assert quiet.streams["invoice"].A == quiet.streams["invoice"].M == 0
    assert world.query(world.books, "SELECT COUNT(*) FROM invoices") == [(4,)]
    full = world.sync(full=True)
    assert full.streams["invoice"].to_json() == quiet.streams["invoice"].to_json()
    created = [row for row in world.journal() if row["action"] == "A"
               and row["stream"] == "invoice" and row["outcome"] == "ok"]
    assert sorted(row["a_key"] for row in created) == ["1", "2", "3", "4"]


def test_rounding_within_tolerance_adds_a_line_and_a_warning_beyond_it_blocks(
        tmp_path: Path) -> None:
    orders = [
        Order("INV-2001", 1, [Line("WIDGET-01", D(3)), Line("GADGET-02", D(1))],
              total_offset=D("0.01")),
        Order("INV-2002", 2, [Line("SUPPORT-HR", D(2))], total_offset=D("5.00")),
        Order("INV-2003", 3, [Line("GADGET-02", D(2))]),
    ]
    for world in _world(tmp_path, orders=orders):
        summary = world.sync()
        books = world.books_invoices()
        assert sorted(books) == ["INV-2001", "INV-2003"]
        lines = books["INV-2001"]["lines"]
        assert len(lines) == 3
        assert lines[-1][0] == "Rounding"
        assert lines[-1][5] == "860"
        assert D(str(lines[-1][4])) == D("0.01")
        assert len(books["INV-2003"]["lines"]) == 1
        warnings = world.journal("warning")
        assert [row["message"] for row in warnings] == [
            "invoice INV-2001: books total differs by 0.01; rounding line added"]
        assert warnings[0]["action"] == "A"
        assert [row["message"] for row in world.journal("error")] == [
            "invoice INV-2002: books total 204.00 differs from the document total 209.00 by "
            "5.00, more than the tolerance 0.01"]
        assert summary.streams["invoice"].warnings == 1
        assert summary.streams["invoice"].errors == 1
        # the rounding line reads back as what was posted: no change, no second line
        again = world.sync()
        assert again.streams["invoice"].M == again.streams["invoice"].A == 0
        assert len(world.books_invoices()["INV-2001"]["lines"]) == 3


def test_adjustment_beyond_tolerance_when_configured(tmp_path: Path) -> None:
    rules = INVOICE_RULES.replace(
        'above = "error", rounding_account = "860"',
        'above = "adjustment", rounding_account = "860", adjustment_account = "480"')
    orders = [Order("INV-2101", 2, [Line("SUPPORT-HR", D(2))], total_offset=D("-5.00"))]
    for world in _world(tmp_path, orders=orders, rules=rules):
        world.sync()
        lines = world.books_invoices()["INV-2101"]["lines"]
        assert (lines[-1][0], lines[-1][5], D(str(lines[-1][4]))) == ("Adjustment", "480",
                                                                      D("-5.00"))
        assert [row["message"] for row in world.journal("warning")] == [
            "invoice INV-2101: books total 204.00 differs from the document total 199.00 by "
            "5.00; adjustment line added"]


def test_proxy_fifty_web_customers_post_to_one_web_customer(tmp_path: Path) -> None:
    orders = [Order(f"WEB-{number:04d}", 1000 + number, [Line("WIDGET-01", D(number % 3 + 1))],
                    bill_to=WEB_CUSTOMER) for number in range(1, 51)]
    orders.append(Order("INV-3001", 1, [Line("GADGET-02", D(1))]))
    for world in _world(tmp_path, orders=orders, web_customers=50):
        summary = world.sync()
        assert summary.outcome.value == "ok", summary.messages
        books = world.books_invoices()
        assert len(books) == 51
        assert {books[f"WEB-{n:04d}"]["contact"] for n in range(1, 51)} == {"Web Customer"}
        assert books["INV-3001"]["contact"] == "Harbour Lights Ltd"
        names = {row[0] for row in world.query(world.books, "SELECT name FROM contacts")}
        assert not any(name.startswith("Shopper") for name in names)
        assert names == {"Web Customer", "Harbour Lights Ltd", "Millbrook Bakery",
                         "Northgate Surveyors"}
        assert any("50 not eligible" in message for message in summary.messages)

        # pulling back: the books edit their Web Customer and an invoice's status
        world.execute(world.books, "UPDATE contacts SET name = 'Web Shop Customer' "
                                   "WHERE contact_id = 1")
        world.execute(world.books, "UPDATE invoices SET state = 'PAID' "
                                   "WHERE inv_number = 'WEB-0007'")
        before = world.query(world.crm, "SELECT COUNT(*) FROM customers")
        back = world.sync()
        assert back.outcome.value == "ok", back.messages
        assert world.query(world.crm, "SELECT COUNT(*) FROM customers") == before
        assert world.query(world.crm, f"SELECT name FROM customers WHERE id = {WEB_CUSTOMER}"
                           ) == [("Web Shop Customer",)]
        # the order keeps its real customer, its own status and its own codes and lines:
        # the proxy, the books' status, codes and lines are not written back (the order
        # system owns its documents; the books' state flows only into fields mapped for it)
        assert world.query(world.crm, "SELECT customer_id, status FROM orders "
                                      "WHERE order_no = 'WEB-0007'") == [(1007, "shipped")]
        assert world.query(world.crm, "SELECT product_code, tax_code FROM order_lines l "
                                      "JOIN orders o ON o.order_id = l.order_id "
                                      "WHERE order_no = 'WEB-0007'") == [("WIDGET-01", "S20")]
        for full in (False, True, True):
            settled = world.sync(full=full)
            assert settled.outcome.value == "ok", settled.messages
        assert settled.streams["invoice"].A == settled.streams["invoice"].M == 0
        assert settled.streams["contact"].A == settled.streams["contact"].M == 0
        assert len(world.books_invoices()) == 51
        assert world.query(world.crm, "SELECT COUNT(*) FROM customers") == before


def test_unshipped_and_nc_only_never_go_shipping_sends_next_run(tmp_path: Path) -> None:
    orders = [
        Order("INV-4001", 1, [Line("WIDGET-01", D(2))], status="open"),
        Order("INV-4002", 2, [Line("GADGET-02", D(1))], nc_only=True),
        Order("INV-4003", 3, [Line("SUPPORT-HR", D(1))], on_hold=True),
        Order("INV-4004", 3, [Line("SUPPORT-HR", D(2))], status="finished"),
    ]
    for world in _world(tmp_path, orders=orders):
        first = world.sync()
        assert sorted(world.books_invoices()) == ["INV-4004"]
        assert first.streams["invoice"].skipped == 3
        # quietly: no journal rows for documents that are not due
        assert [row for row in world.journal() if row["stream"] == "invoice"] == [
            row for row in world.journal("ok") if row["stream"] == "invoice"]
        assert "invoice: posting rules left out 2 not eligible, 1 kept out of the books" \
            in first.messages
        world.execute(world.crm, "UPDATE orders SET status = 'shipped' "
                                 "WHERE order_no = 'INV-4001'")
        second = world.sync()
        assert sorted(world.books_invoices()) == ["INV-4001", "INV-4004"]
        assert second.streams["invoice"].A == 1
        world.execute(world.crm, "UPDATE orders SET on_hold = 0 WHERE order_no = 'INV-4003'")
        world.sync()
        assert sorted(world.books_invoices()) == ["INV-4001", "INV-4003", "INV-4004"]
        # the NC-only order stays out, run after run, full read included
        world.execute(world.crm, "UPDATE orders SET status = 'finished' "
                                 "WHERE order_no = 'INV-4002'")
        world.sync()
        assert "INV-4002" not in world.books_invoices()


def test_send_all_off_posts_only_requested_documents(tmp_path: Path) -> None:
    rules = INVOICE_RULES.replace('status_on_create = "AUTHORISED"',
                                  'status_on_create = "AUTHORISED"\nsend_all = false')
    orders = [Order(f"INV-50{n:02d}", 1 + n % 3, [Line("WIDGET-01", D(n))])
              for n in range(1, 6)]
    for world in _world(tmp_path, orders=orders, rules=rules):
        first = world.sync()
        assert world.books_invoices() == {}
        assert "invoice: posting rules left out 5 waiting for syncline post" in first.messages
        scope = world.store.scope_id("crm-books", "invoice")
        RulesStore(world.store).request_posts(scope, ["2", "4"], "finance")
        world.sync()
        assert sorted(world.books_invoices()) == ["INV-5002", "INV-5004"]
        assert RulesStore(world.store).requested(scope) == set()
        quiet = world.sync()
        assert quiet.streams["invoice"].A == 0
        assert sorted(world.books_invoices()) == ["INV-5002", "INV-5004"]


def test_dry_run_shows_blocked_documents_and_changes_nothing(unposted: World) -> None:
    summary = unposted.sync(dry_run=True)
    assert unposted.books_invoices() == {}
    errors = [change for change in summary.planned if change.action == "error"]
    assert [change.detail for change in errors] == [
        "invoice INV-1001 line 2: no ledger account mapped for product 'CONSULT-HR'"]
    assert sum(1 for change in summary.planned
               if change.stream == "invoice" and change.action == "A") == 3


def test_posted_document_edited_locally_keeps_the_books_status(tmp_path: Path) -> None:
    orders = [Order("INV-6001", 1, [Line("WIDGET-01", D(2)), Line("SUPPORT-HR", D(1))])]
    for world in _world(tmp_path, orders=orders):
        world.sync()
        world.execute(world.books, "UPDATE invoices SET state = 'PAID'")
        paid = world.sync()
        assert paid.streams["invoice"].M == paid.streams["invoice"].conflicts == 0
        assert world.query(world.crm, "SELECT status FROM orders") == [("shipped",)]
        # the order system corrects a quantity (and its totals)
        world.execute(world.crm, "UPDATE order_lines SET qty = 3, amount = 37.50, tax = 7.50 "
                                 "WHERE product_code = 'WIDGET-01'")
        world.execute(world.crm, "UPDATE orders SET net = 122.50, vat = 24.50, gross = 147.00")
        edited = world.sync()
        assert edited.streams["invoice"].M == 1, edited.messages
        invoice = world.books_invoices()["INV-6001"]
        assert invoice["state"] == "PAID"
        assert [(line[1], D(str(line[2])), line[5], line[6]) for line in invoice["lines"]] == [
            ("WIDGET-01", D(3), "200", "OUTPUT2"), ("SUPPORT-HR", D(1), "260", "OUTPUT2")]
        for full in (True, True):
            again = world.sync(full=full)
            assert again.streams["invoice"].M == again.streams["invoice"].A == 0, \
                world.journal()[:2]


MEMORY_CONFIG = """\
[state]
url = "sqlite:///state.db"
[endpoints.shop]
connector = "memory"
name = "{a}"
[endpoints.shop.streams.invoice]
fields = ["number", "status", "total", "tax_total", "lines", "nc_only"]
[endpoints.ledger]
connector = "memory"
name = "{b}"
[endpoints.ledger.streams.invoice]
fields = ["number", "status", "total", "tax_total", "lines"]
[links.shop-ledger]
a = "shop"
b = "ledger"
streams = ["invoice"]
direction = "a-to-b"
[links.shop-ledger.rules.invoice]
exclude_flag = "nc_only"
xref = {{ "lines.item" = "ledger_account" }}
totals = {{ tolerance = 0.05, rounding_account = "860" }}
[links.shop-ledger.xref.ledger_account]
"TEA" = "4000"
"""


def test_memory_blocked_document_goes_once_fixed_and_updates_carry_warnings(
        tmp_path: Path) -> None:
    import uuid

    from syncline.config import load_config
    from syncline.connectors.memory import shared_store
    from syncline.engine import RunRequest, SyncEngine
    from syncline.state.store import StateStore

    names = {"a": f"shop-{uuid.uuid4().hex}", "b": f"ledger-{uuid.uuid4().hex}"}
    path = tmp_path / "syncline.toml"
    path.write_text(MEMORY_CONFIG.format(**names), encoding="utf-8")
    config = load_config(path)
    shop, ledger = shared_store(names["a"]), shared_store(names["b"])

    def invoice(number: str, item: str, total: str, **extra: object) -> dict[str, object]:
        return {"number": number, "status": "open", "total": D(total), "tax_total": D(0),
                "lines": [{"item": item, "quantity": D(1), "line_amount": D("10.00")}],
                **extra}

    shop.put("invoice", "s1", invoice("S-1", "TEA", "10.00"))
    shop.put("invoice", "s2", invoice("S-2", "COFFEE", "10.00"))
    shop.put("invoice", "s3", invoice("S-3", "TEA", "10.00", nc_only=True))
    store = StateStore.open(config.resolve_url(config.state.url))
    try:
        engine = SyncEngine(config, store)
        first = engine.run(RunRequest("shop-ledger"))
        assert sorted(f["number"] for _, f, _ in ledger.stream("invoice").values()) == ["S-1"]
        assert first.streams["invoice"].errors == 1
        engine.run(RunRequest("shop-ledger"))  # still blocked: tried again, not sent
        assert len(ledger.stream("invoice")) == 1
        RulesStore(store).set_xref("shop-ledger", "ledger_account", "COFFEE", "4010")
        engine.run(RunRequest("shop-ledger"))
        engine.run(RunRequest("shop-ledger"))
        posted = {f["number"]: f for _, f, _ in ledger.stream("invoice").values()}
        assert sorted(posted) == ["S-1", "S-2"]
        assert posted["S-2"]["lines"][0]["ledger_account"] == "4010"
        created = [row for row in store.journal("shop-ledger", action="A", outcome="ok")]
        assert len(created) == 2
        # the shop changes S-1's total by a few pence: the update carries a rounding line
        shop.put("invoice", "s1", invoice("S-1", "TEA", "10.03"))
        updated = engine.run(RunRequest("shop-ledger"))
        assert updated.streams["invoice"].M == 1 and updated.streams["invoice"].warnings == 1
        warnings = store.journal("shop-ledger", outcome="warning")
        assert [(row["action"], row["message"]) for row in warnings] == [
            ("M", "invoice S-1: books total differs by 0.03; rounding line added")]
        lines = {f["number"]: f for _, f, _ in ledger.stream("invoice").values()}["S-1"]["lines"]
        assert [line.get("ledger_account") for line in lines] == ["4000", "860"]
    finally:
        store.close()


def test_a_blocked_document_excluded_later_leaves_the_error_list(unposted: World) -> None:
    world = unposted
    world.sync()
    assert [row["key"] for row in world.store.pending_items("crm-books")] == ["1"]
    world.execute(world.crm, "UPDATE orders SET nc_only = 1 WHERE order_no = 'INV-1001'")
    world.sync()
    assert world.store.pending_items("crm-books") == []
    assert "INV-1001" not in world.books_invoices()


PROPERTY_CONFIG = """\
[state]
url = "sqlite:///state.db"
[endpoints.shop]
connector = "memory"
name = "{a}"
[endpoints.shop.streams.invoice]
fields = ["number", "status", "lines", "nc_only"]
[endpoints.ledger]
connector = "memory"
name = "{b}"
[endpoints.ledger.streams.invoice]
fields = ["number", "status", "lines"]
[links.shop-ledger]
a = "shop"
b = "ledger"
streams = ["invoice"]
direction = "a-to-b"
[links.shop-ledger.rules.invoice]
eligible = "status == 'shipped'"
exclude_flag = "nc_only"
xref = {{ "lines.item" = "ledger_account" }}
"""

ITEMS = ("TEA", "COFFEE", "CAKE")
operations = st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from(ITEMS), st.booleans(), st.booleans()),
    st.tuples(st.just("map"), st.sampled_from(ITEMS)),
    st.tuples(st.just("ship"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("flag"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("sync"))), max_size=14)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_rules_never_post_twice_and_lose_nothing(ops: list[tuple[Any, ...]]) -> None:
    """Random documents, mappings, shipping, flags and runs: a document is posted at most
    once, only when eligible, not excluded and with every product mapped (with its
    account); once everything is mapped, every due document is in the books."""
    import tempfile
    import uuid

    from syncline.config import load_config
    from syncline.connectors.memory import shared_store
    from syncline.engine import RunRequest, SyncEngine
    from syncline.state.store import StateStore

    names = {"a": f"shop-{uuid.uuid4().hex}", "b": f"ledger-{uuid.uuid4().hex}"}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "syncline.toml"
        path.write_text(PROPERTY_CONFIG.format(**names), encoding="utf-8")
        config = load_config(path)
        shop, ledger = shared_store(names["a"]), shared_store(names["b"])
        store = StateStore.open(config.resolve_url(config.state.url))
        rules = RulesStore(store)
        mapped: dict[str, str] = {}
        docs: dict[str, dict[str, Any]] = {}
        posted: set[str] = set()

        def sync() -> None:
            due = {key for key, fields in docs.items()
                   if key not in posted and fields["status"] == "shipped"
                   and not fields["nc_only"] and fields["lines"][0]["item"] in mapped}
            SyncEngine(config, store).run(RunRequest("shop-ledger"))
            numbers = [fields["number"] for _, fields, _ in ledger.stream("invoice").values()]
            assert len(numbers) == len(set(numbers)), "a document was posted twice"
            now_posted = {number.removeprefix("N-") for number in numbers}
            assert now_posted - posted == due
            for _, fields, _ in ledger.stream("invoice").values():
                line = fields["lines"][0]
                assert line["ledger_account"] == mapped[line["item"]]
            posted.update(now_posted)

        try:
            for op in ops:
                if op[0] == "add":
                    key = str(len(docs) + 1)
                    docs[key] = {"number": f"N-{key}", "status": "shipped" if op[3] else "open",
                                 "nc_only": op[2], "lines": [{"item": op[1]}]}
                    shop.put("invoice", key, docs[key])
                elif op[0] == "map":
                    mapped[op[1]] = f"GL-{op[1]}"
                    rules.set_xref("shop-ledger", "ledger_account", op[1], mapped[op[1]])
                elif op[0] in ("ship", "flag") and docs:
                    key = str(op[1] % len(docs) + 1)
                    if op[0] == "ship":
                        docs[key]["status"] = "shipped"
                    else:
                        docs[key]["nc_only"] = not docs[key]["nc_only"]
                    shop.put("invoice", key, docs[key])
                elif op[0] == "sync":
                    sync()
            for item in ITEMS:
                mapped[item] = f"GL-{item}"
                rules.set_xref("shop-ledger", "ledger_account", item, mapped[item])
            sync()
            sync()
            assert posted >= {key for key, fields in docs.items()
                              if fields["status"] == "shipped" and not fields["nc_only"]}
        finally:
            store.close()


def test_an_invoice_raised_in_the_books_comes_over_with_local_tax_codes(
        tmp_path: Path) -> None:
    for world in _world(tmp_path):
        world.sync()
        world.execute(world.books, "INSERT INTO invoices VALUES (50, 'BK-0001', 1, "
                                   "'2026-11-03', 'GBP', 'AUTHORISED', 25.00, 5.00, 30.00)")
        world.execute(world.books, "INSERT INTO invoice_lines (inv_id, pos, text, item_code, "
                                   "qty, price, amount, account, tax_type, tax) VALUES (50, 1, "
                                   "'Widget, blue', 'WIDGET-01', 2, 12.50, 25.00, '200', "
                                   "'OUTPUT2', 5.00)")
        pulled = world.sync()
        assert pulled.streams["invoice"].A == 1, pulled.messages
        assert world.query(world.crm, "SELECT o.order_no, o.customer_id, l.product_code, "
                                      "l.tax_code FROM orders o JOIN order_lines l "
                                      "ON l.order_id = o.order_id") == [
            ("BK-0001", WEB_CUSTOMER, "WIDGET-01", "S20")]
        for full in (False, True, True):
            world.sync(full=full)
        settled = world.sync(full=True)
        assert settled.streams["invoice"].to_json()["A"] == 0
        assert settled.streams["invoice"].M == 0
        assert world.query(world.books, "SELECT tax_type FROM invoice_lines WHERE inv_id = 50"
                           ) == [("OUTPUT2",)]
