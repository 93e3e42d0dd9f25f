"""The planner's first pairings (``syncline.engine.first_pair``) as pure unit tests: two
records matched by natural key are merged without blanking, by ``first_sync`` and the
conflict policy; an unsettled pairing is decided again with the mapping's keys."""

from __future__ import annotations

from typing import Any

import pytest

from syncline.engine.first_pair import UNSETTLED, is_unsettled, unsettled_mapping
from syncline.engine.plan import Decision, Policy, SideChange, plan_chunk
from syncline.model import ActionCode, Side, content_hash
from syncline.plan_types import ConflictPolicy, FirstSyncPolicy, LinkDirection, WriteKind

from .test_plan import EARLY, FIELDS, LATE, change, digest, only, single_write


def policy(conflict: ConflictPolicy = ConflictPolicy.NEWEST,
           first_sync: FirstSyncPolicy = FirstSyncPolicy.MERGE,
           direction: LinkDirection = LinkDirection.BOTH) -> Policy:
    return Policy(direction, conflict, FIELDS, ("email",),
                  keep_snapshot=conflict is ConflictPolicy.MERGE, first_sync=first_sync)


def pair(rule: Policy, a: SideChange, b: SideChange) -> Decision:
    return only(plan_chunk(rule, [a], [b], []))


def written(decision: Decision) -> dict[Side, dict[str, Any]]:
    """target -> fields written there."""
    found: dict[Side, dict[str, Any]] = {}
    for write in decision.writes:
        assert write.action is WriteKind.UPDATE and write.fields is not None
        found[write.target] = write.fields
    return found


# a's phone is empty where b's is filled, b's name is empty where a's is filled
A_ONLY_NAME = {"email": "ann@example.com", "name": "Ann", "phone": None}
B_ONLY_PHONE = {"email": "ann@example.com", "name": None, "phone": "555"}
FILLED = {"email": "ann@example.com", "name": "Ann", "phone": "555"}


@pytest.mark.parametrize("first_sync", list(FirstSyncPolicy))
@pytest.mark.parametrize("conflict", list(ConflictPolicy))
def test_empty_values_never_overwrite_filled_ones(conflict: ConflictPolicy,
                                                  first_sync: FirstSyncPolicy) -> None:
    """Whatever the policies, a pair that only needs blanks filled in gets them filled on
    both sides, and the mapping holds the merged hash for both."""
    decision = pair(policy(conflict, first_sync), change("a1", A_ONLY_NAME, at=LATE),
                    change("b1", B_ONLY_PHONE, at=EARLY))
    assert not decision.hold and not decision.conflict
    assert written(decision) == {Side.A: FILLED, Side.B: FILLED}
    assert all(write.hash == digest(FILLED) for write in decision.writes)
    assert all(write.code is ActionCode.MODIFY for write in decision.writes)
    assert decision.pairing and decision.mapping is None
    assert decision.synced_fields == FILLED
    assert decision.message == "matched by email; filled in on a: phone; filled in on b: name"


@pytest.mark.parametrize(("conflict", "a_at", "b_at", "name"), [
    (ConflictPolicy.NEWEST, EARLY, LATE, "Ann B"),
    (ConflictPolicy.NEWEST, LATE, EARLY, "Ann A"),
    (ConflictPolicy.NEWEST, EARLY, EARLY, "Ann A"),  # a tie: a
    (ConflictPolicy.NEWEST, None, LATE, "Ann A"),  # a time unknown: a
    (ConflictPolicy.MERGE, EARLY, LATE, "Ann B"),
    (ConflictPolicy.MERGE, LATE, EARLY, "Ann A"),
    (ConflictPolicy.A_WINS, EARLY, LATE, "Ann A"),
    (ConflictPolicy.B_WINS, LATE, EARLY, "Ann B"),
])
def test_merge_follows_the_conflict_policy_for_differing_values(
        conflict: ConflictPolicy, a_at: Any, b_at: Any, name: str) -> None:
    a = change("a1", {"email": "ann@example.com", "name": "Ann A", "phone": None}, at=a_at)
    b = change("b1", {"email": "ann@example.com", "name": "Ann B", "phone": "555"}, at=b_at)
    decision = pair(policy(conflict), a, b)
    merged = {"email": "ann@example.com", "name": name, "phone": "555"}
    assert decision.conflict and not decision.hold
    assert written(decision)[Side.A] == merged  # a lacks the phone whoever wins the name
    assert written(decision).get(Side.B, merged) == merged
    assert (Side.B in written(decision)) is (name == "Ann A")
    winner = "a" if name == "Ann A" else "b"
    assert decision.message.startswith("matched by email; filled in on a: phone; differing: "
                                       "name (")
    assert f"{winner} wins" in decision.message


@pytest.mark.parametrize(("first_sync", "name"), [(FirstSyncPolicy.A_WINS, "Ann A"),
                                                  (FirstSyncPolicy.B_WINS, "Ann B")])
@pytest.mark.parametrize("conflict", [ConflictPolicy.A_WINS, ConflictPolicy.B_WINS,
                                      ConflictPolicy.NEWEST, ConflictPolicy.MANUAL])
def test_a_wins_and_b_wins_take_that_sides_filled_values(
        first_sync: FirstSyncPolicy, name: str, conflict: ConflictPolicy) -> None:
    a = change("a1", {"email": "ann@example.com", "name": "Ann A", "phone": None}, at=LATE)
    b = change("b1", {"email": "ann@example.com", "name": "Ann B", "phone": "555"}, at=EARLY)
    decision = pair(policy(conflict, first_sync), a, b)
    merged = {"email": "ann@example.com", "name": name, "phone": "555"}
    assert not decision.hold
    assert written(decision)[Side.A] == merged
    assert written(decision).get(Side.B, merged) == merged
    assert f"{first_sync.value.split('-')[0]} wins by first_sync" in decision.message


@pytest.mark.parametrize("rule", [policy(first_sync=FirstSyncPolicy.REVIEW),
                                  policy(ConflictPolicy.MANUAL)])
def test_review_holds_pairs_whose_filled_values_differ(rule: Policy) -> None:
    a = change("a1", {"email": "ann@example.com", "name": "Ann A", "phone": None})
    b = change("b1", {"email": "ann@example.com", "name": "Ann B", "phone": "555"})
    decision = pair(rule, a, b)
    assert decision.hold and decision.conflict and decision.writes == []
    assert decision.pairing and (decision.a_key, decision.b_key) == ("a1", "b1")
    assert decision.a_record is a.record and decision.b_record is b.record
    assert "differing: name" in decision.message and "held for review" in decision.message
    # a pair that only needs blanks filled in goes through
    filled = pair(rule, change("a1", A_ONLY_NAME), change("b1", B_ONLY_PHONE))
    assert not filled.hold and written(filled) == {Side.A: FILLED, Side.B: FILLED}


def test_equal_records_are_linked_as_a_pairing_without_writes() -> None:
    decision = pair(policy(), change("a1", FILLED), change("b1", FILLED))
    assert decision.writes == [] and decision.pairing
    assert decision.a_hash == decision.b_hash == digest(FILLED)
    assert decision.message == "matched by email; already equal"


@pytest.mark.parametrize(("direction", "source"), [(LinkDirection.A_TO_B, Side.A),
                                                   (LinkDirection.B_TO_A, Side.B)])
def test_one_way_link_writes_only_the_target_and_keeps_its_filled_values(
        direction: LinkDirection, source: Side) -> None:
    own = {"email": "ann@example.com", "name": "Source", "phone": None}
    other = {"email": "ann@example.com", "name": "Target", "phone": "555"}
    a, b = (change("a1", own), change("b1", other)) if source is Side.A \
        else (change("a1", other), change("b1", own))
    decision = pair(policy(first_sync=FirstSyncPolicy.B_WINS
                           if source is Side.A else FirstSyncPolicy.A_WINS, direction=direction),
                    a, b)
    merged = {"email": "ann@example.com", "name": "Source", "phone": "555"}
    assert written(decision) == {source.other: merged}
    source_change = a if source is Side.A else b
    assert (decision.a_hash if source is Side.A else decision.b_hash) == source_change.hash
    assert "one-way link" in decision.message
    assert f"filled in on {source.value}" not in decision.message


def test_a_record_forced_on_one_side_wins_differing_values_but_blanks_nothing() -> None:
    a = change("a1", {"email": "ann@example.com", "name": "Ann A", "phone": None}, at=EARLY)
    b = change("b1", {"email": "ann@example.com", "name": "Ann B", "phone": "555"}, at=LATE,
               forced=True)
    decision = pair(policy(ConflictPolicy.A_WINS), a, b)
    assert written(decision) == {Side.A: {"email": "ann@example.com", "name": "Ann B",
                                          "phone": "555"}}
    assert single_write(decision).code is ActionCode.FORCED
    assert "forced from b" in decision.message


# -- unsettled pairings ------------------------------------------------------------------------
def test_unsettled_mapping_is_recognised() -> None:
    row = unsettled_mapping(7, "a1", "b1", "av", "bv")
    assert is_unsettled(row) and row.a_hash == row.b_hash == UNSETTLED
    assert len(UNSETTLED) != len(content_hash({}, FIELDS))  # no content hash can equal it
    assert row.snapshot is None and (row.id, row.a_version, row.b_version) == (7, "av", "bv")


def test_unsettled_pairing_is_decided_again_as_a_first_pairing() -> None:
    row = unsettled_mapping(7, "a1", "b1", "av", "bv")
    decision = only(plan_chunk(policy(), [change("a1", A_ONLY_NAME, version="av2")],
                               [change("b1", B_ONLY_PHONE, version="bv2")], [row]))
    assert decision.pairing and decision.mapping is row
    assert (decision.a_key, decision.b_key) == ("a1", "b1")
    assert written(decision) == {Side.A: FILLED, Side.B: FILLED}
    assert [write.expected_version for write in decision.writes] == ["av2", "bv2"]
    assert decision.message.startswith("paired by email earlier, not yet written; filled in")


def test_unsettled_pairing_already_equal_settles_without_writes() -> None:
    row = unsettled_mapping(7, "a1", "b1", None, None)
    decision = only(plan_chunk(policy(), [change("a1", FILLED)], [change("b1", FILLED)], [row]))
    assert decision.writes == [] and decision.mapping is row
    assert decision.a_hash == decision.b_hash == digest(FILLED)


@pytest.mark.parametrize("side", [Side.A, Side.B])
def test_unsettled_pairing_with_one_record_waits_for_the_other(side: Side) -> None:
    """The engine reads both records of an unsettled pairing; with one only, the planner
    neither copies it over the other nor creates a second record."""
    row = unsettled_mapping(7, "a1", "b1", None, None)
    one = [change("a1" if side is Side.A else "b1", A_ONLY_NAME, forced=True)]
    a_changes, b_changes = (one, []) if side is Side.A else ([], one)
    assert plan_chunk(policy(), a_changes, b_changes, [row]) == []


def test_unsettled_pairing_deleted_on_one_side_recreates_the_other() -> None:
    row = unsettled_mapping(7, "a1", "b1", None, None)
    decision = only(plan_chunk(policy(), [change("a1", None)], [change("b1", FILLED)], [row]))
    write = single_write(decision)
    assert (write.target, write.action) == (Side.A, WriteKind.CREATE)
    assert decision.mapping is row and decision.b_key == "b1"


def test_unsettled_pairing_deleted_on_both_sides_is_forgotten() -> None:
    row = unsettled_mapping(7, "a1", "b1", None, None)
    decision = only(plan_chunk(policy(), [change("a1", None)], [change("b1", None)], [row]))
    assert decision.forget and decision.writes == []
