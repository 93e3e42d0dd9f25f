"""Convergence with owned fields: a hypothesis state machine over two memory endpoints whose
link gives ``name`` to side a and ``phone`` to side b (``email`` is shared both ways), reusing
the harness of ``test_convergence.py``.

Random creates, updates (owned fields edited on the non-owner side included) and deletes on
both sides, from small value spaces so that conflicts and natural-key matches happen,
interleaved with incremental and full syncs and with crashes in the middle of a sync's
writes. Checked:

- after every sync, crashed or not: a record that was on side X before the sync and still
  is keeps the value of the field X owns (it is never written there from the other side),
  and a record the sync created on X holds X's default (empty) there;
- after every sync that completes: both sides hold equal records under the mapping (owned
  fields holding the owner's value, or the other side's own where the owner's is empty),
  every record is mapped once and no record was copied twice onto a side (no duplicates),
  nothing is left half done, and the next sync is quiet.

Example counts: ``SYNCLINE_CONVERGENCE_EXAMPLES`` (default 100) and
``SYNCLINE_CONVERGENCE_STEPS`` (default 30), as for ``test_convergence.py``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from syncline.config import parse_config
from syncline.engine import RunMode, RunOutcome
from syncline.model import field_token

from .syncharness import (
    CONTACT_FIELDS,
    CrashPlan,
    Harness,
    SimulatedCrash,
    check_lineage,
    convergence_settings,
    make_harness,
)

OWNED = {"a": "name", "b": "phone"}
EMAILS = ["ann@example.com", "ANN@example.com ", "bob@example.com", None]
VALUES = ["Ann", "Bob", "1", "2", None]
SIDES = st.sampled_from(["a", "b"])
FIELDS = st.sampled_from(CONTACT_FIELDS)
SPEC = st.tuples(st.sampled_from(EMAILS), st.sampled_from(VALUES), st.sampled_from(VALUES))
EDIT = st.none() | st.tuples(FIELDS, st.sampled_from(VALUES))


class OwnedSyncMachine(RuleBasedStateMachine):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="syncline-owned-"))
        self.h: Harness | None = None
        self.counter = 0
        self.origin: dict[tuple[str, str], str] = {}  # (side, key) -> the user record copied
        self.journal_seen = 0

    def teardown(self) -> None:
        if self.h is not None:
            self.h.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def harness(self) -> Harness:
        assert self.h is not None
        return self.h

    @initialize(policy=st.sampled_from(["newest", "a-wins", "b-wins", "merge"]),
                log_writes=st.booleans(), batch_size=st.sampled_from([1, 2, 500]),
                a_records=st.lists(SPEC, max_size=5), b_records=st.lists(SPEC, max_size=5))
    def make_link(self, policy: str, log_writes: bool, batch_size: int,
                  a_records: list[tuple[Any, ...]], b_records: list[tuple[Any, ...]]) -> None:
        h = make_harness(self.folder, conflict=policy, log_writes=log_writes,
                         batch_size=batch_size, max_delete="100%")
        raw = dict(h.config.raw)
        raw["links"] = {"l": {**raw["links"]["l"], "owners": {
            "contact": {side: [name] for side, name in OWNED.items()}}}}
        self.h = replace(h, config=parse_config(raw, base_dir=h.config.base_dir))
        self.create("a", a_records)
        self.create("b", b_records)

    # -- what users do --------------------------------------------------------------------------
    @rule(side=SIDES, records=st.lists(SPEC, min_size=1, max_size=3))
    def create(self, side: str, records: list[tuple[Any, ...]]) -> None:
        for email, name, phone in records:
            self.counter += 1
            key = f"u{side}{self.counter}"
            self.harness.side(side).put("contact", key,
                                        {"email": email, "name": name, "phone": phone})
            self.origin[(side, key)] = f"{side}:{key}"

    @rule(side=SIDES, edits=st.lists(st.tuples(st.integers(0, 30), FIELDS,
                                               st.sampled_from(VALUES)), min_size=1, max_size=3))
    def update(self, side: str, edits: list[tuple[int, str, Any]]) -> None:
        """Edits of any field, owned ones on the non-owner side included."""
        for pick, name, value in edits:
            records = self.harness.records(side)
            if not records:
                return
            key = sorted(records)[pick % len(records)]
            self.harness.side(side).put("contact", key, {**records[key], name: value})

    @rule(side=SIDES, pick=st.integers(0, 30))
    def delete(self, side: str, pick: int) -> None:
        records = self.harness.records(side)
        if records:
            self.harness.side(side).remove("contact", sorted(records)[pick % len(records)])

    @rule(pick=st.integers(0, 30), a_edit=EDIT, b_edit=EDIT)
    def edit_both_sides_of_a_pair(self, pick: int, a_edit: tuple[str, Any] | None,
                                  b_edit: tuple[str, Any] | None) -> None:
        """Change (or delete, ``None``) both records of a synced pair: a conflict."""
        pairs = sorted(self.harness.pairs().items())
        if not pairs:
            return
        keys = dict(zip(("a", "b"), pairs[pick % len(pairs)], strict=True))
        for side, edit in (("a", a_edit), ("b", b_edit)):
            records = self.harness.records(side)
            if keys[side] not in records:
                continue
            if edit is None:
                self.harness.side(side).remove("contact", keys[side])
            else:
                name, value = edit
                self.harness.side(side).put("contact", keys[side],
                                            {**records[keys[side]], name: value})

    # -- syncing --------------------------------------------------------------------------------
    @rule(full=st.booleans(),
          crash=st.none() | st.tuples(st.integers(1, 3), st.sampled_from(["before", "after"])))
    def sync(self, full: bool, crash: tuple[int, str] | None) -> None:
        h = self.harness
        before = {side: h.records(side) for side in ("a", "b")}
        try:
            summary = h.sync(mode=RunMode.FULL if full else RunMode.INCREMENTAL,
                             crash=CrashPlan(*crash) if crash is not None else None)
        except SimulatedCrash:
            self.check_owners_untouched(before)
            return
        self.check_owners_untouched(before)
        assert summary.outcome is RunOutcome.OK, (summary.messages,
                                                  h.journal(run_id=summary.run_id,
                                                            outcome="error"))
        assert h.leftover_intents() == 0
        h.assert_converged(names=[name for name in CONTACT_FIELDS
                                  if name not in OWNED.values()])
        self.check_owned_converged()
        self.check_lineage()
        quiet = h.sync()
        assert sum(quiet.streams["contact"].to_json().values()) == 0, \
            h.journal(run_id=quiet.run_id)

    # -- the checks -----------------------------------------------------------------------------
    def check_owners_untouched(self, before: dict[str, dict[str, dict[str, Any]]]) -> None:
        """A side's owned field is never written from the other side: records it had keep
        their value; records the sync created there hold the default (empty)."""
        for side, owned in OWNED.items():
            for key, fields in self.harness.records(side).items():
                value = field_token(fields.get(owned))
                if key in before[side]:
                    assert value == field_token(before[side][key].get(owned)), \
                        f"{owned} of {side} {key} was written from the other side"
                else:
                    assert value == field_token(None), \
                        f"{side} {key} was created with {owned} from the other side"

    def check_owned_converged(self) -> None:
        """Under every mapping, an owned field holds its owner's value on the other side
        too, except where the owner's is empty: the other side's value then stays."""
        h = self.harness
        records = {side: h.records(side) for side in ("a", "b")}
        for row in h.mappings():
            keys = {"a": row.a_key, "b": row.b_key}
            for owner, owned in OWNED.items():
                other = "b" if owner == "a" else "a"
                value = field_token(records[owner][keys[owner]].get(owned))
                if value != field_token(None):
                    assert field_token(records[other][keys[other]].get(owned)) == value, \
                        f"{owned} of {other} {keys[other]} is not its owner's value"

    def check_lineage(self) -> None:
        """See :func:`~.syncharness.check_lineage`."""
        self.journal_seen = check_lineage(
            self.harness, self.origin, self.journal_seen,
            {side: self.harness.records(side) for side in ("a", "b")})

    @invariant()
    def mappings_are_one_to_one(self) -> None:
        if self.h is None:
            return
        rows = self.h.mappings()
        assert len({row.a_key for row in rows}) == len(rows)
        assert len({row.b_key for row in rows}) == len(rows)


OwnedSyncMachine.TestCase.settings = convergence_settings()
TestOwnedConvergence = OwnedSyncMachine.TestCase
