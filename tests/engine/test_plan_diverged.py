"""The planner's diverged pairs (``syncline.engine.diverged``) as pure unit tests: a first
pairing that leaves the sides different remembers the source values, owned fields whose
owner has none blank nothing, and a later change writes only what changed since."""

from __future__ import annotations

from syncline.engine.diverged import changed_since, is_diverged, settle_partial
from syncline.engine.plan import Policy, plan_chunk
from syncline.model import Record, Side, field_token
from syncline.plan_types import (
    ConflictPolicy,
    FirstSyncPolicy,
    LinkDirection,
    MappingRow,
    WriteKind,
)

from .test_plan import FIELDS, change, digest, only, single_write

ONE_WAY = Policy(LinkDirection.A_TO_B, ConflictPolicy.NEWEST, FIELDS, ("email",))
SOURCE = {"email": "bob@x", "name": "Bob", "phone": None}
TARGET = {"email": "bob@x", "name": "Bobby", "phone": "2"}
KEPT = {"email": "bob@x", "name": "Bob", "phone": "2"}


def tokens(fields: dict[str, object]) -> dict[str, str]:
    return {name: field_token(fields.get(name)) for name in FIELDS}


def owned_policy(**owned: frozenset[str]) -> Policy:
    return Policy(LinkDirection.BOTH, ConflictPolicy.NEWEST, FIELDS, ("email",),
                  first_sync=FirstSyncPolicy.MERGE, **owned)


def test_a_one_way_first_pairing_remembers_the_source_values() -> None:
    decision = only(plan_chunk(ONE_WAY, [change("a1", SOURCE)], [change("b1", TARGET)], []))
    write = single_write(decision)
    assert write.target is Side.B and write.fields == KEPT and write.hash == digest(KEPT)
    assert decision.a_hash == digest(SOURCE)
    assert decision.snapshot_fields == SOURCE


def test_a_two_way_first_pairing_that_makes_both_equal_keeps_no_snapshot() -> None:
    rule = Policy(LinkDirection.BOTH, ConflictPolicy.NEWEST, FIELDS, ("email",))
    decision = only(plan_chunk(rule, [change("a1", SOURCE)], [change("b1", TARGET)], []))
    assert decision.snapshot_fields is None


def test_an_owned_field_whose_owner_is_empty_blanks_nothing() -> None:
    """b owns phone and has none: a keeps its phone, b is written nothing it owns, the
    hashes are those of what each side holds, and the journal claims no fill-in of it."""
    rule = owned_policy(owned_b=frozenset({"phone"}))
    a = {"email": "ann@x", "name": "Ann", "phone": "9"}
    b = {"email": "ann@x", "name": None, "phone": None}
    decision = only(plan_chunk(rule, [change("a1", a)], [change("b1", b)], []))
    write = single_write(decision)
    assert write.target is Side.B and write.fields == {"email": "ann@x", "name": "Ann"}
    assert write.hash == digest({"email": "ann@x", "name": "Ann", "phone": None})
    assert decision.a_hash == digest(a)
    assert decision.snapshot_fields == {"email": "ann@x", "name": "Ann", "phone": None}
    assert decision.message == "matched by email; filled in on b: name; left as they are: " \
                               "phone (owned by b, empty there)"


def test_an_owned_value_differing_goes_to_the_other_side_without_a_conflict() -> None:
    rule = owned_policy(owned_a=frozenset({"phone"}))
    a = {"email": "ann@x", "name": "Ann", "phone": "1"}
    b = {"email": "ann@x", "name": "Ann", "phone": "2"}
    decision = only(plan_chunk(rule, [change("a1", a)], [change("b1", b)], []))
    assert not decision.conflict
    assert single_write(decision).target is Side.B
    assert decision.snapshot_fields is None
    assert decision.message == "matched by email; owner's value: phone (owned by a)"


def diverged_mapping() -> MappingRow:
    return MappingRow(1, "a1", "b1", digest(SOURCE), digest(KEPT), "av1", "bv1",
                      tokens(SOURCE))


def test_a_later_change_writes_only_what_changed_since_the_snapshot() -> None:
    assert is_diverged(diverged_mapping())
    renamed = {**SOURCE, "name": "Bob Smith"}
    decision = only(plan_chunk(ONE_WAY, [change("a1", renamed)], [], [diverged_mapping()]))
    write = single_write(decision)
    assert write.partial and write.action is WriteKind.UPDATE
    assert write.fields == {"name": "Bob Smith"}
    assert decision.message == "changed on a: name"

    settle_partial(ONE_WAY, decision, write, Record("b1", dict(KEPT), "bv1"),
                   Record("a1", renamed, "av2"))
    settled = single_write(decision)
    assert settled.fields == {**KEPT, "name": "Bob Smith"} and not settled.partial
    assert decision.b_hash == settled.hash == digest({**KEPT, "name": "Bob Smith"})
    assert decision.snapshot_fields == renamed


def test_a_cleared_field_is_written_as_a_change() -> None:
    assert changed_since(ONE_WAY, tokens({**SOURCE, "phone": "1"}), SOURCE, Side.B) \
        == {"phone": None}


def test_a_pair_that_ends_equal_drops_its_snapshot() -> None:
    filled = {**SOURCE, "phone": "2"}
    decision = only(plan_chunk(ONE_WAY, [change("a1", filled)], [], [diverged_mapping()]))
    write = single_write(decision)
    assert write.fields == {"phone": "2"}
    settle_partial(ONE_WAY, decision, write, Record("b1", dict(KEPT), "bv1"),
                   Record("a1", filled, "av2"))
    assert decision.writes == [] and decision.quiet
    assert decision.b_hash == digest(KEPT) == decision.a_hash
    assert decision.snapshot_fields is None


def test_a_pair_whose_sides_were_equal_is_copied_whole() -> None:
    equal = MappingRow(1, "a1", "b1", digest(SOURCE), digest(SOURCE), "av1", "bv1",
                       tokens(SOURCE))
    assert not is_diverged(equal)
    renamed = {**SOURCE, "name": "Bob Smith"}
    write = single_write(only(plan_chunk(ONE_WAY, [change("a1", renamed)], [], [equal])))
    assert not write.partial and write.fields == renamed


def test_an_unsettled_pairing_decided_again_blanks_no_owned_value() -> None:
    """Decided again (its first write failed), the pairing still leaves a's phone: b owns
    phone and has none."""
    from syncline.engine.first_pair import unsettled_mapping

    rule = owned_policy(owned_b=frozenset({"phone"}))
    a = {"email": "ann@x", "name": "Ann", "phone": "9"}
    b = {"email": "ann@x", "name": "Ann", "phone": None}
    row = unsettled_mapping(1, "a1", "b1", "av1", "bv1")
    decision = only(plan_chunk(rule, [change("a1", a)], [change("b1", b)], [row]))
    assert decision.writes == [] and decision.quiet
    assert (decision.a_hash, decision.b_hash) == (digest(a), digest(b))
    assert decision.snapshot_fields == b


def test_first_sync_a_wins_does_not_blank_the_value_b_owns_and_lacks() -> None:
    rule = Policy(LinkDirection.BOTH, ConflictPolicy.NEWEST, FIELDS, ("email",),
                  first_sync=FirstSyncPolicy.B_WINS, owned_a=frozenset({"phone"}))
    a = {"email": "ann@x", "name": "Ann", "phone": None}
    b = {"email": "ann@x", "name": "Annie", "phone": "9"}
    decision = only(plan_chunk(rule, [change("a1", a)], [change("b1", b)], []))
    write = single_write(decision)
    assert write.target is Side.A and write.fields == {"email": "ann@x", "name": "Annie"}
    assert decision.b_hash == digest(b)
