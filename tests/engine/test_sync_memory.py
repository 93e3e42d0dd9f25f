"""The engine end to end on memory connectors with a SQLite state file.

Each test builds a link ``l`` between ``crm`` (side a) and ``books`` (side b) with the
harness of ``syncharness.py``, edits the memory stores as the systems' own users would, runs
``SyncEngine`` and looks at both sides, the mappings, the journal and the runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select

from syncline.connectors.base import ReadScope, WriteBatch, WriteResult
from syncline.engine import RunMode, RunOutcome, RunRequest, RunSummary
from syncline.errors import EndpointUnavailable, UsageError
from syncline.state import schema

from .syncharness import CONTACT_FIELDS, CrashPlan, Harness, HarnessConnector, SimulatedCrash

HarnessFactory = Callable[..., Harness]
T0 = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)


def contact(name: str, email: str | None, phone: str | None = None) -> dict[str, Any]:
    return {"name": name, "email": email, "phone": phone}


def seed(h: Harness, count: int, *, side: str = "a", prefix: str = "p") -> list[str]:
    keys = [f"{prefix}{i}" for i in range(1, count + 1)]
    for key in keys:
        h.side(side).put("contact", key, contact(f"Person {key}", f"{key}@example.com"))
    return keys


def counts(summary: RunSummary, stream: str = "contact") -> dict[str, int]:
    return dict(summary.streams[stream].to_json())


def b_key_of(h: Harness, a_key: str, stream: str = "contact") -> str:
    return h.pairs(stream)[a_key]


def state_tables(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every state table but ``scopes`` (the stream registry)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with h.store.engine.connect() as connection:
        for table in schema.metadata.sorted_tables:
            if table.name == "scopes":
                continue
            rows = connection.execute(select(table)).all()
            out[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return out


# -- first sync -----------------------------------------------------------------------------------
def test_first_sync_matches_by_natural_key_and_copies_the_rest(harness: Harness) -> None:
    h = harness
    h.a.put("contact", "p1", contact("Ann", "ann@example.com"), when=T0)
    h.a.put("contact", "p2", contact("Bob", "bob@example.com"), when=T0)
    h.b.put("contact", "c1", contact("Ann", " ANN@example.com", "555"),
            when=T0 + timedelta(hours=1))
    h.b.put("contact", "c2", contact("Carol", "carol@example.com"), when=T0)
    h.b.put("contact", "c3", contact("No Mail", None), when=T0)

    summary = h.sync()

    assert summary.outcome is RunOutcome.OK
    assert summary.run_id is not None
    h.assert_converged()
    assert len(h.records("a")) == len(h.records("b")) == 4
    pairs = h.pairs()
    assert pairs["p1"] == "c1"  # matched, not duplicated
    assert h.records("a")["p1"] == contact("Ann", " ANN@example.com", "555")  # newest (b) won
    emails = sorted(str(f["email"]).strip().lower() for f in h.records("a").values()
                    if f["email"])
    assert emails == ["ann@example.com", "bob@example.com", "carol@example.com"]
    assert counts(summary) == {"A": 3, "M": 1, "D": 0, "R": 0, "errors": 0, "warnings": 0,
                               "conflicts": 1, "skipped": 0}
    rows = h.journal(run_id=summary.run_id)
    assert sorted((r["action"], r["direction"], r["outcome"]) for r in rows) == [
        ("A", "a>b", "ok"), ("A", "b>a", "ok"), ("A", "b>a", "ok"), ("M", "b>a", "ok")]
    for row in rows:
        assert row["a_key"] in h.records("a") and row["b_key"] in h.records("b")
        assert row["stream"] == "contact"
    run = h.store.runs("l", run_id=summary.run_id)[0]
    assert run["outcome"] == "ok"
    assert run["counts"] == {"contact": counts(summary)}
    assert run["finished_at"] is not None and run["duration_s"] is not None

    again = h.sync()
    assert again.outcome is RunOutcome.OK
    assert sum(counts(again).values()) == 0
    assert h.journal(run_id=again.run_id) == []
    h.assert_converged()


def test_first_sync_of_equal_records_only_links_them(harness: Harness) -> None:
    h = harness
    h.a.put("contact", "p1", contact("Ann", "ann@example.com", "1"))
    h.b.put("contact", "c1", contact("Ann", "ann@example.com", "1"))
    before = (h.records("a"), h.records("b"))
    summary = h.sync()
    assert (h.records("a"), h.records("b")) == before
    assert h.pairs() == {"p1": "c1"}
    assert counts(summary)["A"] == counts(summary)["M"] == 0
    assert counts(summary)["skipped"] == 1  # journalled as linked, nothing written
    (row,) = h.journal(run_id=summary.run_id)
    assert row["outcome"] == "skipped" and "matched by email" in row["message"]


def test_first_sync_with_many_records_in_small_batches(harness_factory: HarnessFactory) -> None:
    h = harness_factory(batch_size=7)
    seed(h, 60, side="a", prefix="p")
    seed(h, 45, side="b", prefix="c")
    for i in range(1, 11):  # ten of them exist on both sides already
        h.b.put("contact", f"c{i}", contact(f"Person p{i}", f"p{i}@example.com"))
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    h.assert_converged()
    assert len(h.records("a")) == len(h.records("b")) == 60 + 35
    assert counts(summary)["A"] == 50 + 35


# -- incremental ----------------------------------------------------------------------------------
def test_incremental_changes_flow_both_ways(harness: Harness) -> None:
    h = harness
    seed(h, 3)
    h.sync()
    c2 = b_key_of(h, "p2")
    h.a.put("contact", "p1", contact("Person p1 renamed", "p1@example.com"))
    h.b.put("contact", c2, contact("Person p2", "p2@example.com", "+44 1"))
    h.b.put("contact", "new-b", contact("Dora", "dora@example.com"))
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert counts(summary)["M"] == 2 and counts(summary)["A"] == 1
    h.assert_converged()
    assert h.records("b")[b_key_of(h, "p1")]["name"] == "Person p1 renamed"
    assert h.records("a")["p2"]["phone"] == "+44 1"
    assert {r["action"] + r["direction"] for r in h.journal(run_id=summary.run_id)} == \
        {"Ma>b", "Mb>a", "Ab>a"}


def test_a_run_that_finds_nothing_only_records_itself(harness: Harness) -> None:
    """No change and no mark: the run reads the cursors and writes its run row, but rewrites
    no cursor and looks up no mark. A change moves the cursor of its side only."""
    h = harness
    seed(h, 3)
    h.sync()
    cursors_before = state_tables(h)["cursors"]
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(h.store.engine, "before_cursor_execute", record)
    try:
        summary = h.sync()
        assert counts(summary) == {**counts(summary), "A": 0, "M": 0, "D": 0, "R": 0}
        quiet = list(statements)
        statements.clear()
        h.a.put("contact", "p1", contact("Person p1 renamed", "p1@example.com"))
        h.sync()
    finally:
        event.remove(h.store.engine, "before_cursor_execute", record)
    assert state_tables(h)["cursors"] != cursors_before
    assert not [s for s in quiet if "cursors" in s and not s.lstrip().startswith("SELECT")]
    assert [s for s in quiet if "force_marks" in s] == \
        ["SELECT max(force_marks.id) AS max_1 \nFROM force_marks"]
    written = [s for s in statements if s.startswith(("INSERT INTO cursors",
                                                      "DELETE FROM cursors"))]
    assert len(written) == 2  # side a's cursor moved (delete and insert); b's did not


def test_update_keeps_target_fields_that_are_not_synced(harness_factory: HarnessFactory) -> None:
    h = harness_factory(b_streams={"contact": [*CONTACT_FIELDS, "notes"]})
    seed(h, 1)
    h.sync()
    c1 = b_key_of(h, "p1")
    h.b.put("contact", c1, {**h.records("b")[c1], "notes": "b only"})
    h.a.put("contact", "p1", contact("Renamed", "p1@example.com"))
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK, summary.messages
    assert h.records("b")[c1] == {**contact("Renamed", "p1@example.com"), "notes": "b only"}


def test_update_after_an_unsynced_edit_on_the_target(harness_factory: HarnessFactory) -> None:
    """b saves a record changing only a field a does not sync (an echo: same hash, new
    version). A later change on a must still reach b: the version the engine expects must
    not be stuck at the one before that save."""
    h = harness_factory(b_streams={"contact": [*CONTACT_FIELDS, "notes"]})
    seed(h, 1)
    h.sync()
    c1 = b_key_of(h, "p1")
    h.b.put("contact", c1, {**h.records("b")[c1], "notes": "b only"})
    quiet = h.sync()
    assert sum(counts(quiet).values()) == 0  # the echo is no change
    h.a.put("contact", "p1", contact("Renamed", "p1@example.com"))
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK, summary.messages
    assert h.records("b")[c1]["name"] == "Renamed"


def test_own_writes_coming_back_are_echoes(harness_factory: HarnessFactory) -> None:
    """With a change log that also records the engine's writes (like SQL triggers), the next
    run reads them back and recognises them by content hash."""
    h = harness_factory(log_writes=True)
    seed(h, 4, side="a")
    seed(h, 3, side="b", prefix="c")
    h.sync()
    h.a.put("contact", "p1", contact("Changed", "p1@example.com"))
    h.sync()
    echo = h.sync()
    assert sum(counts(echo).values()) == 0
    assert h.journal(run_id=echo.run_id) == []
    h.assert_converged()


# -- deletions and max_delete ---------------------------------------------------------------------
def test_deletions_propagate_both_ways(harness: Harness) -> None:
    h = harness
    seed(h, 8)
    h.sync()
    c5 = b_key_of(h, "p5")
    h.a.remove("contact", "p1")
    h.b.remove("contact", c5)
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert counts(summary)["D"] == 2
    assert "p5" not in h.records("a")
    assert len(h.records("a")) == len(h.records("b")) == 6
    h.assert_converged()
    deleted = h.journal(run_id=summary.run_id, action="D")
    assert sorted(r["direction"] for r in deleted) == ["a>b", "b>a"]


def test_deleted_on_both_sides_is_forgotten(harness: Harness) -> None:
    h = harness
    seed(h, 8)
    h.sync()
    c3 = b_key_of(h, "p3")
    h.a.remove("contact", "p3")
    h.b.remove("contact", c3)
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert "p3" not in h.pairs()
    h.assert_converged()


@pytest.mark.parametrize("max_delete", ["25%", 2])
def test_mass_deletion_needs_consent(harness_factory: HarnessFactory,
                                     max_delete: str | int) -> None:
    h = harness_factory(max_delete=max_delete)
    seed(h, 8)
    h.sync()
    scope = h.scope_id()
    cursors = (h.store.cursor(scope, "a"), h.store.cursor(scope, "b"))
    for key in ("p1", "p2", "p3", "p4"):
        h.a.remove("contact", key)
    h.a.put("contact", "p9", contact("Late", "p9@example.com"))  # other changes still go

    blocked = h.sync()
    assert blocked.outcome is RunOutcome.ERROR
    assert len(h.records("b")) == 9  # 8 kept + the new one
    assert h.journal(run_id=blocked.run_id, action="D") == []
    text = " ".join(blocked.messages)
    assert "max_delete" in text and "--allow-mass-delete" in text and "4 deletions" in text
    assert (h.store.cursor(scope, "a"), h.store.cursor(scope, "b")) == cursors
    run = h.store.runs("l", run_id=blocked.run_id)[0]
    assert run["outcome"] == "error" and "max_delete" in run["message"]

    still = h.sync()  # asking again without consent changes nothing
    assert still.outcome is RunOutcome.ERROR
    assert len(h.records("b")) == 9

    allowed = h.sync(allow_mass_delete=True)
    assert allowed.outcome is RunOutcome.OK
    assert counts(allowed)["D"] == 4
    assert len(h.records("b")) == 5
    h.assert_converged()
    assert h.store.cursor(scope, "a") != cursors[0]


def test_deletions_within_the_limit_go(harness_factory: HarnessFactory) -> None:
    h = harness_factory(max_delete="25%")
    seed(h, 8)
    h.sync()
    h.a.remove("contact", "p1")
    h.a.remove("contact", "p2")
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert counts(summary)["D"] == 2


# -- dry run ---------------------------------------------------------------------------------------
def test_dry_run_changes_nothing(harness: Harness) -> None:
    h = harness
    seed(h, 5)
    h.sync()
    c2 = b_key_of(h, "p2")
    h.a.put("contact", "p1", contact("Changed", "p1@example.com"))
    h.a.remove("contact", "p3")
    h.b.put("contact", c2, contact("Person p2", "p2@example.com", "777"))
    h.b.put("contact", "c-new", contact("New", "new@example.com"))
    before = (h.records("a"), h.records("b"), state_tables(h), list(h.a.log), list(h.b.log))

    summary = h.sync(dry_run=True)

    assert summary.dry_run and summary.run_id is None
    assert (h.records("a"), h.records("b"), state_tables(h), list(h.a.log),
            list(h.b.log)) == before
    planned = sorted((p.action, p.direction) for p in summary.planned)
    assert planned == [("A", "b>a"), ("D", "a>b"), ("M", "a>b"), ("M", "b>a")]
    assert counts(summary)["A"] == 1 and counts(summary)["D"] == 1

    real = h.sync()
    assert sorted((r["action"], r["direction"]) for r in h.journal(run_id=real.run_id)) == \
        planned
    h.assert_converged()


def test_dry_run_of_a_first_sync_changes_nothing(harness: Harness) -> None:
    h = harness
    seed(h, 3)
    seed(h, 2, side="b", prefix="c")
    before = (h.records("a"), h.records("b"), state_tables(h))
    summary = h.sync(dry_run=True)
    assert (h.records("a"), h.records("b"), state_tables(h)) == before
    assert len(summary.planned) == 5
    assert h.store.runs("l") == []


# -- item errors and pending ---------------------------------------------------------------------
def test_item_error_is_journalled_pending_and_retried(harness: Harness) -> None:
    h = harness
    seed(h, 3)
    h.sync()
    c1 = b_key_of(h, "p1")
    h.b.fail_keys.add(c1)
    h.a.put("contact", "p1", contact("Renamed", "p1@example.com"))
    h.a.put("contact", "p2", contact("Also renamed", "p2@example.com"))

    failed = h.sync()
    assert failed.outcome is RunOutcome.ERROR
    assert counts(failed)["errors"] == 1 and counts(failed)["M"] == 1
    (error,) = h.journal(run_id=failed.run_id, outcome="error")
    assert (error["a_key"], error["b_key"], error["action"]) == ("p1", c1, "M")
    assert "rejected" in error["message"]
    (pending,) = h.store.pending_items("l")
    assert (pending["side"], pending["key"], pending["attempts"]) == ("a", "p1", 1)
    assert h.records("b")[c1]["name"] == "Person p1"
    assert h.store.runs("l", run_id=failed.run_id)[0]["outcome"] == "error"

    again = h.sync()  # still failing: still pending, attempts counted
    assert again.outcome is RunOutcome.ERROR
    assert h.store.pending_items("l")[0]["attempts"] == 2

    h.b.fail_keys.clear()
    fixed = h.sync()
    assert fixed.outcome is RunOutcome.OK
    assert h.records("b")[c1]["name"] == "Renamed"
    assert h.store.pending_items("l") == []
    (ok,) = h.journal(run_id=fixed.run_id)
    assert (ok["a_key"], ok["action"], ok["outcome"]) == ("p1", "M", "ok")
    h.assert_converged()


def test_failed_deletion_stays_pending(harness: Harness) -> None:
    h = harness
    seed(h, 8)
    h.sync()
    c1 = b_key_of(h, "p1")
    h.b.fail_keys.add(c1)
    h.a.remove("contact", "p1")
    failed = h.sync()
    assert failed.outcome is RunOutcome.ERROR
    assert c1 in h.records("b")
    h.b.fail_keys.clear()
    fixed = h.sync()
    assert fixed.outcome is RunOutcome.OK
    assert c1 not in h.records("b")
    h.assert_converged()


# -- references ------------------------------------------------------------------------------------
INVOICE_FIELDS = ["contact", "number", "total"]


def invoice_harness(harness_factory: HarnessFactory) -> Harness:
    return harness_factory(streams={"contact": CONTACT_FIELDS, "invoice": INVOICE_FIELDS},
                           match={"contact": ["email"], "invoice": ["number"]})


def test_references_are_translated_between_key_spaces(harness_factory: HarnessFactory) -> None:
    h = invoice_harness(harness_factory)
    h.a.put("contact", "p1", contact("Ann", "ann@example.com"))
    h.a.put("invoice", "i1", {"number": "INV-1", "contact": "p1", "total": Decimal("10.50")})
    h.b.put("contact", "c7", contact("Cid", "cid@example.com"))
    h.b.put("invoice", "x7", {"number": "INV-7", "contact": "c7", "total": Decimal("7")})

    summary = h.sync()

    assert summary.outcome is RunOutcome.OK, summary.messages
    assert list(summary.streams) == ["contact", "invoice"]
    contacts = h.pairs("contact")
    invoices = h.pairs("invoice")
    assert h.records("b", "invoice")[invoices["i1"]]["contact"] == contacts["p1"]
    a_of_x7 = {b: a for a, b in invoices.items()}["x7"]
    a_of_c7 = {b: a for a, b in contacts.items()}["c7"]
    assert h.records("a", "invoice")[a_of_x7]["contact"] == a_of_c7
    assert h.records("a", "invoice")[a_of_x7]["total"] == Decimal("7")
    quiet = h.sync()
    assert sum(counts(quiet, "invoice").values()) == 0  # translated references are no change


def test_reference_to_an_unsynced_record_is_an_item_error(
        harness_factory: HarnessFactory) -> None:
    h = invoice_harness(harness_factory)
    h.a.put("contact", "p1", contact("Ann", "ann@example.com"))
    h.a.put("invoice", "i1", {"number": "INV-1", "contact": "p1", "total": 5})

    only_invoices = h.sync(streams=("invoice",))

    assert only_invoices.outcome is RunOutcome.ERROR
    assert list(only_invoices.streams) == ["invoice"]
    assert h.records("b", "invoice") == {}
    (error,) = h.journal(run_id=only_invoices.run_id, outcome="error")
    assert error["a_key"] == "i1"
    assert "contact" in error["message"] and "p1" in error["message"]
    assert [(p["stream"], p["key"]) for p in h.store.pending_items("l")] == [("invoice", "i1")]

    everything = h.sync()

    assert everything.outcome is RunOutcome.OK, everything.messages
    b_contact = h.pairs("contact")["p1"]
    (b_invoice,) = h.records("b", "invoice").values()
    assert b_invoice["contact"] == b_contact
    assert h.store.pending_items("l") == []


def test_b_reference_to_an_unsynced_record_is_an_item_error(
        harness_factory: HarnessFactory) -> None:
    h = invoice_harness(harness_factory)
    h.b.put("contact", "c1", contact("Ann", "ann@example.com"))
    h.b.put("invoice", "x1", {"number": "INV-1", "contact": "c1", "total": 5})
    first = h.sync(streams=("invoice",))
    assert first.outcome is RunOutcome.ERROR
    (error,) = h.journal(run_id=first.run_id, outcome="error")
    assert "c1" in error["message"]
    assert h.records("a", "invoice") == {}
    second = h.sync()
    assert second.outcome is RunOutcome.OK, second.messages
    (a_invoice,) = h.records("a", "invoice").values()
    assert a_invoice["contact"] == {b: a for a, b in h.pairs("contact").items()}["c1"]


# -- conflicts -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("policy", "expected"), [
    ("a-wins", contact("A name", "p1@example.com")),
    ("b-wins", contact("Person p1", "p1@example.com", "999")),
    ("newest", contact("Person p1", "p1@example.com", "999")),
    ("merge", contact("A name", "p1@example.com", "999")),
])
def test_conflicts_resolve_by_policy(harness_factory: HarnessFactory, policy: str,
                                     expected: dict[str, Any]) -> None:
    h = harness_factory(conflict=policy)
    seed(h, 2)
    h.sync()
    c1 = b_key_of(h, "p1")
    h.a.put("contact", "p1", contact("A name", "p1@example.com"), when=T0)
    h.b.put("contact", c1, contact("Person p1", "p1@example.com", "999"),
            when=T0 + timedelta(minutes=1))
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK, (summary.messages, h.journal(outcome="error"))
    assert counts(summary)["conflicts"] == 1
    assert h.records("a")["p1"] == expected
    assert h.records("b")[c1] == expected
    h.assert_converged()


def test_manual_conflicts_are_held(harness_factory: HarnessFactory) -> None:
    h = harness_factory(conflict="manual")
    seed(h, 2)
    h.sync()
    c1 = b_key_of(h, "p1")
    h.a.put("contact", "p1", contact("A name", "p1@example.com"))
    h.b.put("contact", c1, contact("Person p1", "p1@example.com", "999"))
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert counts(summary)["conflicts"] == 1
    assert h.records("a")["p1"] == contact("A name", "p1@example.com")
    assert h.records("b")[c1] == contact("Person p1", "p1@example.com", "999")
    (held,) = h.store.conflicts("l")
    assert (held["stream"], held["a_key"], held["b_key"], held["status"]) == \
        ("contact", "p1", c1, "open")
    assert held["a_fields"]["name"] == "A name"
    assert held["b_fields"]["phone"] == "999"
    assert held["base_fields"] is None or held["base_fields"]["name"]
    (row,) = h.journal(run_id=summary.run_id)
    assert row["outcome"] == "skipped" and "held" in row["message"]


def test_held_conflict_is_not_overwritten_by_a_later_edit(
        harness_factory: HarnessFactory) -> None:
    """While a conflict waits for review, a further edit on one side must not silently
    overwrite the other side's conflicting version."""
    h = harness_factory(conflict="manual")
    seed(h, 2)
    h.sync()
    c1 = b_key_of(h, "p1")
    h.a.put("contact", "p1", contact("A name", "p1@example.com"))
    h.b.put("contact", c1, contact("Person p1", "p1@example.com", "999"))
    h.sync()
    h.a.put("contact", "p1", contact("A name again", "p1@example.com"))
    later = h.sync()
    assert h.records("b")[c1]["phone"] == "999"
    assert later.outcome is RunOutcome.OK, h.journal(run_id=later.run_id)
    assert counts(later)["conflicts"] == 1  # still a conflict, not an item error
    (held,) = h.store.conflicts("l")
    assert held["status"] == "open"
    assert held["a_fields"]["name"] == "A name again"  # refreshed with the newest version


def test_held_first_sync_pair_does_not_duplicate_later(harness_factory: HarnessFactory) -> None:
    """Two records matched by natural key whose contents differ are held under manual;
    a later edit of one of them must not create a copy on the other side."""
    h = harness_factory(conflict="manual")
    h.a.put("contact", "p1", contact("Ann", "ann@example.com"))
    h.b.put("contact", "c1", contact("Ann B", "ann@example.com"))
    first = h.sync()
    assert counts(first)["conflicts"] == 1
    assert len(h.records("a")) == len(h.records("b")) == 1
    h.a.put("contact", "p1", contact("Ann edited", "ann@example.com"))
    h.sync()
    assert len(h.records("b")) == 1, h.records("b")
    assert len(h.records("a")) == 1, h.records("a")


# -- one-way links ---------------------------------------------------------------------------------
def test_one_way_link_reverts_target_edits_and_leaves_its_new_records(
        harness_factory: HarnessFactory) -> None:
    h = harness_factory(direction="a-to-b")
    seed(h, 8)
    h.sync()
    c1, c2 = b_key_of(h, "p1"), b_key_of(h, "p2")
    h.b.put("contact", c1, contact("Edited on b", "p1@example.com"))
    h.b.remove("contact", c2)
    h.b.put("contact", "b-only", contact("B only", "bonly@example.com"))
    h.a.put("contact", "p3", contact("Edited on a", "p3@example.com"))
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK, summary.messages
    b = h.records("b")
    assert b[c1] == contact("Person p1", "p1@example.com")
    restored = h.pairs()["p2"]
    assert b[restored] == contact("Person p2", "p2@example.com")
    assert "b-only" in b and "b-only" not in h.pairs().values()
    assert b[h.pairs()["p3"]]["name"] == "Edited on a"
    assert len(h.records("a")) == 8  # nothing was written to a
    assert all(r["direction"] == "a>b" for r in h.journal(run_id=summary.run_id))


# -- selective runs --------------------------------------------------------------------------------
def test_selected_streams_only(harness_factory: HarnessFactory) -> None:
    h = invoice_harness(harness_factory)
    h.a.put("contact", "p1", contact("Ann", "ann@example.com"))
    h.a.put("invoice", "i1", {"number": "INV-1", "contact": None, "total": 1})
    summary = h.sync(streams=("contact",))
    assert list(summary.streams) == ["contact"]
    assert len(h.records("b", "contact")) == 1
    assert h.records("b", "invoice") == {}
    assert h.store.cursor(h.scope_id("invoice"), "a") is None
    with pytest.raises(UsageError, match="does not sync"):
        h.sync(streams=("task",))
    later = h.sync()
    assert len(h.records("b", "invoice")) == 1
    assert later.outcome is RunOutcome.OK


def test_key_range_scope_reads_only_that_range_and_keeps_cursors(harness: Harness) -> None:
    h = harness
    seed(h, 6)
    h.sync()
    scope = h.scope_id()
    cursors = (h.store.cursor(scope, "a"), h.store.cursor(scope, "b"))
    h.a.put("contact", "p2", contact("In range", "p2@example.com"))
    h.a.put("contact", "p5", contact("Out of range", "p5@example.com"))
    h.a.remove("contact", "p3")

    scoped = h.sync(scope=ReadScope(from_key="p1", to_key="p3"))

    assert scoped.outcome is RunOutcome.OK
    b = h.records("b")
    assert b[h.pairs()["p2"]]["name"] == "In range"
    assert b[h.pairs()["p5"]]["name"] == "Person p5"
    assert "p3" not in h.pairs() and len(b) == 5
    assert (h.store.cursor(scope, "a"), h.store.cursor(scope, "b")) == cursors
    assert h.store.runs("l", run_id=scoped.run_id)[0]["scope"]["from_key"] == "p1"

    rest = h.sync()
    assert counts(rest)["M"] == 1  # p5; p2 and p3 were done already
    assert h.records("b")[h.pairs()["p5"]]["name"] == "Out of range"
    h.assert_converged()


# -- full mode -------------------------------------------------------------------------------------
def test_full_mode_finds_what_the_change_log_missed(harness: Harness) -> None:
    h = harness
    seed(h, 8)
    h.sync()
    c1 = b_key_of(h, "p1")
    del h.a.stream("contact")["p2"]  # removed behind the change log's back
    _, fields, when = h.b.stream("contact")[c1]
    h.b.stream("contact")[c1] = ("silent", {**fields, "phone": "silent"}, when)
    quiet = h.sync()
    assert sum(counts(quiet).values()) == 0  # incremental reading cannot see these
    full = h.sync(mode=RunMode.FULL)
    assert full.outcome is RunOutcome.OK, full.messages
    assert counts(full)["D"] == 1 and counts(full)["M"] == 1
    assert h.records("a")["p1"]["phone"] == "silent"
    h.assert_converged()
    assert h.store.runs("l", run_id=full.run_id)[0]["mode"] == "full"


def test_full_mode_without_changes_writes_nothing(harness: Harness) -> None:
    h = harness
    seed(h, 5)
    seed(h, 5, side="b", prefix="c")
    h.sync()
    full = h.sync(mode=RunMode.FULL)
    assert sum(counts(full).values()) == 0
    h.assert_converged()


# -- unavailable endpoint --------------------------------------------------------------------------
def test_unavailable_endpoint_fails_the_run_and_loses_nothing(harness: Harness) -> None:
    h = harness
    seed(h, 3)
    h.sync()
    h.a.put("contact", "p1", contact("Changed while b was down", "p1@example.com"))
    h.b.unavailable = True
    with pytest.raises(EndpointUnavailable, match="unavailable"):
        h.sync()
    run = h.store.runs("l")[0]
    assert run["outcome"] == "failed"
    assert "unavailable" in run["message"]
    assert run["finished_at"] is not None
    h.b.unavailable = False
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert h.records("b")[h.pairs()["p1"]]["name"] == "Changed while b was down"
    h.assert_converged()


def test_unexpected_exception_is_not_recorded_as_ok(harness: Harness) -> None:
    """A run that dies of an unexpected exception must not be recorded as a success."""
    h = harness
    seed(h, 2)

    class Broken(RuntimeError):
        pass

    class Exploding(HarnessConnector):
        def write(self, batch: WriteBatch) -> list[WriteResult]:
            raise Broken("connector bug")

    engine = h.engine(connector=Exploding)
    with pytest.raises(Broken):
        engine.run(RunRequest("l"))
    run = h.store.runs("l")[0]
    assert run["outcome"] == "failed", run


def test_full_sync_keeps_records_it_links_or_creates_while_reading(
        harness_factory: HarnessFactory) -> None:
    """In full mode, mapped keys missing from a side's listing are deletions. Mappings made
    by this very run (a natural-key pair, and a record created from a duplicate of it) were
    not in the listing either, and must not be taken for deleted records."""
    h = harness_factory(max_delete="100%")
    for i in range(520):  # more than one page, so the first page is settled before the end
        h.a.put("contact", f"p{i:04d}", contact(f"Person {i}", f"p{i}@example.com"))
    h.sync()
    h.a.put("contact", "a-ann", contact("Ann", "ann@example.com", "1"))
    h.b.put("contact", "c-ann-1", contact("Ann", "ann@example.com", "1"))
    h.b.put("contact", "c-ann-2", contact("Ann", " ANN@example.com", "2"))

    summary = h.sync(mode=RunMode.FULL)

    assert summary.outcome is RunOutcome.OK, summary.messages
    assert counts(summary)["D"] == 0, h.journal(run_id=summary.run_id, action="D")
    assert {"c-ann-1", "c-ann-2"} <= set(h.records("b"))
    h.assert_converged()


def test_merge_still_knows_the_last_synced_values_after_an_echo(
        harness_factory: HarnessFactory) -> None:
    """A save on b that changes nothing synced (same hash, new version) is an echo; the
    engine may note b's new version, but must keep the snapshot the merge policy needs."""
    h = harness_factory(conflict="merge")
    seed(h, 2)
    h.sync()
    c1 = b_key_of(h, "p1")
    h.b.put("contact", c1, dict(h.records("b")[c1]))  # saved again, nothing changed
    h.sync()
    h.a.put("contact", "p1", contact("A name", "p1@example.com"), when=T0)
    h.b.put("contact", c1, contact("Person p1", "p1@example.com", "999"),
            when=T0 + timedelta(minutes=1))
    summary = h.sync()
    merged = contact("A name", "p1@example.com", "999")
    assert summary.outcome is RunOutcome.OK
    assert h.records("a")["p1"] == merged
    assert h.records("b")[c1] == merged


def test_one_way_repair_does_not_copy_an_unresolvable_reference(
        harness_factory: HarnessFactory) -> None:
    """b-to-a: a's edit of an invoice is reverted from b. If b's invoice refers to a contact
    that has no counterpart on a any more, that is an item error; b's own key must never be
    written into a's invoice."""
    h = harness_factory(streams={"contact": CONTACT_FIELDS, "invoice": INVOICE_FIELDS},
                        match={"contact": ["email"], "invoice": ["number"]},
                        direction="b-to-a", max_delete="100%")
    h.b.put("contact", "c1", contact("Ann", "ann@example.com"))
    h.b.put("invoice", "x1", {"number": "INV-1", "contact": "c1", "total": 5})
    first = h.sync()
    assert first.outcome is RunOutcome.OK, first.messages
    a_contact = {b: a for a, b in h.pairs("contact").items()}["c1"]
    a_invoice = {b: a for a, b in h.pairs("invoice").items()}["x1"]
    h.a.remove("contact", a_contact)
    h.b.remove("contact", "c1")  # x1 now refers to a contact that is gone on both sides
    h.a.put("invoice", a_invoice, {"number": "INV-1", "contact": a_contact, "total": 99})

    h.sync()

    assert h.records("a", "invoice")[a_invoice]["contact"] != "c1"


def held_conflict(harness_factory: HarnessFactory) -> tuple[Harness, str, int]:
    h = harness_factory(conflict="manual")
    seed(h, 2)
    h.sync()
    c1 = b_key_of(h, "p1")
    h.a.put("contact", "p1", contact("A name", "p1@example.com"))
    h.b.put("contact", c1, contact("Person p1", "p1@example.com", "999"))
    h.sync()
    (held,) = h.store.conflicts("l")
    return h, c1, int(held["id"])


@pytest.mark.parametrize(("resolution", "expected"), [
    ({"side": "b"}, contact("Person p1", "p1@example.com", "999")),
    ({"side": "a"}, contact("A name", "p1@example.com")),
    ({"fields": {"phone": "999"}}, contact("A name", "p1@example.com", "999")),
])
def test_resolved_conflict_is_applied_by_the_next_run(harness_factory: HarnessFactory,
                                                      resolution: dict[str, Any],
                                                      expected: dict[str, Any]) -> None:
    h, c1, conflict_id = held_conflict(harness_factory)
    h.store.resolve_conflict(conflict_id, resolution, "alice")
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK, summary.messages
    assert h.records("a")["p1"] == expected
    assert h.records("b")[c1] == expected
    assert h.store.conflicts("l", status=None)[0]["status"] == "applied"
    assert any("alice" in (row["message"] or "") for row in h.journal(run_id=summary.run_id))
    quiet = h.sync()
    assert sum(counts(quiet).values()) == 0
    h.assert_converged()


def test_resolution_survives_a_crash_while_it_is_written(
        harness_factory: HarnessFactory) -> None:
    """The run that writes a resolution dies before its first write: the resolution must
    still be applied by the next run, not lost with the conflict marked done."""
    h, c1, conflict_id = held_conflict(harness_factory)
    h.store.resolve_conflict(conflict_id, {"side": "b"}, "alice")
    plan = CrashPlan(1, "before")
    with pytest.raises(SimulatedCrash):
        h.sync(crash=plan)
    h.sync()
    expected = contact("Person p1", "p1@example.com", "999")
    assert h.records("a")["p1"] == expected
    assert h.records("b")[c1] == expected


def test_same_natural_key_on_several_pages_pairs_one_to_one(
        harness_factory: HarnessFactory) -> None:
    """Records sharing a natural key, spread over several pages of the streamed side, pair
    one to one with the other side's records of that key: nothing is created."""
    h = harness_factory(batch_size=2, page_size=2)
    for i in range(6):
        h.a.put("contact", f"p{i}", contact(f"Ann {i}", "ann@example.com"))
        h.b.put("contact", f"c{i}", contact(f"Ann {i}", "ann@example.com"))
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK, summary.messages
    assert counts(summary)["A"] == 0
    assert len(h.records("a")) == len(h.records("b")) == 6
    h.assert_converged()
