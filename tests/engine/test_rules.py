"""Posting rules: the config section (checked, with errors naming file, link, stream and
problem), the pure evaluation (eligibility, exclusion, send all, xref, proxy, totals, status
on create) with hypothesis properties, and the rules' rows in the state store."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.config import parse_config
from syncline.engine.rules import (
    RuleSet,
    VerdictKind,
    books_total,
    document_label,
    localise,
    owned_fields,
    reverse_fields,
)
from syncline.errors import ConfigError
from syncline.rule_types import AboveTolerance, StreamRules, TotalsRule
from syncline.state.rules_store import RulesStore
from syncline.state.store import StateStore

D = Decimal


# -- config ----------------------------------------------------------------------------------
def _raw(rules: dict[str, Any], xref: dict[str, Any] | None = None) -> dict[str, Any]:
    link: dict[str, Any] = {"a": "left", "b": "right", "streams": ["contact", "invoice"],
                            "rules": rules}
    if xref is not None:
        link["xref"] = xref
    return {"endpoints": {"left": {"connector": "memory"}, "right": {"connector": "memory"}},
            "links": {"crm-books": link}}


def _config_error(rules: dict[str, Any], xref: dict[str, Any] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(_raw(rules, xref), base_dir=Path("."), source="/etc/syncline.toml")
    return str(caught.value)


def test_a_full_rules_section_is_accepted() -> None:
    config = parse_config(_raw({"invoice": {
        "eligible": "status in ['shipped', 'finished'] && !on_hold",
        "exclude_flag": "nc_only", "send_all": False, "status_on_create": "AUTHORISED",
        "totals": {"tolerance": 0.02, "above": "adjustment", "rounding_account": "860"},
        "xref": {"lines.item": "ledger_account", "lines.tax_rate": "tax_rate"},
        "proxy": {"contact": "proxy_contact"}}},
        {"ledger_account": {"WIDGET-01": "200"}}), base_dir=Path("."))
    rules = config.links["crm-books"].rules["invoice"]
    # the config holds the plain values the engine evaluates, not its pydantic settings
    assert type(rules) is StreamRules and type(rules.totals) is TotalsRule
    assert rules.send_all is False
    assert rules.totals is not None and rules.totals.tolerance == D("0.02")
    assert config.links["crm-books"].xref == {"ledger_account": {"WIDGET-01": "200"}}


@pytest.mark.parametrize(("rules", "message"), [
    ({"invoice": {"eligible": "status == 'shipped' && !on_hodl"}},
     "/etc/syncline.toml: links.crm-books.rules.invoice.eligible: unknown field 'on_hodl' in "
     "the expression \"status == 'shipped' && !on_hodl\" (did you mean 'on_hold'?)"),
    ({"invoice": {"eligible": "status in ['shipped'"}},
     "/etc/syncline.toml: links.crm-books.rules.invoice.eligible: the expression "
     "\"status in ['shipped'\" is not valid CEL"),
    ({"invoce": {"send_all": True}},
     "/etc/syncline.toml: links.crm-books.rules.invoce: 'invoce' is not one of the link's "
     "streams (did you mean 'invoice'?); its streams: contact, invoice"),
    ({"invoice": {"send_al": False}},
     "/etc/syncline.toml: links.crm-books.rules.invoice.send_al: unknown setting 'send_al' "
     "(did you mean 'send_all'?); allowed: eligible, exclude_flag, send_all, "
     "status_on_create, totals, xref, proxy"),
    ({"invoice": {"totals": {"tolerance": 0.01}}},
     "/etc/syncline.toml: links.crm-books.rules.invoice.totals.rounding_account: is required "
     "but missing"),
    ({"invoice": {"totals": {"rounding_account": "860", "toleranse": 1}}},
     "links.crm-books.rules.invoice.totals.toleranse: unknown setting 'toleranse' (did you "
     "mean 'tolerance'?); allowed: tolerance, above, rounding_account, adjustment_account"),
    ({"invoice": {"totals": {"rounding_account": "860", "tolerance": -1}}},
     "links.crm-books.rules.invoice.totals.tolerance: Input should be greater than or equal "
     "to 0 (got -1)"),
    ({"invoice": {"totals": {"rounding_account": "860", "above": "adjust"}}},
     "links.crm-books.rules.invoice.totals.above: Input should be 'error' or 'adjustment' "
     "(got 'adjust'; did you mean 'adjustment'?)"),
    ({"invoice": {"exclude_flag": "nc"}},
     "links.crm-books.rules.invoice.exclude_flag: unknown invoice field 'nc' in exclude_flag"),
    ({"invoice": {"xref": {"lines.product": "ledger_account"}}},
     "links.crm-books.rules.invoice.xref: unknown invoice line field 'product' in xref "
     "'lines.product'"),
    ({"invoice": {"xref": {"lines.item": "gl_account"}}},
     "links.crm-books.rules.invoice.xref: unknown invoice line field 'gl_account' in xref "
     "target of 'lines.item' 'lines.gl_account'"),
    ({"invoice": {"proxy": {"lines.item": "proxy_contact"}}},
     "links.crm-books.rules.invoice.proxy: proxy 'lines.item' = 'proxy_contact': lines.item "
     "names an item, proxy_contact a contact; both must name the same kind of record"),
    ({"invoice": {"proxy": {"contact": "lines.proxy_item"}}},
     "links.crm-books.rules.invoice.proxy: proxy 'contact' = 'lines.proxy_item': a document "
     "field cannot be proxied by a line field"),
    ({"invoice": {"proxy": {"number": "reference"}}},
     "links.crm-books.rules.invoice.proxy: proxy 'number': only references to other records "
     "(contact, vendor, item...) can be proxied; number is not one"),
    ({"invoice": {"proxy": {"lines.item": "lines.proxy_itm"}}},
     "links.crm-books.rules.invoice.proxy: unknown invoice line field 'proxy_itm' in proxy of "
     "'lines.item' 'lines.proxy_itm' (did you mean 'proxy_item'?)"),
    ({"contact": {"totals": {"rounding_account": "860"}}},
     "links.crm-books.rules.contact.totals: a totals check needs a document with lines; "
     "contact has none"),
    ({"invoice": {"eligible": "  "}},
     "links.crm-books.rules.invoice.eligible: must not be empty"),
])
def test_bad_rules_name_file_link_stream_and_problem(rules: dict[str, Any], message: str) -> None:
    assert message in _config_error(rules)


def test_an_xref_table_no_rule_uses_is_a_config_error() -> None:
    text = _config_error({"invoice": {"xref": {"lines.item": "ledger_account"}}},
                         {"ledger_acount": {"A": "1"}})
    assert "links.crm-books.xref.ledger_acount: xref table 'ledger_acount' is used by no rule " \
           "(did you mean 'ledger_account'?)" in text


def test_macro_variables_are_not_taken_for_fields() -> None:
    parse_config(_raw({"invoice": {
        "eligible": "lines.all(l, l.quantity > 0) && lines.exists(x, x.item == 'A')"}}),
        base_dir=Path("."))


# -- evaluation ------------------------------------------------------------------------------
def _rules(**settings: Any) -> RuleSet:
    return RuleSet.compile("invoice", StreamRules(**settings))


def _invoice(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "number": "INV-1001", "contact": "7", "status": "shipped", "on_hold": False,
        "nc_only": False, "total": D("60.00"), "tax_total": D("10.00"),
        "lines": [{"item": "WIDGET-01", "quantity": D(2), "unit_price": D("12.50"),
                   "line_amount": D("25.00"), "tax_rate": "S20"},
                  {"item": "CONSULT-HR", "quantity": D(1), "unit_price": D("25.00"),
                   "line_amount": D("25.00"), "tax_rate": "S20"}]}
    base.update(fields)
    return base


ELIGIBLE = "status in ['shipped', 'finished'] && !on_hold"


@pytest.mark.parametrize(("fields", "kind", "message"), [
    ({}, VerdictKind.OK, ""),
    ({"status": "open"}, VerdictKind.NOT_ELIGIBLE,
     f"invoice INV-1001: not eligible ({ELIGIBLE} is false)"),
    ({"on_hold": True}, VerdictKind.NOT_ELIGIBLE,
     f"invoice INV-1001: not eligible ({ELIGIBLE} is false)"),
    ({"on_hold": None}, VerdictKind.OK, ""),  # an empty flag is false
    ({"nc_only": True, "status": "open"}, VerdictKind.EXCLUDED,
     "invoice INV-1001: kept out of the books (nc_only is set)"),
    ({"status": None}, VerdictKind.NOT_ELIGIBLE,
     f"invoice INV-1001: not eligible ({ELIGIBLE} is false)"),
])
def test_eligibility_and_exclusion(fields: dict[str, Any], kind: VerdictKind,
                                   message: str) -> None:
    rules = _rules(eligible=ELIGIBLE, exclude_flag="nc_only")
    record = _invoice(**fields)
    verdict = rules.evaluate(record, record, key="1", creating=True)
    assert (verdict.kind, verdict.message) == (kind, message)
    assert verdict.sends is (kind is VerdictKind.OK)


def test_gates_apply_to_creates_only() -> None:
    rules = _rules(eligible=ELIGIBLE, exclude_flag="nc_only", send_all=False)
    record = _invoice(status="open", nc_only=True)
    assert rules.evaluate(record, record, key="1", creating=False).kind is VerdictKind.OK


def test_an_expression_that_fails_at_run_time_blocks_with_its_reason() -> None:
    rules = _rules(eligible="total > 100")
    record = _invoice(total="lots")
    verdict = rules.evaluate(record, record, key="1", creating=True)
    assert verdict.kind is VerdictKind.ERROR
    assert verdict.message.startswith("invoice INV-1001: the eligibility rule 'total > 100' "
                                      "cannot be evaluated: ")
    not_bool = _rules(eligible="status")
    verdict = not_bool.evaluate(record, record, key="1", creating=True)
    assert verdict.message == "invoice INV-1001: the eligibility rule 'status' gave 'shipped', " \
                              "not true or false"


def test_expressions_see_dates_as_iso_text_and_lines_as_maps() -> None:
    from datetime import date

    rules = _rules(eligible="date >= '2026-01-01' && lines.exists(l, l.item == 'CONSULT-HR')"
                            " && total > 50")
    record = _invoice(date=date(2026, 3, 1))
    assert rules.evaluate(record, record, key="1", creating=True).kind is VerdictKind.OK
    record = _invoice(date=date(2025, 12, 31))
    assert rules.evaluate(record, record, key="1", creating=True).kind \
        is VerdictKind.NOT_ELIGIBLE


def test_an_expression_sees_the_fields_it_names_and_only_those() -> None:
    """The activation holds each field the expression names (a field the record lacks as
    null, an empty boolean as false), not every field of the stream."""
    rules = _rules(eligible="reference == null && !on_hold && status == 'shipped'")
    assert {name for name, _ in rules.named_fields} == {"reference", "on_hold", "status"}
    record = _invoice(on_hold=None)
    record.pop("reference", None)
    assert rules.evaluate(record, record, key="1", creating=True).kind is VerdictKind.OK
    assert rules._activation(record) == {"reference": None, "on_hold": False, "status": "shipped"}


def test_send_all_off_waits_for_a_post_request() -> None:
    rules = _rules(send_all=False)
    record = _invoice()
    waiting = rules.evaluate(record, record, key="1", creating=True)
    assert waiting.kind is VerdictKind.AWAITING_POST and waiting.skipped
    assert waiting.message == "invoice INV-1001: waits to be posted (send_all is off: " \
                              "syncline post)"
    assert rules.evaluate(record, record, key="1", creating=True, requested=True).sends


def test_xref_maps_codes_and_names_every_missing_entry() -> None:
    rules = _rules(xref={"lines.item": "ledger_account", "lines.tax_rate": "tax_rate"})
    record = _invoice()
    original = copy.deepcopy(record)
    tables = {"ledger_account": {"WIDGET-01": "200"}, "tax_rate": {"S20": "OUTPUT2"}}
    verdict = rules.evaluate(record, record, key="1", creating=True, tables=tables)
    assert verdict.kind is VerdictKind.ERROR
    assert verdict.messages == (
        "invoice INV-1001 line 2: no ledger account mapped for product 'CONSULT-HR'",)
    assert record == original  # inputs are never changed
    tables["ledger_account"]["CONSULT-HR"] = "270"
    verdict = rules.evaluate(record, record, key="1", creating=True, tables=tables)
    assert verdict.fields is not None
    assert [(line["ledger_account"], line["tax_rate"]) for line in verdict.fields["lines"]] == [
        ("200", "OUTPUT2"), ("270", "OUTPUT2")]
    assert record == original
    both_missing = rules.evaluate(record, record, key="1", creating=True, tables={})
    assert len(both_missing.messages) == 4
    assert both_missing.messages[2] == "invoice INV-1001 line 1: no tax rate mapped for tax " \
                                       "code 'S20'"


def test_head_xref_and_a_document_without_number_named_by_key() -> None:
    rules = _rules(xref={"currency": "currency"})
    record = _invoice(number=None, currency="STG")
    verdict = rules.evaluate(record, record, key="42", creating=True)
    assert verdict.message == "invoice 42: no currency mapped for currency 'STG'"
    verdict = rules.evaluate(record, record, key="42", creating=True,
                             tables={"currency": {"STG": "GBP"}})
    assert verdict.fields is not None and verdict.fields["currency"] == "GBP"


def test_item_proxies_per_line_and_per_document_and_vendor_proxies() -> None:
    """Seed 004: customers, vendors and items can all be posted under a proxy record; the
    xref of the item then looks up the proxy item."""
    per_line = _rules(proxy={"lines.item": "lines.proxy_item"},
                      xref={"lines.item": "ledger_account"})
    web = _invoice()
    web["lines"][1]["proxy_item"] = "SERVICES"
    verdict = per_line.evaluate(web, web, key="1", creating=True,
                                tables={"ledger_account": {"WIDGET-01": "200",
                                                           "SERVICES": "260"}})
    assert verdict.kind is VerdictKind.OK, verdict.messages
    assert verdict.fields is not None
    assert [(line["item"], line["ledger_account"]) for line in verdict.fields["lines"]] == [
        ("WIDGET-01", "200"), ("SERVICES", "260")]
    assert web["lines"][1]["item"] == "CONSULT-HR"  # the record itself is not changed
    # the write may leave the a-only proxy field out of its lines: the record's line says
    write = {**web, "lines": [{k: v for k, v in line.items() if k != "proxy_item"}
                              for line in web["lines"]]}
    verdict = per_line.evaluate(web, write, key="1", creating=True,
                                tables={"ledger_account": {"WIDGET-01": "200",
                                                           "SERVICES": "260"}})
    assert verdict.fields is not None and verdict.fields["lines"][1]["item"] == "SERVICES"
    whole = _rules(proxy={"lines.item": "proxy_item"})
    verdict = whole.evaluate(_invoice(proxy_item="WEBSALES"), _invoice(), key="2",
                             creating=True)
    assert verdict.fields is not None
    assert [line["item"] for line in verdict.fields["lines"]] == ["WEBSALES", "WEBSALES"]
    assert owned_fields(whole.rules) == {"lines"}
    bills = RuleSet.compile("bill", StreamRules(proxy={"vendor": "proxy_vendor"}))
    bill = {"number": "B-1", "vendor": "v7", "proxy_vendor": "v1", "lines": []}
    verdict = bills.evaluate(bill, bill, key="b1", creating=True)
    assert verdict.fields is not None and verdict.fields["vendor"] == "v1"
    parse_config({"endpoints": {"left": {"connector": "memory"},
                                "right": {"connector": "memory"}},
                  "links": {"crm-books": {"a": "left", "b": "right",
                                          "streams": ["vendor", "bill", "invoice"],
                                          "rules": {"bill": {"proxy": {
                                              "vendor": "proxy_vendor",
                                              "lines.item": "lines.proxy_item"}}}}}},
                 base_dir=Path("."))


def test_proxy_replaces_the_reference_only_when_named() -> None:
    rules = _rules(proxy={"contact": "proxy_contact"})
    web = _invoice(proxy_contact="900")
    write = {name: web[name] for name in ("number", "contact", "lines")}
    verdict = rules.evaluate(web, write, key="1", creating=True)
    assert verdict.fields is not None and verdict.fields["contact"] == "900"
    assert "proxy_contact" not in verdict.fields
    trade = _invoice()
    verdict = rules.evaluate(trade, trade, key="2", creating=True)
    assert verdict.fields is not None and verdict.fields["contact"] == "7"


def test_status_on_create_and_on_update() -> None:
    rules = _rules(status_on_create="AUTHORISED")
    record = _invoice()
    created = rules.evaluate(record, record, key="1", creating=True)
    assert created.fields is not None and created.fields["status"] == "AUTHORISED"
    updated = rules.evaluate(record, record, key="1", creating=False)
    assert updated.fields is not None and "status" not in updated.fields
    assert updated.assumed == {"status": "AUTHORISED"}


def test_totals_rounding_line_warning_and_blocking() -> None:
    rules = _rules(totals=TotalsRule(rounding_account="860"))
    exact = _invoice()
    assert rules.evaluate(exact, exact, key="1", creating=True).kind is VerdictKind.OK
    off_by_a_cent = _invoice(total=D("60.01"))
    verdict = rules.evaluate(off_by_a_cent, off_by_a_cent, key="1", creating=True)
    assert verdict.kind is VerdictKind.WARNING
    assert verdict.message == "invoice INV-1001: books total differs by 0.01; rounding line added"
    assert verdict.fields is not None
    assert verdict.fields["lines"][-1] == {"description": "Rounding", "quantity": D(1),
                                           "unit_price": D("0.01"), "line_amount": D("0.01"),
                                           "ledger_account": "860"}
    off_by_five = _invoice(total=D("55.00"))
    verdict = rules.evaluate(off_by_five, off_by_five, key="1", creating=True)
    assert verdict.kind is VerdictKind.ERROR
    assert verdict.message == "invoice INV-1001: books total 60.00 differs from the document " \
                              "total 55.00 by 5.00, more than the tolerance 0.01"


def test_books_total_from_lines_and_taxes() -> None:
    lines: list[dict[str, Any]] = [{"quantity": D(3), "unit_price": D("0.333")},
                                   {"line_amount": D("10")}]
    assert books_total(lines, D("2.00")) == D("1.00") + D("10") + D("2.00")
    lines[0]["tax_amount"] = D("0.20")
    assert books_total(lines, D("2.00")) == D("1.00") + D("10") + D("0.20")
    assert books_total([], None) == 0


def test_labels_and_reverse_fields() -> None:
    assert document_label("invoice", "17", {"number": "INV-9"}) == "INV-9"
    assert document_label("invoice", "17", {"number": ""}) == "17"
    rules = StreamRules(proxy={"contact": "proxy_contact"},
                        xref={"lines.item": "ledger_account", "currency": "currency"})
    assert owned_fields(rules) == {"contact", "lines", "currency"}
    assert reverse_fields(rules, {"contact": "1", "lines": [], "status": "PAID",
                                  "currency": "GBP"}) == {"status": "PAID"}
    plain = StreamRules()
    fields = {"contact": "1"}
    assert reverse_fields(plain, fields) is fields


def test_localise_turns_in_place_codes_back() -> None:
    rules = StreamRules(xref={"lines.tax_rate": "tax_rate", "lines.item": "ledger_account",
                              "currency": "currency"})
    tables = {"tax_rate": {"S20": "OUTPUT2", "Z0": "ZERO", "Z1": "ZERO"},
              "ledger_account": {"TEA": "4000"}, "currency": {"STG": "GBP"}}
    fields = {"currency": "GBP", "lines": [
        {"tax_rate": "OUTPUT2", "item": "4000"}, {"tax_rate": "ZERO"}, {"tax_rate": "NEW"}]}
    original = copy.deepcopy(fields)
    assert localise(rules, fields, tables) == {"currency": "STG", "lines": [
        {"tax_rate": "S20", "item": "4000"}, {"tax_rate": "ZERO"}, {"tax_rate": "NEW"}]}
    assert fields == original
    assert localise(StreamRules(), fields, tables) == fields


# -- properties ------------------------------------------------------------------------------
money = st.decimals(min_value=D("-500"), max_value=D("500"), places=2, allow_nan=False,
                    allow_infinity=False)
line_strategy = st.fixed_dictionaries({
    "item": st.sampled_from(["WIDGET-01", "GADGET-02", "SUPPORT-HR"]),
    "line_amount": money, "tax_amount": st.one_of(st.none(), money)})


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(line_strategy, min_size=1, max_size=6), offset=money,
       tolerance=st.sampled_from([D(0), D("0.01"), D("0.05"), D("1.00")]),
       adjust=st.booleans())
def test_totals_property(lines: list[dict[str, Any]], offset: Decimal, tolerance: Decimal,
                         adjust: bool) -> None:
    """After the rules, the books total of what is sent equals the document's total, or the
    document is blocked exactly when the difference exceeds the tolerance (above = error)."""
    computed = books_total(lines, None)
    record = {"number": "INV-1", "total": computed + offset, "lines": lines}
    original = copy.deepcopy(record)
    rules = _rules(totals=TotalsRule(tolerance=tolerance, rounding_account="860",
                                     above=AboveTolerance.ADJUSTMENT if adjust
                                     else AboveTolerance.ERROR))
    verdict = rules.evaluate(record, record, key="1", creating=True)
    assert record == original
    if offset == 0:
        assert verdict.kind is VerdictKind.OK
        assert verdict.fields is not None and len(verdict.fields["lines"]) == len(lines)
        return
    if abs(offset) > tolerance and not adjust:
        assert verdict.kind is VerdictKind.ERROR
        return
    assert verdict.kind is VerdictKind.WARNING
    assert verdict.fields is not None
    assert len(verdict.fields["lines"]) == len(lines) + 1
    assert books_total(verdict.fields["lines"], None) == record["total"]


@settings(max_examples=100, deadline=None)
@given(items=st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, max_size=8),
       mapped=st.sets(st.sampled_from(["A", "B", "C", "D"])))
def test_xref_property(items: list[str], mapped: set[str]) -> None:
    """A document goes exactly when every line's product is mapped, each line then carrying
    its product's account; otherwise each unmapped line is named."""
    table = {code: f"GL-{code}" for code in mapped}
    record = {"number": "INV-1", "lines": [{"item": item} for item in items]}
    verdict = _rules(xref={"lines.item": "ledger_account"}).evaluate(
        record, record, key="1", creating=True, tables={"ledger_account": table})
    missing = [number for number, item in enumerate(items, start=1) if item not in mapped]
    if not missing:
        assert verdict.fields is not None
        assert [line["ledger_account"] for line in verdict.fields["lines"]] == \
            [table[item] for item in items]
    else:
        assert verdict.kind is VerdictKind.ERROR
        assert [message.split(":")[0] for message in verdict.messages] == \
            [f"invoice INV-1 line {number}" for number in missing]


# -- state store -----------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty state store database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_rules_store_xref_entries_and_post_requests(state_url: str) -> None:
    store = StateStore.open(state_url)
    try:
        rules = RulesStore(store)
        assert rules.set_xref("crm-books", "ledger_account", "CONSULT-HR", "270", "ann") is False
        assert rules.set_xref("crm-books", "ledger_account", "CONSULT-HR", "275", "bob") is True
        rules.set_xref("crm-books", "tax_rate", "S20", "OUTPUT2")
        rules.set_xref("other", "tax_rate", "S20", "X")
        assert rules.xref_tables("crm-books", ["ledger_account", "tax_rate", "none"]) == {
            "ledger_account": {"CONSULT-HR": "275"}, "tax_rate": {"S20": "OUTPUT2"},
            "none": {}}
        entries = rules.xref_entries("crm-books")
        assert [(e.table, e.local_value, e.remote_value, e.updated_by) for e in entries] == [
            ("ledger_account", "CONSULT-HR", "275", "bob"), ("tax_rate", "S20", "OUTPUT2", None)]
        assert rules.remove_xref("crm-books", "tax_rate", "S20") is True
        assert rules.remove_xref("crm-books", "tax_rate", "S20") is False
        scope = store.scope_id("crm-books", "invoice")
        assert rules.request_posts(scope, ["3", "1", "3"], "ann") == 2
        assert rules.request_posts(scope, ["1", "2"], "bob") == 1
        assert rules.requested(scope) == {"1", "2", "3"}
        assert [r.key for r in rules.post_requests(scope)][:2] == ["1", "3"]
        rules.clear_requests(scope, ["1", "3", "9"])
        assert rules.requested(scope) == {"2"}
        assert rules.requested(store.scope_id("crm-books", "bill")) == set()
    finally:
        store.close()


def test_an_unmapped_payment_term_goes_without_it_and_warns() -> None:
    """Issue 17, deliverable 5: a term with no entry in the ``term`` xref table does not
    block the document; it goes without a term (the books apply their default) and says so.
    A mapped term is translated; other unmapped xrefs still block."""
    rules = _rules(xref={"term": "term", "lines.item": "ledger_account"})
    tables = {"term": {"NET30": "30 days"},
              "ledger_account": {"WIDGET-01": "200", "CONSULT-HR": "260"}}
    mapped = _invoice(term="NET30")
    verdict = rules.evaluate(mapped, mapped, key="1", creating=True, tables=tables)
    assert verdict.kind is VerdictKind.OK and verdict.fields is not None
    assert verdict.fields["term"] == "30 days" and not verdict.completed_by_books
    unmapped = _invoice(term="NET45")
    verdict = rules.evaluate(unmapped, unmapped, key="1", creating=True, tables=tables)
    assert verdict.kind is VerdictKind.WARNING, verdict.messages
    assert verdict.messages == ("invoice INV-1001: no term mapped for payment term 'NET45'; "
                                "sent without it: the books' default terms apply",)
    assert verdict.fields is not None and "term" not in verdict.fields
    assert verdict.completed_by_books  # read back: the books fill in their default
    assert unmapped["term"] == "NET45"
    blocked = rules.evaluate(unmapped, unmapped, key="1", creating=True,
                             tables={"term": {}, "ledger_account": {"WIDGET-01": "200"}})
    assert blocked.kind is VerdictKind.ERROR
    assert blocked.problems == (("ledger_account", "CONSULT-HR"),)


def test_a_document_with_no_billing_contact_goes_to_its_proxy_or_fallback_or_is_blocked() -> None:
    """Issue 17, deliverable 5: no billing contact -> the proxy contact, else the fallback
    contact, each with a warning; with neither the document is blocked, saying how to fix
    it."""
    nobody = _invoice(contact=None)
    blocked = _rules().evaluate(nobody, nobody, key="1", creating=True)
    assert blocked.kind is VerdictKind.ERROR
    assert blocked.messages == (
        'invoice INV-1001: no billing contact (contact is empty) and no fallback: set one on '
        'the document, or give the stream\'s rules fallback = { contact = "KEY" }',)
    assert blocked.problems == (("contact", "empty, no fallback"),)
    fallback = _rules(fallback={"contact": "900"})
    verdict = fallback.evaluate(nobody, nobody, key="1", creating=True)
    assert verdict.kind is VerdictKind.WARNING and verdict.fields is not None
    assert verdict.fields["contact"] == "900"
    assert verdict.messages == (
        "invoice INV-1001: no billing contact; sent under the fallback contact '900'",)
    proxied = _invoice(contact=None, proxy_contact="901")
    both = _rules(fallback={"contact": "900"}, proxy={"contact": "proxy_contact"})
    verdict = both.evaluate(proxied, proxied, key="1", creating=True)
    assert verdict.kind is VerdictKind.WARNING and verdict.fields is not None
    assert verdict.fields["contact"] == "901"
    assert verdict.messages == ("invoice INV-1001: no billing contact; sent under the proxy "
                                "contact '901' (proxy_contact)",)
    own = _invoice()  # a document with its own contact: no warning, fallback unused
    verdict = both.evaluate(own, own, key="1", creating=True)
    assert verdict.kind is VerdictKind.OK and verdict.fields is not None
    assert verdict.fields["contact"] == "7"
    unwritten = {name: value for name, value in nobody.items() if name != "contact"}
    assert _rules().evaluate(nobody, unwritten, key="1", creating=True).kind is VerdictKind.OK


def test_a_fallback_key_may_be_written_as_a_number() -> None:
    config = parse_config(_raw({"invoice": {"fallback": {"contact": 900}}}), base_dir=Path("."))
    assert config.links["crm-books"].rules["invoice"].fallback == {"contact": "900"}


@pytest.mark.parametrize(("fallback", "message"), [
    ({"lines.item": "X"}, "fallback 'lines.item': only a document's references to other "
                          "records (contact, vendor...) can have a fallback"),
    ({"number": "X"}, "fallback 'number': only a document's references"),
    ({"contact": " "}, "fallback 'contact': the record key must not be empty"),
    ({"contakt": "900"}, "unknown invoice field 'contakt' in fallback (did you mean "
                         "'contact'?)"),
])
def test_bad_fallbacks_are_config_errors(fallback: dict[str, str], message: str) -> None:
    assert f"links.crm-books.rules.invoice.fallback: {message}" in _config_error(
        {"invoice": {"fallback": fallback}})
