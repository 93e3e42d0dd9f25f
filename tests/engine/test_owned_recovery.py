"""Crash recovery with owned fields: short, explicit scenarios of a run that dies around the
writes of a create on a side that owns fields (see :mod:`syncline.engine.recovery` and
:func:`~syncline.engine.owned_apply.read_back_created`), then people edit, then the next run
recovers and syncs. Found by ``test_convergence_owned.py``; each test is one cause.

Side a owns ``name``, side b owns ``phone`` (see :func:`.test_owned.owned_harness`).
"""

from __future__ import annotations

import pytest

from syncline.model import field_token

from .syncharness import CrashPlan, Harness, SimulatedCrash
from .test_owned import HarnessFactory, owned_harness


def crashing_sync(h: Harness, at_write: int, when: str) -> None:
    with pytest.raises(SimulatedCrash):
        h.sync(crash=CrashPlan(at_write, when))


def assert_settled(h: Harness) -> None:
    h.assert_converged()
    assert h.leftover_intents() == 0
    quiet = h.sync()
    assert quiet.run_id is not None and h.journal(run_id=quiet.run_id) == []


def test_an_edit_of_a_record_created_before_a_crash_is_not_taken_as_synced(
        harness_factory: HarnessFactory) -> None:
    """The create on a was applied but the run died before settling it; then the new
    record was edited on a. Recovery reads the record back (a owns ``name``): what it holds
    now is not what the create wrote, so the edit must still count as a change and reach b
    (it was taken as synced: the mapping stored the hash of the edited record)."""
    h = owned_harness(harness_factory)
    h.b.put("contact", "b1", {"email": "ann@example.com", "name": "Ann", "phone": "1"})
    crashing_sync(h, 1, "after")  # the create on a is applied, not settled
    (a_key,) = h.records("a")
    assert h.records("a")[a_key] == {"email": "ann@example.com", "phone": "1"}
    h.a.put("contact", a_key, {"email": "ann@example.org", "name": "Ann A", "phone": "1"})
    h.sync()
    assert h.records("b")["b1"] == {"email": "ann@example.org", "name": "Ann A",
                                    "phone": "1"}
    assert h.pairs() == {a_key: "b1"}
    assert_settled(h)


@pytest.mark.parametrize(("side", "edit"), [
    ("b", {"name": "Bob"}),  # the non-owner edits a's owned field: put back to a's value
    ("a", {"name": "Ann A"}),  # the owner edits it: its value flows to b
    ("a", {"phone": "9"}),  # a edits b's owned field: b's value is put back on a
    ("b", {"phone": "9"}),  # the owner edits it: its value flows to a
    ("a", None),  # the source is deleted: so is its copy, no mapping is left behind
])
def test_an_edit_after_a_crash_before_the_put_back_settles_with_owner_values(
        harness_factory: HarnessFactory, side: str, edit: dict[str, str] | None) -> None:
    """The create on b (which leaves b's ``phone`` out) was settled, then the run died
    before the write putting b's (empty) phone back on a; then someone edited the pair."""
    h = owned_harness(lambda **options: harness_factory(max_delete="100%", **options))
    h.a.put("contact", "a1", {"email": "ann@example.com", "name": "Ann", "phone": "1"})
    crashing_sync(h, 2, "before")  # write 1: the create on b; write 2: the put-back on a
    (b_key,) = h.records("b")
    assert h.records("a")["a1"]["phone"] == "1"
    key = "a1" if side == "a" else b_key
    if edit is None:
        h.side(side).remove("contact", key)
    else:
        h.side(side).put("contact", key, {**h.records(side)[key], **edit})
    h.sync()
    if edit is None:
        assert h.records("a") == h.records("b") == {}
    else:
        name = "Ann A" if side == "a" and "name" in edit else "Ann"
        phone = "9" if side == "b" and "phone" in edit else None
        expected = tuple(field_token(value) for value in ("ann@example.com", name, phone))
        assert h.tokens("a")["a1"] == h.tokens("b")[b_key] == expected
    assert_settled(h)
