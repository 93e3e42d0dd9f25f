"""First pairings end to end on memory connectors (see ``syncline.engine.first_pair``):
nothing filled is blanked, a pairing is remembered from the moment it is made even when its
first write fails, and no path creates a second record for a paired one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from syncline.engine import RunMode, RunOutcome, RunSummary
from syncline.engine.first_pair import is_unsettled
from syncline.state.service_store import add_force_request, mark_records

from .syncharness import CONTACT_FIELDS, CrashPlan, Harness, SimulatedCrash

HarnessFactory = Callable[..., Harness]
INVOICE_FIELDS = ["contact", "number", "total"]


def contact(name: str | None, email: str, phone: str | None = None) -> dict[str, Any]:
    return {"name": name, "email": email, "phone": phone}


ANN_A = contact("Ann", "ann@example.com")  # a lacks the phone
ANN_B = contact(None, "ann@example.com", "555")  # b lacks the name
ANN = contact("Ann", "ann@example.com", "555")


def counts(summary: RunSummary, stream: str = "contact") -> dict[str, int]:
    return dict(summary.streams[stream].to_json())


def unsettled(h: Harness, stream: str = "contact") -> list[str]:
    return [row.a_key for row in h.mappings(stream) if is_unsettled(row)]


def failed_first_pairing(h: Harness) -> RunSummary:
    """p1 on a and c1 on b, matched by email; the write to c1 fails."""
    h.a.put("contact", "p1", ANN_A)
    h.b.put("contact", "c1", ANN_B)
    h.b.fail_keys.add("c1")
    summary = h.sync()
    assert summary.outcome is RunOutcome.ERROR
    assert h.pairs() == {"p1": "c1"} and unsettled(h) == ["p1"]
    assert h.records("a") == {"p1": ANN}  # a got its phone
    assert h.records("b") == {"c1": ANN_B}
    (error,) = h.journal(run_id=summary.run_id, outcome="error")
    assert (error["a_key"], error["b_key"], error["direction"]) == ("p1", "c1", "a>b")
    assert [(item["side"], item["key"]) for item in h.store.pending_items("l")] == [("a", "p1")]
    return summary


def test_first_pairing_fills_in_both_sides(harness: Harness) -> None:
    h = harness
    h.a.put("contact", "p1", ANN_A)
    h.b.put("contact", "c1", ANN_B)
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert h.records("a")["p1"]["phone"] == "555" and h.records("b")["c1"]["name"] == "Ann"
    rows = h.journal(run_id=summary.run_id)
    assert sorted(row["direction"] for row in rows) == ["a>b", "b>a"]
    assert {row["message"] for row in rows} == {
        "matched by email; filled in on a: phone; filled in on b: name"}
    assert counts(summary)["conflicts"] == 0 and unsettled(h) == []
    assert sum(counts(h.sync()).values()) == 0


@pytest.mark.parametrize("mode", [RunMode.INCREMENTAL, RunMode.FULL])
def test_failed_first_write_keeps_the_pairing_until_it_goes(harness: Harness,
                                                            mode: RunMode) -> None:
    h = harness
    failed_first_pairing(h)
    again = h.sync(mode=mode)  # still failing: no second record on either side
    assert again.outcome is RunOutcome.ERROR and counts(again)["A"] == 0
    assert set(h.records("a")) == {"p1"} and set(h.records("b")) == {"c1"}
    assert h.pairs() == {"p1": "c1"}

    h.b.fail_keys.clear()
    fixed = h.sync(mode=mode)
    assert fixed.outcome is RunOutcome.OK, h.journal(run_id=fixed.run_id)
    assert set(h.records("a")) == {"p1"} and set(h.records("b")) == {"c1"}
    assert h.records("b")["c1"]["name"] == "Ann" and h.records("b")["c1"]["phone"] == "555"
    assert unsettled(h) == [] and h.store.pending_items("l") == []
    (row,) = h.journal(run_id=fixed.run_id)
    assert row["message"].startswith("paired by email earlier, not yet written; filled in on "
                                     "b: name")
    assert sum(counts(h.sync()).values()) == 0
    h.assert_converged()


def test_edits_made_meanwhile_are_merged_when_the_pairing_goes(harness: Harness) -> None:
    """Only b's record changes after the failure (a is not pending for it): the engine reads
    a's record of the unsettled pairing too, and nothing is blanked or created."""
    h = harness
    failed_first_pairing(h)
    h.store.settle(scope_id=h.scope_id(), run_id=1, pending_remove=[("a", "p1")])
    h.b.fail_keys.clear()
    h.b.put("contact", "c1", {**ANN_B, "phone": "777"})
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert set(h.records("a")) == {"p1"} and set(h.records("b")) == {"c1"}
    assert h.records("b")["c1"] == {**ANN_B, "name": "Ann", "phone": "777"}
    assert h.records("a")["p1"]["phone"] == "777"  # the newest b wins the differing phone
    h.assert_converged()


def test_forced_resync_writes_to_the_paired_record(harness: Harness) -> None:
    h = harness
    failed_first_pairing(h)
    h.b.fail_keys.clear()
    for side, key in (("a", "p1"), ("b", "c1")):
        request = add_force_request(h.store, link="l", side=side, criteria={},
                                    requested_by="test", log_path=None)
        mark_records(h.store, request_id=request, scope_id=h.scope_id(), side=side,
                     keys=[(key, "selected")])
        forced = h.sync(mode=RunMode.FORCED)
        assert forced.outcome is RunOutcome.OK, h.journal(run_id=forced.run_id)
        assert counts(forced)["A"] == 0
        assert set(h.records("a")) == {"p1"} and set(h.records("b")) == {"c1"}
        assert h.records("b")["c1"]["name"] == "Ann" and h.records("a")["p1"]["phone"] == "555"
        assert h.pairs() == {"p1": "c1"} and unsettled(h) == []


def test_a_reference_to_an_unsettled_pairing_translates(harness_factory: HarnessFactory) -> None:
    h = harness_factory(streams={"contact": CONTACT_FIELDS, "invoice": INVOICE_FIELDS},
                        match={"contact": ["email"], "invoice": ["number"]})
    h.b.put("invoice", "x1", {"number": "INV-1", "contact": "c1", "total": 5})
    failed_first_pairing(h)
    invoices = h.records("a", "invoice")
    assert [invoice["contact"] for invoice in invoices.values()] == ["p1"]
    assert not [row for row in h.journal(outcome="error") if row["stream"] == "invoice"]


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_pairing_interrupted_by_a_crash_is_remembered(harness: Harness, when: str) -> None:
    h = harness
    h.a.put("contact", "p1", ANN_A)
    h.b.put("contact", "c1", ANN_B)
    with pytest.raises(SimulatedCrash):
        h.sync(crash=CrashPlan(1, when))
    resumed = h.sync()
    assert resumed.outcome is RunOutcome.OK
    if when == "after":  # one of the pair's two writes went: recovery kept the pairing
        messages = [row["message"] for row in h.journal(run_id=resumed.run_id)]
        assert any(message.endswith("(settled after an interrupted run)")
                   for message in messages), messages
        assert any(message.startswith("paired by email earlier") for message in messages), \
            messages
    assert h.pairs() == {"p1": "c1"} and unsettled(h) == []
    assert set(h.records("a")) == {"p1"} and set(h.records("b")) == {"c1"}
    assert h.records("a")["p1"]["phone"] == h.records("b")["c1"]["phone"] == "555"
    assert h.records("a")["p1"]["name"] == h.records("b")["c1"]["name"] == "Ann"
    assert sum(counts(h.sync()).values()) == 0


def test_review_holds_a_differing_pair_and_fills_the_others(
        harness_factory: HarnessFactory) -> None:
    h = harness_factory(first_sync="review")
    h.a.put("contact", "p1", ANN_A)
    h.b.put("contact", "c1", ANN_B)
    h.a.put("contact", "p2", contact("Bob", "bob@example.com", "1"))
    h.b.put("contact", "c2", contact("Robert", "bob@example.com", None))
    summary = h.sync()
    assert counts(summary)["conflicts"] == 1
    (held,) = h.store.conflicts("l")
    assert (held["a_key"], held["b_key"]) == ("p2", "c2")
    assert h.records("b")["c2"] == contact("Robert", "bob@example.com", None)  # held: untouched
    assert h.records("b")["c1"]["name"] == "Ann"
    assert h.pairs() == {"p1": "c1", "p2": "c2"} and unsettled(h) == ["p2"]

    h.a.put("contact", "p2", contact("Bobby", "bob@example.com", "1"))  # held with it
    assert counts(h.sync())["A"] == 0 and len(h.records("b")) == 2
    h.store.resolve_conflict(int(held["id"]), {"side": "b"}, user="test")
    resolved = h.sync()
    assert resolved.outcome is RunOutcome.OK and counts(resolved)["A"] == 0
    # b's name wins; b has no phone, so a's stays (an empty value never blanks a filled one)
    assert h.records("a")["p2"] == h.records("b")["c2"] == contact("Robert", "bob@example.com",
                                                                   "1")
    assert unsettled(h) == [] and h.store.conflicts("l", status="open") == []


def test_dry_run_lists_the_fields_changed_on_each_side(harness: Harness) -> None:
    h = harness
    h.a.put("contact", "p1", ANN_A)
    h.b.put("contact", "c1", ANN_B)
    planned = {change.direction: change for change in h.sync(dry_run=True).planned}
    assert [(field.name, field.old, field.new) for field in planned["a>b"].fields] == [
        ("name", None, "Ann")]
    assert [(field.name, field.old, field.new) for field in planned["b>a"].fields] == [
        ("phone", None, "555")]
    h.sync()
    h.a.put("contact", "p1", {**h.records("a")["p1"], "name": "Ann " + "x" * 60})
    (change,) = h.sync(dry_run=True).planned
    (field,) = change.fields
    assert (change.action, change.direction, field.name, field.old) == ("M", "a>b", "name",
                                                                         "Ann")
    assert field.new is not None and len(field.new) == 40 and field.new.endswith("…")
