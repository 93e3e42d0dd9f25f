"""Owned fields (``[links.NAME.owners.STREAM]``): the planner as pure unit tests, and the
engine end to end on memory connectors.

Side a owns ``name``, side b owns ``phone`` (``email`` is shared both ways). A field owned by a
side is never written there from the other side; the converged state holds the owner's value
on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncline.config import parse_config
from syncline.connectors.base import WriteBatch, WriteResult
from syncline.engine import RunRequest
from syncline.engine.plan import Decision, Policy, SideChange, plan_chunk
from syncline.errors import ConfigError
from syncline.model import ActionCode, Record, Side, content_hash, field_token
from syncline.plan_types import ConflictPolicy, LinkDirection, MappingRow, WriteKind

from .syncharness import Harness, HarnessConnector

FIELDS = ("email", "name", "phone")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EARLY, LATE = T0, T0 + timedelta(minutes=5)
ANN = {"email": "ann@example.com", "name": "Ann", "phone": "100"}


def policy(conflict: ConflictPolicy = ConflictPolicy.NEWEST,
           direction: LinkDirection = LinkDirection.BOTH) -> Policy:
    return Policy(direction, conflict, FIELDS, ("email",),
                  keep_snapshot=conflict is ConflictPolicy.MERGE,
                  owned_a=frozenset({"name"}), owned_b=frozenset({"phone"}))


def digest(fields: dict[str, Any]) -> bytes:
    return content_hash(fields, FIELDS)


def change(key: str, fields: dict[str, Any], *, at: datetime | None = None,
           version: str = "v2") -> SideChange:
    return SideChange(key, Record(key, dict(fields), version, at), digest(fields))


def mapping(fields: dict[str, Any], *, snapshot: bool = False) -> MappingRow:
    from syncline.model import field_token

    tokens = {name: field_token(fields.get(name)) for name in FIELDS} if snapshot else None
    return MappingRow(1, "a1", "b1", digest(fields), digest(fields), "av1", "bv1", tokens)


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1, decisions
    return decisions[0]


def writes_to(decision: Decision, side: Side) -> list[dict[str, Any] | None]:
    return [write.fields for write in decision.writes if write.target is side]


# -- the planner ---------------------------------------------------------------------------
def test_a_create_leaves_the_targets_owned_fields_out() -> None:
    to_b = only(plan_chunk(policy(), [change("a1", ANN)], [], []))
    assert writes_to(to_b, Side.B) == [{"email": "ann@example.com", "name": "Ann"}]
    to_a = only(plan_chunk(policy(), [], [change("b1", ANN)], []))
    assert writes_to(to_a, Side.A) == [{"email": "ann@example.com", "phone": "100"}]
    assert to_a.writes[0].action is WriteKind.CREATE


def test_a_one_sided_change_asks_for_the_targets_owned_values() -> None:
    """The target's record is not in the chunk: its owned values are read before writing."""
    changed = {**ANN, "email": "ann@new.example", "phone": "999"}
    decision = only(plan_chunk(policy(), [change("a1", changed)], [], [mapping(ANN)]))
    (write,) = decision.writes
    assert write.target is Side.B and write.fill_owned
    assert write.fields is not None and "phone" not in write.fields


def test_a_one_sided_change_with_the_targets_echo_is_settled_at_once() -> None:
    changed = {**ANN, "email": "ann@new.example", "phone": "999"}
    decision = only(plan_chunk(policy(), [change("a1", changed)], [change("b1", ANN)],
                               [mapping(ANN)]))
    settled = {**changed, "phone": "100"}  # b owns the phone: a's edit of it goes back
    assert writes_to(decision, Side.B) == [{"email": "ann@new.example", "name": "Ann"}]
    assert writes_to(decision, Side.A) == [{"email": "ann@new.example", "phone": "100"}]
    assert decision.a_hash == decision.b_hash == digest(settled)
    assert decision.synced_fields == settled


def test_a_non_owner_edit_of_an_owned_field_only_is_put_back() -> None:
    edited = {**ANN, "phone": "555"}  # a does not own the phone
    decision = only(plan_chunk(policy(), [change("a1", edited)], [change("b1", ANN)],
                               [mapping(ANN)]))
    assert writes_to(decision, Side.B) == []
    assert writes_to(decision, Side.A) == [{"email": "ann@example.com", "phone": "100"}]
    assert decision.a_hash == decision.b_hash == digest(ANN)


def test_a_one_sided_change_on_b_keeps_a_owned_values() -> None:
    changed = {**ANN, "name": "Annie", "phone": "200"}  # b does not own the name
    decision = only(plan_chunk(policy(), [change("a1", ANN)], [change("b1", changed)],
                               [mapping(ANN)]))
    settled = {**ANN, "phone": "200"}
    assert writes_to(decision, Side.A) == [{"email": "ann@example.com", "phone": "200"}]
    assert writes_to(decision, Side.B) == [{"email": "ann@example.com", "name": "Ann"}]
    assert decision.a_hash == decision.b_hash == digest(settled)


def test_a_record_deleted_on_one_side_and_changed_on_the_other_is_recreated_without_owned(
        ) -> None:
    changed = {**ANN, "email": "ann@new.example"}
    decision = only(plan_chunk(policy(), [SideChange("a1", None, None)],
                               [change("b1", changed)], [mapping(ANN)]))
    (write,) = decision.writes
    assert (write.target, write.action) == (Side.A, WriteKind.CREATE)
    assert write.fields == {"email": "ann@new.example", "phone": "100"}


def test_the_bulk_create_lane_is_not_used_with_owners() -> None:
    from syncline.engine.bulk_plan import plan_creates

    assert plan_creates(policy(), Side.A, [change("a1", ANN)]) is None
    plain = Policy(LinkDirection.BOTH, ConflictPolicy.NEWEST, FIELDS, ("email",))
    assert plan_creates(plain, Side.A, [change("a1", ANN)]) is not None


@pytest.mark.parametrize("conflict", [ConflictPolicy.A_WINS, ConflictPolicy.B_WINS,
                                      ConflictPolicy.NEWEST, ConflictPolicy.MERGE])
def test_a_conflict_gives_owned_fields_the_owners_value_whatever_the_policy(
        conflict: ConflictPolicy) -> None:
    a_side = {"email": "a@example.com", "name": "Ann A", "phone": "1"}
    b_side = {"email": "b@example.com", "name": "Ann B", "phone": "2"}
    decision = only(plan_chunk(policy(conflict),
                               [change("a1", a_side, at=LATE)], [change("b1", b_side, at=EARLY)],
                               [mapping(ANN, snapshot=conflict is ConflictPolicy.MERGE)]))
    email = "b@example.com" if conflict is ConflictPolicy.B_WINS else "a@example.com"
    settled = {"email": email, "name": "Ann A", "phone": "2"}
    assert decision.synced_fields == settled
    assert decision.a_hash == decision.b_hash == digest(settled)
    assert writes_to(decision, Side.B) == [{"email": email, "name": "Ann A"}]
    assert writes_to(decision, Side.A) == [{"email": email, "phone": "2"}]


def test_a_merge_keeps_one_sided_edits_and_owner_values() -> None:
    a_side = {**ANN, "email": "ann@new.example", "phone": "7"}  # phone: not a's
    b_side = {**ANN, "name": "Ann B"}  # name: not b's
    decision = only(plan_chunk(policy(ConflictPolicy.MERGE), [change("a1", a_side)],
                               [change("b1", b_side)], [mapping(ANN, snapshot=True)]))
    settled = {"email": "ann@new.example", "name": "Ann", "phone": "100"}
    assert decision.synced_fields == settled
    assert writes_to(decision, Side.A) == [{"email": "ann@new.example", "phone": "100"}]
    assert writes_to(decision, Side.B) == [{"email": "ann@new.example", "name": "Ann"}]


def test_a_manual_conflict_is_held_untouched() -> None:
    decision = only(plan_chunk(policy(ConflictPolicy.MANUAL),
                               [change("a1", {**ANN, "email": "x@example.com"})],
                               [change("b1", {**ANN, "email": "y@example.com"})],
                               [mapping(ANN)]))
    assert decision.hold and decision.writes == []


def test_a_forced_write_is_kept_although_nothing_differs() -> None:
    forced = replace(change("a1", ANN), forced=True)
    decision = only(plan_chunk(policy(), [forced], [change("b1", ANN)], [mapping(ANN)]))
    assert [(w.target, w.code) for w in decision.writes] == [(Side.B, ActionCode.FORCED)]


# -- configuration -------------------------------------------------------------------------
def _raw(owners: dict[str, Any]) -> dict[str, Any]:
    endpoint = {"connector": "memory", "streams": {"contact": {"fields": list(FIELDS)}}}
    return {"endpoints": {"crm": endpoint, "books": endpoint},
            "links": {"l": {"a": "crm", "b": "books", "streams": ["contact"],
                            "owners": owners}}}


@pytest.mark.parametrize(("owners", "key", "text"), [
    ({"contacts": {"a": ["name"]}}, "links.l.owners.contacts", "did you mean 'contact'"),
    ({"contact": {"a": ["nmae"]}}, "links.l.owners.contact.a", "did you mean 'name'"),
    ({"contact": {"a": ["name"], "b": ["name"]}}, "links.l.owners.contact.b",
     "owned by both sides"),
    ({"contact": {"c": ["name"]}}, "links.l.owners.contact.c", "allowed: a, b"),
])
def test_owners_are_checked(owners: dict[str, Any], key: str, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_raw(owners), base_dir=__import__("pathlib").Path("."))
    assert caught.value.key == key
    assert text in str(caught.value)


# -- end to end on memory connectors -------------------------------------------------------
HarnessFactory = Callable[..., Harness]


def owned_harness(factory: HarnessFactory, *, conflict: str = "newest",
                  a_fields: list[str] | None = None) -> Harness:
    """A harness whose link gives ``name`` to a and ``phone`` to b."""
    h = factory(conflict=conflict, log_writes=True,
                **({"streams": {"contact": a_fields},
                    "b_streams": {"contact": list(FIELDS)}} if a_fields else {}))
    raw = dict(h.config.raw)
    link = dict(raw["links"]["l"])
    link["owners"] = {"contact": {"a": ["name"], "b": ["phone"]}}
    raw["links"] = {"l": link}
    return replace(h, config=parse_config(raw, base_dir=h.config.base_dir))


def test_creates_leave_owned_fields_out_and_the_owners_values_flow_back(
        harness_factory: HarnessFactory) -> None:
    h = owned_harness(harness_factory)
    h.a.put("contact", "a1", {"email": "ann@example.com", "name": "Ann", "phone": "1"})
    h.b.put("contact", "b1", {"email": "bob@example.com", "name": "Bob", "phone": "2"})
    summary = h.sync()
    assert summary.outcome.value in ("ok", "warning")
    # b's copy of Ann got no phone (b owns it; b's default is empty) and a follows b; a's
    # copy of Bob got no name (a owns it) and b follows a
    def tokens(side: str) -> list[tuple[str, ...]]:
        return sorted(h.tokens(side, names=list(FIELDS)).values())

    assert tokens("a") == tokens("b") == sorted([
        (field_token("ann@example.com"), field_token("Ann"), field_token(None)),
        (field_token("bob@example.com"), field_token(None), field_token("2"))])
    h.assert_converged()
    quiet = h.sync()
    assert quiet.run_id is not None and h.journal(run_id=quiet.run_id) == []


def test_a_non_owner_edit_is_reverted_and_the_owner_edit_flows(
        harness_factory: HarnessFactory) -> None:
    h = owned_harness(harness_factory)
    h.a.put("contact", "a1", {"email": "ann@example.com", "name": "Ann", "phone": None})
    h.sync()
    (b_key,) = h.records("b")
    h.b.put("contact", b_key, {"email": "ann@example.com", "name": "Annie", "phone": "77"})
    h.sync()
    # b's name edit is not copied to a (a owns the name) and is put back on b; b's phone goes
    assert h.records("a")["a1"] == {"email": "ann@example.com", "name": "Ann", "phone": "77"}
    assert h.records("b")[b_key] == {"email": "ann@example.com", "name": "Ann", "phone": "77"}
    h.a.put("contact", "a1", {"email": "ann@example.com", "name": "Ann Smith", "phone": "99"})
    h.sync()
    assert h.records("a")["a1"]["phone"] == "77"
    assert h.records("b")[b_key] == {"email": "ann@example.com", "name": "Ann Smith",
                                     "phone": "77"}
    h.assert_converged()
    quiet = h.sync()
    assert quiet.run_id is not None and h.journal(run_id=quiet.run_id) == []


@pytest.mark.parametrize("conflict", ["a-wins", "b-wins", "newest", "merge"])
def test_a_conflict_settles_with_owner_values(harness_factory: HarnessFactory,
                                              conflict: str) -> None:
    h = owned_harness(harness_factory, conflict=conflict)
    h.a.put("contact", "a1", {"email": "ann@example.com", "name": "Ann", "phone": None})
    h.sync()
    (b_key,) = h.records("b")
    h.a.put("contact", "a1", {"email": "ann@example.com", "name": "Ann A", "phone": "1"})
    h.b.put("contact", b_key, {"email": "ann@example.com", "name": "Ann B", "phone": "2"})
    h.sync()
    expected = {"email": "ann@example.com", "name": "Ann A", "phone": "2"}
    assert h.records("a")["a1"] == expected
    assert h.records("b")[b_key] == expected
    quiet = h.sync()
    assert quiet.run_id is not None and h.journal(run_id=quiet.run_id) == []


def test_an_owned_field_not_mapped_by_both_is_a_config_error(
        harness_factory: HarnessFactory) -> None:
    h = owned_harness(harness_factory, a_fields=["email", "phone"])  # a maps no name
    with pytest.raises(ConfigError) as caught:
        h.sync()
    assert caught.value.key == "links.l.owners.contact.a"
    assert "'name' is not mapped by both endpoints" in str(caught.value)


# -- read-only fields ----------------------------------------------------------------------
class BooksComputePhone(HarnessConnector):
    """A memory endpoint whose side b (``books``) computes the phone: it reads it but
    ignores it on write, as the accounting connectors do with their totals."""

    def read_only_fields(self, stream: str) -> frozenset[str]:
        return frozenset({"phone"}) if self.endpoint == "books" else frozenset()

    def write(self, batch: WriteBatch) -> list[WriteResult]:
        if self.endpoint == "books":
            for operation in batch.operations:
                if operation.fields is not None:
                    operation.fields = {name: value for name, value in operation.fields.items()
                                        if name != "phone"}
        return super().write(batch)


def _sync_with(h: Harness, connector: type[HarnessConnector]) -> Any:
    summary = h.engine(connector=connector).run(RunRequest(h.link))
    h.runs.append(summary)
    return summary


def test_read_only_fields_are_owned_by_their_side(harness_factory: HarnessFactory) -> None:
    h = harness_factory(log_writes=True)
    h.a.put("contact", "a1", {"email": "ann@example.com", "name": "Ann", "phone": "1"})
    _sync_with(h, BooksComputePhone)
    (b_key,) = h.records("b")
    assert "phone" not in h.records("b")[b_key]  # never sent to b
    assert h.records("a")["a1"]["phone"] is None  # b's (empty) value flows to a
    h.b.put("contact", b_key, {"email": "ann@example.com", "name": "Ann", "phone": "42"})
    h.a.put("contact", "a1", {"email": "ann@example.com", "name": "Ann", "phone": "7"})
    _sync_with(h, BooksComputePhone)
    assert h.records("a")["a1"]["phone"] == "42"
    h.assert_converged()
    quiet = _sync_with(h, BooksComputePhone)
    assert quiet.run_id is not None and h.journal(run_id=quiet.run_id) == []


def test_a_field_owned_by_a_and_read_only_on_b_is_not_synced(
        harness_factory: HarnessFactory) -> None:
    """The order system owns its status, the books compute theirs: each keeps its own."""
    h = harness_factory(log_writes=True)
    raw = dict(h.config.raw)
    raw["links"] = {"l": {**raw["links"]["l"], "owners": {"contact": {"a": ["phone"]}}}}
    h = replace(h, config=parse_config(raw, base_dir=h.config.base_dir))
    h.a.put("contact", "a1", {"email": "ann@example.com", "name": "Ann", "phone": "1"})
    _sync_with(h, BooksComputePhone)
    (b_key,) = h.records("b")
    h.b.put("contact", b_key, {"email": "ann@example.com", "name": "Ann B", "phone": "42"})
    _sync_with(h, BooksComputePhone)
    assert h.records("a")["a1"] == {"email": "ann@example.com", "name": "Ann B", "phone": "1"}
    assert h.records("b")[b_key]["phone"] == "42"
