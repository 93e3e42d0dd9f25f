"""The planner as pure unit tests: ``plan_chunk(policy, a_changes, b_changes, mappings)``.

Every test builds side changes and mappings by hand and looks only at the returned
decisions; nothing here touches a connector or a state store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncline.engine.plan import (
    Decision,
    Policy,
    SideChange,
    Write,
    match_key,
    merge_fields,
    plan_chunk,
)
from syncline.model import ActionCode, Record, Side, content_hash, field_token
from syncline.plan_types import ConflictPolicy, LinkDirection, MappingRow, WriteKind

FIELDS = ("email", "name", "phone")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EARLY, LATE = T0, T0 + timedelta(minutes=5)


def policy(conflict: ConflictPolicy = ConflictPolicy.NEWEST,
           direction: LinkDirection = LinkDirection.BOTH,
           match: tuple[str, ...] = ()) -> Policy:
    return Policy(direction, conflict, FIELDS, match,
                  keep_snapshot=conflict is ConflictPolicy.MERGE)


def digest(fields: dict[str, Any]) -> bytes:
    return content_hash(fields, FIELDS)


def change(key: str, fields: dict[str, Any] | None, *, version: str | None = None,
           at: datetime | None = None, forced: bool = False) -> SideChange:
    """A side change: the record's current state (``None``: deleted)."""
    if fields is None:
        return SideChange(key, None, None, forced=forced)
    return SideChange(key, Record(key, dict(fields), version, at), digest(fields), forced=forced)


def mapping(a_key: str, b_key: str, fields: dict[str, Any] | None = None, *,
            a_fields: dict[str, Any] | None = None, b_fields: dict[str, Any] | None = None,
            a_version: str | None = "av1", b_version: str | None = "bv1",
            snapshot: bool = False, mapping_id: int = 1) -> MappingRow:
    """A stored mapping whose last synced content was ``fields`` (or a/b_fields)."""
    a_side = a_fields if a_fields is not None else fields
    b_side = b_fields if b_fields is not None else fields
    assert a_side is not None and b_side is not None
    tokens = {name: field_token(a_side.get(name)) for name in FIELDS} if snapshot else None
    return MappingRow(mapping_id, a_key, b_key, digest(a_side), digest(b_side), a_version,
                      b_version, tokens)


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1, decisions
    return decisions[0]


def single_write(decision: Decision) -> Write:
    assert len(decision.writes) == 1, decision.writes
    return decision.writes[0]


ANN = {"email": "ann@example.com", "name": "Ann", "phone": "100"}
ANN_NEW_NAME = {**ANN, "name": "Ann Smith"}
ANN_NEW_PHONE = {**ANN, "phone": "200"}
ANN_NEW_BOTH = {**ANN, "name": "Ann Smith", "phone": "200"}


# -- policy helpers ----------------------------------------------------------------------------
def test_policy_allows_and_source() -> None:
    both = policy()
    assert both.allows(Side.A) and both.allows(Side.B)
    assert both.source is None
    a_to_b = policy(direction=LinkDirection.A_TO_B)
    assert a_to_b.allows(Side.B) and not a_to_b.allows(Side.A)
    assert a_to_b.source is Side.A
    b_to_a = policy(direction=LinkDirection.B_TO_A)
    assert b_to_a.allows(Side.A) and not b_to_a.allows(Side.B)
    assert b_to_a.source is Side.B


# -- echo suppression ----------------------------------------------------------------------------
def test_nothing_changed_means_no_decision() -> None:
    assert plan_chunk(policy(), [], [], [mapping("a1", "b1", ANN)]) == []
    assert plan_chunk(policy(), [], [], []) == []


def test_echo_on_one_side_is_no_change() -> None:
    """A change whose hash is the mapping's hash is our own write coming back."""
    row = mapping("a1", "b1", ANN, a_version="av1", b_version="bv1")
    assert plan_chunk(policy(), [change("a1", ANN, version="av1")], [], [row]) == []
    assert plan_chunk(policy(), [], [change("b1", ANN, version="bv1")], [row]) == []
    assert plan_chunk(policy(), [change("a1", ANN, version="av1")],
                      [change("b1", ANN, version="bv1")], [row]) == []


def nothing_written(decisions: list[Decision]) -> bool:
    """No write, no forgetting, no conflict (recording a newer version is allowed)."""
    return all(not (d.writes or d.forget or d.hold or d.conflict) for d in decisions)


def test_echo_with_a_new_version_writes_nothing() -> None:
    """A save that changed no synced field gives a new version but the same hash."""
    row = mapping("a1", "b1", ANN)
    assert nothing_written(plan_chunk(policy(), [change("a1", ANN, version="av9")], [], [row]))
    assert nothing_written(plan_chunk(policy(), [], [change("b1", ANN, version="bv9")], [row]))


def test_echo_compares_canonical_values() -> None:
    row = mapping("a1", "b1", ANN)
    same = {**ANN, "phone": "100", "extra": "not synced"}
    assert nothing_written(plan_chunk(policy(), [change("a1", same)], [], [row]))


def test_echo_on_one_side_and_a_change_on_the_other_is_one_sided() -> None:
    row = mapping("a1", "b1", ANN)
    decision = only(plan_chunk(policy(), [change("a1", ANN)], [change("b1", ANN_NEW_NAME)],
                               [row]))
    write = single_write(decision)
    assert write.target is Side.A
    assert write.fields == ANN_NEW_NAME
    assert not decision.conflict


# -- one-sided create / update / delete -----------------------------------------------------------
@pytest.mark.parametrize("side", [Side.A, Side.B])
def test_new_record_is_created_on_the_other_side(side: Side) -> None:
    fields = {**ANN, "notes": "only on this side"}
    new = change("k1", fields, version="v1")
    a_changes, b_changes = ([new], []) if side is Side.A else ([], [new])
    decision = only(plan_chunk(policy(), a_changes, b_changes, []))
    write = single_write(decision)
    assert write.target is side.other
    assert write.action is WriteKind.CREATE
    assert write.key is None
    assert write.code is ActionCode.CREATE
    assert write.fields == ANN  # the synced fields only
    assert write.hash == digest(ANN)
    assert (decision.a_key, decision.b_key) == (("k1", None) if side is Side.A else (None, "k1"))
    assert (decision.a_hash if side is Side.A else decision.b_hash) == digest(ANN)
    assert (decision.a_version if side is Side.A else decision.b_version) == "v1"
    assert decision.mapping is None
    assert not (decision.forget or decision.hold or decision.conflict)


def test_new_record_missing_synced_fields_are_written_as_none() -> None:
    decision = only(plan_chunk(policy(), [change("a1", {"name": "Ann"})], [], []))
    assert single_write(decision).fields == {"email": None, "name": "Ann", "phone": None}


def test_deletion_of_a_never_synced_record_needs_nothing() -> None:
    assert plan_chunk(policy(), [change("a1", None)], [change("b1", None)], []) == []


@pytest.mark.parametrize("side", [Side.A, Side.B])
def test_update_on_one_side_is_copied(side: Side) -> None:
    row = mapping("a1", "b1", ANN, a_version="av1", b_version="bv1")
    updated = change("a1" if side is Side.A else "b1", ANN_NEW_NAME, version="new")
    a_changes, b_changes = ([updated], []) if side is Side.A else ([], [updated])
    decision = only(plan_chunk(policy(), a_changes, b_changes, [row]))
    write = single_write(decision)
    assert write.target is side.other
    assert write.action is WriteKind.UPDATE
    assert write.key == ("b1" if side is Side.A else "a1")
    assert write.fields == ANN_NEW_NAME
    assert write.hash == digest(ANN_NEW_NAME)
    assert write.code is ActionCode.MODIFY
    # the target did not change since the last sync: its stored version is expected
    assert write.expected_version == ("bv1" if side is Side.A else "av1")
    assert (decision.a_key, decision.b_key) == ("a1", "b1")
    assert decision.mapping is row
    assert (decision.a_hash if side is Side.A else decision.b_hash) == digest(ANN_NEW_NAME)
    assert decision.synced_fields is not None
    assert decision.synced_fields["name"] == "Ann Smith"
    assert not (decision.forget or decision.conflict)


@pytest.mark.parametrize("side", [Side.A, Side.B])
def test_deletion_on_one_side_is_copied_and_the_mapping_forgotten(side: Side) -> None:
    row = mapping("a1", "b1", ANN)
    gone = change("a1" if side is Side.A else "b1", None)
    a_changes, b_changes = ([gone], []) if side is Side.A else ([], [gone])
    decision = only(plan_chunk(policy(), a_changes, b_changes, [row]))
    write = single_write(decision)
    assert write.target is side.other
    assert write.action is WriteKind.DELETE
    assert write.key == ("b1" if side is Side.A else "a1")
    assert write.code is ActionCode.DELETE
    assert write.fields is None
    assert decision.forget


def test_deleted_on_both_sides_forgets_the_mapping_without_writes() -> None:
    decision = only(plan_chunk(policy(), [change("a1", None)], [change("b1", None)],
                               [mapping("a1", "b1", ANN)]))
    assert decision.writes == []
    assert decision.forget
    assert not decision.hold


# -- delete versus change ------------------------------------------------------------------------
@pytest.mark.parametrize("conflict", [ConflictPolicy.NEWEST, ConflictPolicy.MERGE,
                                      ConflictPolicy.MANUAL])
@pytest.mark.parametrize("deleted_side", [Side.A, Side.B])
def test_change_beats_delete_by_default(conflict: ConflictPolicy, deleted_side: Side) -> None:
    row = mapping("a1", "b1", ANN)
    a = change("a1", None) if deleted_side is Side.A else change("a1", ANN_NEW_NAME)
    b = change("b1", None) if deleted_side is Side.B else change("b1", ANN_NEW_NAME)
    decision = only(plan_chunk(policy(conflict), [a], [b], [row]))
    write = single_write(decision)
    assert decision.conflict
    assert not decision.forget and not decision.hold
    assert write.target is deleted_side
    assert write.action is WriteKind.CREATE
    assert write.key is None
    assert write.fields == ANN_NEW_NAME
    assert write.code is ActionCode.CREATE
    kept = decision.b_key if deleted_side is Side.A else decision.a_key
    gone = decision.a_key if deleted_side is Side.A else decision.b_key
    assert kept == ("b1" if deleted_side is Side.A else "a1")
    assert gone is None  # recreated: the new key comes from the write


@pytest.mark.parametrize(("conflict", "deleted_side"), [
    (ConflictPolicy.A_WINS, Side.A), (ConflictPolicy.B_WINS, Side.B)])
def test_winning_side_that_deleted_deletes_the_changed_record(conflict: ConflictPolicy,
                                                              deleted_side: Side) -> None:
    row = mapping("a1", "b1", ANN)
    a = change("a1", None) if deleted_side is Side.A else change("a1", ANN_NEW_NAME)
    b = change("b1", None) if deleted_side is Side.B else change("b1", ANN_NEW_NAME)
    decision = only(plan_chunk(policy(conflict), [a], [b], [row]))
    write = single_write(decision)
    assert write.target is deleted_side.other
    assert write.action is WriteKind.DELETE
    assert write.key == ("b1" if deleted_side is Side.A else "a1")
    assert decision.forget
    assert decision.conflict


@pytest.mark.parametrize(("conflict", "deleted_side"), [
    (ConflictPolicy.A_WINS, Side.B), (ConflictPolicy.B_WINS, Side.A)])
def test_winning_side_that_changed_recreates(conflict: ConflictPolicy, deleted_side: Side) -> None:
    row = mapping("a1", "b1", ANN)
    a = change("a1", None) if deleted_side is Side.A else change("a1", ANN_NEW_NAME)
    b = change("b1", None) if deleted_side is Side.B else change("b1", ANN_NEW_NAME)
    decision = only(plan_chunk(policy(conflict), [a], [b], [row]))
    write = single_write(decision)
    assert write.target is deleted_side
    assert write.action is WriteKind.CREATE
    assert not decision.forget


# -- both changed ---------------------------------------------------------------------------------
def test_changed_alike_on_both_sides_records_the_mapping_only() -> None:
    row = mapping("a1", "b1", ANN)
    decision = only(plan_chunk(policy(ConflictPolicy.MANUAL), [change("a1", ANN_NEW_NAME)],
                               [change("b1", ANN_NEW_NAME, version="bv2")], [row]))
    assert decision.writes == []
    assert not (decision.forget or decision.hold or decision.conflict)
    assert decision.a_hash == decision.b_hash == digest(ANN_NEW_NAME)
    assert decision.b_version == "bv2"


def both_changed(conflict: ConflictPolicy, *, a_fields: dict[str, Any] = ANN_NEW_NAME,
                 b_fields: dict[str, Any] = ANN_NEW_PHONE, a_at: datetime | None = EARLY,
                 b_at: datetime | None = LATE,
                 direction: LinkDirection = LinkDirection.BOTH) -> Decision:
    row = mapping("a1", "b1", ANN, a_version="av1", b_version="bv1",
                  snapshot=conflict is ConflictPolicy.MERGE)
    return only(plan_chunk(policy(conflict, direction),
                           [change("a1", a_fields, version="av2", at=a_at)],
                           [change("b1", b_fields, version="bv2", at=b_at)], [row]))


def test_a_wins() -> None:
    decision = both_changed(ConflictPolicy.A_WINS)
    write = single_write(decision)
    assert decision.conflict and not decision.hold
    assert (write.target, write.action, write.key) == (Side.B, WriteKind.UPDATE, "b1")
    assert write.fields == ANN_NEW_NAME
    assert decision.a_hash == digest(ANN_NEW_NAME)
    assert "a wins" in decision.message


def test_b_wins() -> None:
    decision = both_changed(ConflictPolicy.B_WINS, a_at=LATE, b_at=EARLY)
    write = single_write(decision)
    assert (write.target, write.action, write.key) == (Side.A, WriteKind.UPDATE, "a1")
    assert write.fields == ANN_NEW_PHONE
    assert decision.b_hash == digest(ANN_NEW_PHONE)
    assert "b wins" in decision.message


@pytest.mark.parametrize("conflict", [ConflictPolicy.A_WINS, ConflictPolicy.NEWEST,
                                      ConflictPolicy.MERGE])
def test_conflict_write_expects_the_version_just_read(conflict: ConflictPolicy) -> None:
    """Both sides changed, so the target's version is no longer the mapping's: a write that
    expects the mapping's (stale) version is refused by every connector that checks versions
    (VersionConflict), and the conflict never resolves."""
    decision = both_changed(conflict, a_at=LATE, b_at=EARLY)
    assert decision.writes
    for write in decision.writes:
        expected = "bv2" if write.target is Side.B else "av2"
        assert write.expected_version == expected, (write.target, write.expected_version)


@pytest.mark.parametrize(("a_at", "b_at", "winner"), [
    (EARLY, LATE, Side.B),
    (LATE, EARLY, Side.A),
    (EARLY, EARLY, Side.A),          # a tie goes to a
    (None, LATE, Side.A),            # unknown time: a
    (LATE, None, Side.A),
    (None, None, Side.A),
    (EARLY.replace(tzinfo=None), LATE, Side.B),  # naive times count as UTC
])
def test_newest_wins(a_at: datetime | None, b_at: datetime | None, winner: Side) -> None:
    decision = both_changed(ConflictPolicy.NEWEST, a_at=a_at, b_at=b_at)
    write = single_write(decision)
    assert write.target is winner.other
    assert write.fields == (ANN_NEW_NAME if winner is Side.A else ANN_NEW_PHONE)
    assert decision.conflict
    assert f"newest ({winner.value}) wins" in decision.message


def test_manual_holds_without_writes() -> None:
    decision = both_changed(ConflictPolicy.MANUAL)
    assert decision.hold and decision.conflict
    assert decision.writes == []
    assert not decision.forget
    assert decision.a_record is not None and decision.a_record.fields == ANN_NEW_NAME
    assert decision.b_record is not None and decision.b_record.fields == ANN_NEW_PHONE
    assert "held for review" in decision.message


# -- merge ----------------------------------------------------------------------------------------
def test_merge_takes_each_side_s_changed_fields() -> None:
    decision = both_changed(ConflictPolicy.MERGE)  # a changed name, b changed phone
    assert decision.conflict and not decision.hold
    targets = {write.target: write for write in decision.writes}
    assert set(targets) == {Side.A, Side.B}
    for write in decision.writes:
        assert write.action is WriteKind.UPDATE
        assert write.fields == ANN_NEW_BOTH
        assert write.hash == digest(ANN_NEW_BOTH)
        assert write.code is ActionCode.MODIFY
    assert targets[Side.A].key == "a1" and targets[Side.B].key == "b1"
    assert decision.synced_fields == ANN_NEW_BOTH
    assert "newest kept" not in decision.message


def test_merge_writes_only_the_side_that_differs_from_the_result() -> None:
    # a changed the name; b changed the name alike and the phone: the result is b's record
    decision = both_changed(ConflictPolicy.MERGE, a_fields=ANN_NEW_NAME,
                            b_fields=ANN_NEW_BOTH)
    write = single_write(decision)
    assert write.target is Side.A
    assert write.fields == ANN_NEW_BOTH
    assert decision.b_hash == digest(ANN_NEW_BOTH)


def test_merge_clash_goes_to_the_newest() -> None:
    a_fields = {**ANN, "name": "From A", "phone": "200"}
    b_fields = {**ANN, "name": "From B"}
    decision = both_changed(ConflictPolicy.MERGE, a_fields=a_fields, b_fields=b_fields,
                            a_at=EARLY, b_at=LATE)
    expected = {**ANN, "name": "From B", "phone": "200"}
    assert {write.target for write in decision.writes} == {Side.A, Side.B}
    for write in decision.writes:
        assert write.fields == expected
    assert "newest kept: name" in decision.message


def test_merge_fields_against_a_snapshot() -> None:
    base = {name: field_token(ANN.get(name)) for name in FIELDS}
    a = Record("a1", {**ANN, "name": "A name", "email": "x@example.com"}, None, EARLY)
    b = Record("b1", {**ANN, "phone": "999", "email": "y@example.com"}, None, LATE)
    merged, clashes = merge_fields(FIELDS, a, b, base)
    assert merged == {"name": "A name", "phone": "999", "email": "y@example.com"}
    assert clashes == ["email"]


def test_merge_fields_without_snapshot_fills_empty_fields() -> None:
    a = Record("a1", {"email": "ann@example.com", "name": "Ann", "phone": None}, None, LATE)
    b = Record("b1", {"email": "ann@example.com", "name": "Annie", "phone": "555"}, None, EARLY)
    merged, clashes = merge_fields(FIELDS, a, b, None)
    assert merged == {"email": "ann@example.com", "name": "Ann", "phone": "555"}
    assert clashes == ["name"]  # both filled, different: newest (a) kept
    merged, _ = merge_fields(FIELDS, b, a, None)
    assert merged["phone"] == "555"


def test_merge_of_a_first_sync_pair_fills_empty_fields() -> None:
    a = change("a1", {"email": "ann@example.com", "name": "Ann", "phone": None})
    b = change("b1", {"email": "ann@example.com", "name": None, "phone": "555"})
    decision = only(plan_chunk(policy(ConflictPolicy.MERGE, match=("email",)), [a], [b], []))
    expected = {"email": "ann@example.com", "name": "Ann", "phone": "555"}
    assert {write.target for write in decision.writes} == {Side.A, Side.B}
    for write in decision.writes:
        assert write.fields == expected
        assert write.action is WriteKind.UPDATE
    assert (decision.a_key, decision.b_key) == ("a1", "b1")


# -- one-way links --------------------------------------------------------------------------------
ONE_WAY = [(LinkDirection.A_TO_B, Side.A), (LinkDirection.B_TO_A, Side.B)]


def _keys(source: Side) -> tuple[str, str]:
    """(source key, target key) of the pair a1 <-> b1."""
    return ("a1", "b1") if source is Side.A else ("b1", "a1")


def _split(side: Side, item: SideChange) -> tuple[list[SideChange], list[SideChange]]:
    return ([item], []) if side is Side.A else ([], [item])


@pytest.mark.parametrize(("direction", "source"), ONE_WAY)
def test_one_way_target_edit_is_reverted_from_the_source(direction: LinkDirection,
                                                         source: Side) -> None:
    _, target_key = _keys(source)
    edited = change(target_key, ANN_NEW_NAME, version="t2")
    decision = only(plan_chunk(policy(direction=direction), *_split(source.other, edited),
                               [mapping("a1", "b1", ANN)]))
    write = single_write(decision)
    assert write.target is source.other
    assert write.action is WriteKind.UPDATE
    assert write.key == target_key
    assert write.fetch and write.fields is None  # the engine reads the source first
    assert write.expected_version == "t2"
    assert (decision.a_hash if source is Side.A else decision.b_hash) == digest(ANN)


@pytest.mark.parametrize(("direction", "source"), ONE_WAY)
def test_one_way_target_deletion_is_restored(direction: LinkDirection, source: Side) -> None:
    _, target_key = _keys(source)
    decision = only(plan_chunk(policy(direction=direction),
                               *_split(source.other, change(target_key, None)),
                               [mapping("a1", "b1", ANN)]))
    write = single_write(decision)
    assert write.target is source.other
    assert write.action is WriteKind.CREATE
    assert write.fetch and write.key is None
    assert not decision.forget
    assert (decision.b_key if source is Side.A else decision.a_key) is None


@pytest.mark.parametrize(("direction", "source"), ONE_WAY)
def test_one_way_target_new_records_are_left_alone(direction: LinkDirection,
                                                   source: Side) -> None:
    assert plan_chunk(policy(direction=direction, match=("email",)),
                      *_split(source.other, change("t9", ANN)), []) == []


@pytest.mark.parametrize(("direction", "source"), ONE_WAY)
def test_one_way_source_changes_flow(direction: LinkDirection, source: Side) -> None:
    source_key, target_key = _keys(source)
    decision = only(plan_chunk(policy(direction=direction),
                               *_split(source, change(source_key, ANN_NEW_NAME)),
                               [mapping("a1", "b1", ANN)]))
    write = single_write(decision)
    assert (write.target, write.action, write.key) == (source.other, WriteKind.UPDATE,
                                                       target_key)
    assert write.fields == ANN_NEW_NAME and not write.fetch
    created = only(plan_chunk(policy(direction=direction), *_split(source, change("n1", ANN)),
                              []))
    assert single_write(created).action is WriteKind.CREATE
    assert single_write(created).target is source.other


@pytest.mark.parametrize(("direction", "source"), ONE_WAY)
@pytest.mark.parametrize("conflict", list(ConflictPolicy))
def test_one_way_source_wins_every_conflict(direction: LinkDirection, source: Side,
                                            conflict: ConflictPolicy) -> None:
    decision = both_changed(conflict, direction=direction,
                            a_at=EARLY if source is Side.A else LATE,
                            b_at=LATE if source is Side.A else EARLY)
    assert not decision.hold
    write = single_write(decision)
    assert write.target is source.other
    assert write.fields == (ANN_NEW_NAME if source is Side.A else ANN_NEW_PHONE)


@pytest.mark.parametrize(("direction", "source"), ONE_WAY)
def test_one_way_source_deletion_beats_target_change(direction: LinkDirection,
                                                     source: Side) -> None:
    source_key, target_key = _keys(source)
    deleted = change(source_key, None)
    edited = change(target_key, ANN_NEW_NAME)
    a, b = (deleted, edited) if source is Side.A else (edited, deleted)
    decision = only(plan_chunk(policy(direction=direction), [a], [b],
                               [mapping("a1", "b1", ANN)]))
    write = single_write(decision)
    assert (write.target, write.action, write.key) == (source.other, WriteKind.DELETE,
                                                       target_key)
    assert decision.forget


@pytest.mark.parametrize(("direction", "source"), ONE_WAY)
def test_one_way_source_change_recreates_what_the_target_deleted(direction: LinkDirection,
                                                                 source: Side) -> None:
    source_key, target_key = _keys(source)
    edited = change(source_key, ANN_NEW_NAME)
    deleted = change(target_key, None)
    a, b = (edited, deleted) if source is Side.A else (deleted, edited)
    decision = only(plan_chunk(policy(direction=direction), [a], [b],
                               [mapping("a1", "b1", ANN)]))
    write = single_write(decision)
    assert (write.target, write.action) == (source.other, WriteKind.CREATE)
    assert write.fields == ANN_NEW_NAME
    assert not decision.forget


# -- first-sync matching by natural key ------------------------------------------------------------
def test_match_key_normalises_text() -> None:
    assert match_key(Record("x", {"email": "  Ann@Example.COM "}), ("email",)) == \
        ("ann@example.com",)
    assert match_key(Record("x", {"email": ""}), ("email",)) is None
    assert match_key(Record("x", {"email": None}), ("email",)) is None
    assert match_key(Record("x", {"email": "a@x", "name": None}), ("email", "name")) is None
    assert match_key(Record("x", {"email": "a@x"}), ()) is None


def test_equal_records_are_linked_without_writes() -> None:
    decision = only(plan_chunk(policy(match=("email",)), [change("a1", ANN, version="av")],
                               [change("b1", ANN, version="bv")], []))
    assert decision.writes == []
    assert (decision.a_key, decision.b_key) == ("a1", "b1")
    assert decision.a_hash == decision.b_hash == digest(ANN)
    assert (decision.a_version, decision.b_version) == ("av", "bv")
    assert decision.mapping is None
    assert not (decision.forget or decision.hold)
    assert "matched by email" in decision.message


def test_matching_ignores_case_and_outer_spaces() -> None:
    a = change("a1", {**ANN, "email": " ANN@example.com"}, at=EARLY)
    b = change("b1", {**ANN, "email": "ann@EXAMPLE.com  "}, at=LATE)
    decision = only(plan_chunk(policy(match=("email",)), [a], [b], []))
    assert (decision.a_key, decision.b_key) == ("a1", "b1")
    write = single_write(decision)  # contents differ (the email's spelling): newest (b) wins
    assert (write.target, write.action, write.key) == (Side.A, WriteKind.UPDATE, "a1")
    assert decision.conflict


@pytest.mark.parametrize(("conflict", "target"), [(ConflictPolicy.A_WINS, Side.B),
                                                  (ConflictPolicy.B_WINS, Side.A)])
def test_matched_records_that_differ_are_resolved_by_policy(conflict: ConflictPolicy,
                                                            target: Side) -> None:
    decision = only(plan_chunk(policy(conflict, match=("email",)),
                               [change("a1", ANN_NEW_NAME)], [change("b1", ANN_NEW_PHONE)], []))
    write = single_write(decision)
    assert write.target is target
    assert write.action is WriteKind.UPDATE
    assert write.key == ("b1" if target is Side.B else "a1")
    assert write.fields == (ANN_NEW_NAME if target is Side.B else ANN_NEW_PHONE)


def test_matched_records_that_differ_are_held_under_manual() -> None:
    decision = only(plan_chunk(policy(ConflictPolicy.MANUAL, match=("email",)),
                               [change("a1", ANN_NEW_NAME)], [change("b1", ANN_NEW_PHONE)], []))
    assert decision.hold and decision.writes == []
    assert (decision.a_key, decision.b_key) == ("a1", "b1")


def test_matching_pairs_one_to_one_with_duplicates() -> None:
    same = {"email": "dup@example.com", "name": "Dup", "phone": None}
    a_changes = [change("a1", same), change("a2", same)]
    b_changes = [change("b1", same), change("b2", same), change("b3", same)]
    decisions = plan_chunk(policy(match=("email",)), a_changes, b_changes, [])
    pairs = [(d.a_key, d.b_key) for d in decisions if not d.writes]
    creates = [d for d in decisions if d.writes]
    assert len(pairs) == 2
    assert {a for a, _ in pairs} == {"a1", "a2"}
    assert len({b for _, b in pairs}) == 2
    (extra,) = creates
    unpaired = ({"b1", "b2", "b3"} - {b for _, b in pairs}).pop()
    assert extra.b_key == unpaired and extra.a_key is None
    assert single_write(extra).target is Side.A
    assert single_write(extra).action is WriteKind.CREATE


def test_empty_match_field_never_matches() -> None:
    nameless = {"email": None, "name": "Ann", "phone": None}
    decisions = plan_chunk(policy(match=("email",)), [change("a1", nameless)],
                           [change("b1", {**nameless, "email": ""})], [])
    assert len(decisions) == 2
    assert sorted(single_write(d).target.value for d in decisions) == ["a", "b"]
    assert all(single_write(d).action is WriteKind.CREATE for d in decisions)


def test_all_match_fields_must_agree() -> None:
    decisions = plan_chunk(policy(match=("email", "name")),
                           [change("a1", ANN)], [change("b1", {**ANN, "name": "Other"})], [])
    assert len(decisions) == 2
    assert all(single_write(d).action is WriteKind.CREATE for d in decisions)


def test_without_match_fields_nothing_is_matched() -> None:
    decisions = plan_chunk(policy(), [change("a1", ANN)], [change("b1", ANN)], [])
    assert len(decisions) == 2


def test_mapped_records_are_not_matched_again() -> None:
    """A changed mapped record is planned with its mapping, never paired by natural key."""
    row = mapping("a1", "b1", ANN)
    decisions = plan_chunk(policy(match=("email",)), [change("a1", ANN_NEW_NAME)],
                           [change("b7", ANN_NEW_NAME)], [row])
    assert len(decisions) == 2
    update = next(d for d in decisions if d.mapping is row)
    assert single_write(update).key == "b1"
    create = next(d for d in decisions if d.mapping is None)
    assert (create.b_key, single_write(create).action) == ("b7", WriteKind.CREATE)


# -- forced changes -----------------------------------------------------------------------------
def test_forced_change_is_sent_even_when_hash_is_unchanged() -> None:
    row = mapping("a1", "b1", ANN)
    decision = only(plan_chunk(policy(), [change("a1", ANN, forced=True)], [], [row]))
    write = single_write(decision)
    assert write.code is ActionCode.FORCED
    assert (write.target, write.action, write.key) == (Side.B, WriteKind.UPDATE, "b1")


def test_forced_new_record_is_journalled_as_forced() -> None:
    decision = only(plan_chunk(policy(), [], [change("b1", ANN, forced=True)], []))
    write = single_write(decision)
    assert write.code is ActionCode.FORCED
    assert write.action is WriteKind.CREATE


def test_forced_conflict_winner_is_journalled_as_forced() -> None:
    row = mapping("a1", "b1", ANN)
    decision = only(plan_chunk(policy(ConflictPolicy.A_WINS),
                               [change("a1", ANN_NEW_NAME, forced=True)],
                               [change("b1", ANN_NEW_PHONE)], [row]))
    assert single_write(decision).code is ActionCode.FORCED


# -- chunk bookkeeping ----------------------------------------------------------------------------
def test_mappings_without_changes_are_ignored_and_each_pair_planned_once() -> None:
    rows = [mapping("a1", "b1", ANN, mapping_id=1), mapping("a2", "b2", ANN, mapping_id=2),
            mapping("a1", "b1", ANN, mapping_id=1)]
    decisions = plan_chunk(policy(), [change("a1", ANN_NEW_NAME)], [], rows)
    decision = only(decisions)
    assert decision.mapping is rows[0]


def test_every_key_appears_in_at_most_one_decision() -> None:
    rows = [mapping(f"a{i}", f"b{i}", ANN, mapping_id=i) for i in range(5)]
    a_changes = [change("a0", ANN_NEW_NAME), change("a1", None), change("a2", ANN_NEW_NAME),
                 change("a9", ANN)]
    b_changes = [change("b0", ANN_NEW_PHONE), change("b1", ANN_NEW_NAME), change("b3", None),
                 change("b9", {**ANN, "email": "other@example.com"})]
    decisions = plan_chunk(policy(match=("email",)), a_changes, b_changes, rows)
    a_keys = [d.a_key for d in decisions if d.a_key is not None]
    b_keys = [d.b_key for d in decisions if d.b_key is not None]
    assert len(a_keys) == len(set(a_keys))
    assert len(b_keys) == len(set(b_keys))
    assert {"a0", "a2", "a9"} <= set(a_keys)
    assert {"b0", "b1", "b9"} <= set(b_keys)
