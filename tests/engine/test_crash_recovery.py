"""Crashes in the middle of a run, injected in-process, then a normal run.

The harness connector raises :class:`SimulatedCrash` at the N-th ``write`` call of a run,
either before the batch is applied (the write never happened) or after it was applied but
before the engine settled it (the remote has the records, the state store only an intent).
The next run, with a healthy connector, must settle what was written and finish the rest:
no duplicates on either side, the same records on both sides under the mapping, a journal
that names every write exactly once, and no intents left over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from syncline.engine import RunMode, RunOutcome

from .syncharness import CrashPlan, Harness, SimulatedCrash

HarnessFactory = Callable[..., Harness]
WHEN = ["before", "after"]


def contact(name: str, email: str | None, phone: str | None = None) -> dict[str, Any]:
    return {"name": name, "email": email, "phone": phone}


def seed(h: Harness, side: str, prefix: str, count: int) -> None:
    for i in range(1, count + 1):
        key = f"{prefix}{i}"
        h.side(side).put("contact", key, contact(f"Person {key}", f"{key}@example.com"))


def crash(h: Harness, at_write: int, when: str, **options: Any) -> CrashPlan:
    plan = CrashPlan(at_write, when)
    with pytest.raises(SimulatedCrash):
        h.sync(crash=plan, **options)
    assert plan.fired
    return plan


def ok_rows(h: Harness, action: str, direction: str) -> list[dict[str, Any]]:
    return [row for row in h.journal(action=action, outcome="ok")
            if row["direction"] == direction]


def assert_no_duplicates(h: Harness) -> None:
    for side in ("a", "b"):
        emails = Counter(str(f["email"]).lower() for f in h.records(side).values())
        duplicated = {email: n for email, n in emails.items() if n > 1}
        assert not duplicated, f"duplicates on {side}: {duplicated}"


def assert_creates_journalled_once(h: Harness, since_run: int) -> None:
    """Every record the engine created appears in exactly one 'A ... ok' journal row, and
    every such row from the crashed run on names a pair that exists or was then deleted."""
    to_b = Counter(row["b_key"] for row in ok_rows(h, "A", "a>b"))
    to_a = Counter(row["a_key"] for row in ok_rows(h, "A", "b>a"))
    assert all(n == 1 for n in to_b.values()), to_b
    assert all(n == 1 for n in to_a.values()), to_a
    deleted = {(row["a_key"], row["b_key"]) for row in h.journal(action="D", outcome="ok")}
    recent = [row for row in h.journal(action="A", outcome="ok") if row["run_id"] >= since_run]
    for row in recent:
        exists = row["a_key"] in h.records("a") and row["b_key"] in h.records("b")
        assert exists or (row["a_key"], row["b_key"]) in deleted, row


def assert_recovered(h: Harness) -> None:
    h.assert_converged()
    assert_no_duplicates(h)
    assert h.leftover_intents() == 0
    assert h.crashed_runs
    assert_creates_journalled_once(h, since_run=min(h.crashed_runs))
    quiet = h.sync()
    assert quiet.outcome is RunOutcome.OK
    assert sum(quiet.streams["contact"].to_json().values()) == 0, "not settled: work left"


# -- first sync -------------------------------------------------------------------------------
@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("at_write", [1, 2, 3, 4])
def test_crash_during_first_sync(harness_factory: HarnessFactory, at_write: int,
                                 when: str) -> None:
    h = harness_factory(batch_size=3)
    seed(h, "a", "p", 7)
    seed(h, "b", "c", 5)
    h.b.put("contact", "c-shared", contact("Person p1", "p1@example.com"))  # matches p1

    crash(h, at_write, when)
    if when == "after":
        assert h.leftover_intents() >= 1  # the crashed batch was written, not settled
    summary = h.sync()

    assert summary.outcome is RunOutcome.OK, summary.messages
    assert len(h.records("a")) == len(h.records("b")) == 7 + 5
    assert h.pairs()["p1"] == "c-shared"
    assert len(ok_rows(h, "A", "a>b")) == 6  # p2..p7
    assert len(ok_rows(h, "A", "b>a")) == 5  # c1..c5
    if when == "after":
        assert any("interrupted" in message for message in summary.messages)
        settled = [row for row in h.journal(run_id=summary.run_id)
                   if "settled after an interrupted run" in (row["message"] or "")]
        assert settled, "the crashed batch must be journalled by the recovering run"
    assert_recovered(h)


@pytest.mark.parametrize("when", WHEN)
def test_crash_in_full_mode(harness_factory: HarnessFactory, when: str) -> None:
    h = harness_factory(batch_size=2)
    seed(h, "a", "p", 5)
    h.sync()
    for i in (1, 2, 3):
        h.a.put("contact", f"p{i}", contact(f"Renamed {i}", f"p{i}@example.com"))
    seed(h, "b", "c", 3)
    crash(h, 2, when, mode=RunMode.FULL)
    summary = h.sync(mode=RunMode.FULL)
    assert summary.outcome is RunOutcome.OK
    assert len(h.records("a")) == len(h.records("b")) == 8
    assert_recovered(h)


# -- incremental runs ---------------------------------------------------------------------------
@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("at_write", [1, 2, 3])
def test_crash_during_updates_both_ways(harness_factory: HarnessFactory, at_write: int,
                                        when: str) -> None:
    h = harness_factory(batch_size=2)
    seed(h, "a", "p", 6)
    h.sync()
    pairs = h.pairs()
    for i in (1, 2, 3):
        h.a.put("contact", f"p{i}", contact(f"A edit {i}", f"p{i}@example.com"))
    for i in (4, 5, 6):
        h.b.put("contact", pairs[f"p{i}"], contact(f"B edit {i}", f"p{i}@example.com"))

    crash(h, at_write, when)
    summary = h.sync()

    assert summary.outcome is RunOutcome.OK, summary.messages
    assert h.pairs() == pairs
    for i in (1, 2, 3):
        assert h.records("b")[pairs[f"p{i}"]]["name"] == f"A edit {i}"
    for i in (4, 5, 6):
        assert h.records("a")[f"p{i}"]["name"] == f"B edit {i}"
    modified = Counter((row["a_key"], row["direction"]) for row in h.journal(action="M",
                                                                            outcome="ok"))
    assert sorted(modified) == [("p1", "a>b"), ("p2", "a>b"), ("p3", "a>b"), ("p4", "b>a"),
                                ("p5", "b>a"), ("p6", "b>a")]
    assert all(n == 1 for n in modified.values()), modified
    assert_recovered(h)


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("at_write", [1, 2])
def test_crash_during_deletions(harness_factory: HarnessFactory, at_write: int,
                                when: str) -> None:
    h = harness_factory(batch_size=2, max_delete="100%")
    seed(h, "a", "p", 6)
    h.sync()
    pairs = h.pairs()
    for i in (1, 2, 3):
        h.a.remove("contact", f"p{i}")
    h.b.remove("contact", pairs["p4"])

    crash(h, at_write, when)
    summary = h.sync()

    assert summary.outcome is RunOutcome.OK, summary.messages
    assert sorted(h.records("a")) == ["p5", "p6"]
    assert sorted(h.records("b")) == sorted([pairs["p5"], pairs["p6"]])
    deleted = Counter((row["a_key"], row["b_key"]) for row in h.journal(action="D"))
    assert sorted(deleted) == sorted((f"p{i}", pairs[f"p{i}"]) for i in (1, 2, 3, 4))
    assert all(n == 1 for n in deleted.values()), deleted
    assert_recovered(h)


@pytest.mark.parametrize("when", WHEN)
def test_crash_during_recreate_after_delete_versus_change(harness_factory: HarnessFactory,
                                                          when: str) -> None:
    h = harness_factory()
    seed(h, "a", "p", 4)
    h.sync()
    c1 = h.pairs()["p1"]
    h.a.put("contact", "p1", contact("Kept", "p1@example.com"))
    h.b.remove("contact", c1)
    crash(h, 1, when)
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert h.records("b")[h.pairs()["p1"]]["name"] == "Kept"
    assert_recovered(h)


# -- the world goes on between the crash and the next run ------------------------------------------
@pytest.mark.parametrize("when", WHEN)
def test_edits_made_after_a_crash_are_not_lost(harness_factory: HarnessFactory,
                                               when: str) -> None:
    h = harness_factory(batch_size=2, log_writes=True)
    seed(h, "a", "p", 5)
    seed(h, "b", "c", 3)
    crash(h, 2, when)
    h.a.put("contact", "p1", contact("After crash", "p1@example.com"))
    h.b.put("contact", "c9", contact("New after crash", "c9@example.com"))
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert len(h.records("a")) == len(h.records("b")) == 5 + 3 + 1
    assert h.records("b")[h.pairs()["p1"]]["name"] == "After crash"
    assert "c9" in h.pairs().values()
    assert_recovered(h)


@pytest.mark.parametrize("first", WHEN)
@pytest.mark.parametrize("second", WHEN)
def test_crash_while_recovering_from_a_crash(harness_factory: HarnessFactory, first: str,
                                             second: str) -> None:
    h = harness_factory(batch_size=2)
    seed(h, "a", "p", 6)
    seed(h, "b", "c", 4)
    crash(h, 2, first)
    crash(h, 1, second)
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert len(h.records("a")) == len(h.records("b")) == 10
    assert_recovered(h)


def test_crashed_run_is_not_recorded_as_ok(harness_factory: HarnessFactory) -> None:
    """The run that died must not claim success in the run history."""
    h = harness_factory(batch_size=2)
    seed(h, "a", "p", 4)
    crash(h, 1, "after")
    crashed = h.store.runs("l")[0]
    assert crashed["outcome"] != "ok", crashed


# -- merge: writes to both sides in one decision -------------------------------------------------
@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("at_write", [1, 2])
def test_crash_between_the_two_writes_of_a_merge(harness_factory: HarnessFactory,
                                                 at_write: int, when: str) -> None:
    """A merge writes the merged record to both sides. A crash after the first side was
    written must not let the next run mistake the other side's (pre-merge) version for a
    fresh one-sided change that overwrites the merge."""
    h = harness_factory(conflict="merge")
    seed(h, "a", "p", 2)
    h.sync()
    c1 = h.pairs()["p1"]
    h.a.put("contact", "p1", contact("A name", "p1@example.com"))
    h.b.put("contact", c1, contact("Person p1", "p1@example.com", "999"))
    crash(h, at_write, when)
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK, h.journal(outcome="error")
    merged = contact("A name", "p1@example.com", "999")
    assert h.records("a")["p1"] == merged
    assert h.records("b")[c1] == merged
    assert_recovered(h)


@pytest.mark.parametrize("deleted_on", ["a", "b"])
def test_deleting_what_a_crashed_first_sync_wrote(harness_factory: HarnessFactory,
                                                  deleted_on: str) -> None:
    """The first sync dies after creating a copy; before the next run a user deletes the
    copy (or its original). The next run settles the copy's mapping, then must see that one
    of the pair is gone, although that mapping was only written by this run."""
    h = harness_factory(batch_size=1, max_delete="100%")
    seed(h, "a", "p", 3)
    crash(h, 1, "after")
    copy = next(iter(h.records("b")))
    if deleted_on == "b":
        h.b.remove("contact", copy)
    else:
        h.a.remove("contact", "p1")
    summary = h.sync()
    assert summary.outcome is RunOutcome.OK
    assert "p1" not in h.records("a") and copy not in h.records("b")
    assert len(h.records("a")) == len(h.records("b")) == 2
    assert_recovered(h)
