"""Convergence: a hypothesis state machine over two memory endpoints (after vdirsyncer's
``tests/unit/sync/test_sync.py``).

Random creates, updates and deletes on both sides, from small key and value spaces so that
conflicts and natural-key matches happen (and records made on both sides with the same
e-mail before the first sync, each lacking values the other has), interleaved with
incremental and full syncs, with crashes injected in the middle of a sync's writes and with
write failures injected for a while (the memory store refuses writes to chosen keys with an
item error). After every sync, also one with failures or a crash:

- no record is copied twice onto a side and every mapping is one to one (no duplicates,
  however often a write fails or a run dies);
- a first pairing (two records linked by natural key, or a pairing not yet written) never
  blanks a value that was filled on either side.

After every sync that completes without failures:

- both sides hold the same records under the mapping, every record is mapped exactly once
  (no duplicates), and nothing is left half-done (no intents, the next sync is quiet);
- nothing is lost except as the link's conflict policy says: a record created since the
  previous sync attempt still exists; a record given content never seen before still exists
  (unless the other side deleted it and won by policy); and, when no crash happened since
  the last completed sync, a change made on one side only reaches the other side intact,
  and a change made on both sides is resolved as the policy says; records first paired by
  natural key take each other's values where their own are empty, and differing values as
  ``first_sync`` and the conflict policy say.

Example counts: ``SYNCLINE_CONVERGENCE_EXAMPLES`` (default 100) and
``SYNCLINE_CONVERGENCE_STEPS`` (default 30); ``SYNCLINE_CONVERGENCE_SHRINK=0`` reports the
first failing example as found, without the (possibly long) search for a smaller one (the
default when ``CI=true``; ``SYNCLINE_CONVERGENCE_SHRINK=1`` shrinks there too).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from syncline.engine import RunMode, RunOutcome
from syncline.engine.first_pair import is_unsettled
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

Content = tuple[str, ...]  # field tokens in the order of CONTACT_FIELDS (email, name, phone)

EMAILS = ["ann@example.com", "ANN@example.com ", "bob@example.com", None]
NAMES = ["Ann", "Bob", None]
PHONES = ["1", "2", None]
FRESH = "<fresh>"  # replaced by a value never used before
SIDES = st.sampled_from(["a", "b"])
EMPTY = field_token(None)


def _values(choices: list[str | None]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.sampled_from(choices), st.just(FRESH))


Spec = tuple[str | None, str | None, str | None]  # email, name, phone
SPEC = st.tuples(_values(EMAILS), _values(NAMES), _values(PHONES))
RECORDS = st.lists(SPEC, max_size=6)
TWINS = st.lists(st.tuples(SPEC, SPEC), max_size=3)
EDIT = st.none() | st.tuples(st.sampled_from(CONTACT_FIELDS), _values(["Ann", "Bob", "1", None]))


def tokens(fields: dict[str, Any]) -> Content:
    return tuple(field_token(fields.get(name)) for name in CONTACT_FIELDS)


def match_token(fields: dict[str, Any]) -> str | None:
    email = fields.get("email")
    return email.strip().casefold() if isinstance(email, str) and email.strip() else None


class SyncMachine(RuleBasedStateMachine):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="syncline-convergence-"))
        self.h: Harness | None = None
        self.policy = "newest"
        self.first_sync = "merge"
        self.direction = "both"
        self.counter = 0
        self.counter_of_key = 0  # the number in the key of the last record created
        # what users did since the last sync attempt, per side: records given content never
        # seen before, and records created
        self.changed: dict[str, dict[str, Content]] = {"a": {}, "b": {}}
        self.created: dict[str, set[str]] = {"a": set(), "b": set()}
        self.crashed_since_sync = False
        self.last_crashed = False  # the last sync attempt died
        self.touched: set[tuple[str, str]] = set()  # (side, key) edited since that attempt
        self.seen: set[Content] = set()
        self.base: dict[str, Content] = {}  # a-key -> content at the last completed sync
        self.origin: dict[tuple[str, str], str] = {}  # (side, key) -> the user record copied
        self.journal_seen = 0

    def teardown(self) -> None:
        if self.h is not None:
            self.h.store.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- set-up -------------------------------------------------------------------------------
    @initialize(policy=st.sampled_from(["newest", "a-wins", "b-wins", "merge"]),
                first_sync=st.sampled_from(["merge", "merge", "a-wins", "b-wins"]),
                direction=st.sampled_from(["both", "both", "a-to-b", "b-to-a"]),
                log_writes=st.booleans(), batch_size=st.sampled_from([1, 2, 500]),
                a_records=RECORDS, b_records=RECORDS, twins=TWINS,
                failing=st.sampled_from([None, "a", "b"]))
    def make_link(self, policy: str, first_sync: str, direction: str, log_writes: bool,
                  batch_size: int, a_records: list[Spec], b_records: list[Spec],
                  twins: list[tuple[Spec, Spec]], failing: str | None) -> None:
        """The link, and what both systems hold before it is first synced: ``twins`` are
        records made on both sides with the same new e-mail (first pairings); writes to
        the twins on side ``failing`` fail until :meth:`heal`."""
        self.policy = policy
        self.first_sync = first_sync
        self.direction = direction
        self.h = make_harness(self.folder, conflict=policy, first_sync=first_sync,
                              direction=direction, log_writes=log_writes,
                              batch_size=batch_size, max_delete="100%")
        self.create("a", a_records)
        self.create("b", b_records)
        for a_spec, b_spec in twins:
            email = self.fresh(FRESH, "email")
            for side, spec in (("a", a_spec), ("b", b_spec)):
                self.create(side, [(email, *spec[1:])])
                if side == failing:
                    self.harness.side(side).fail_keys.add(f"u{side}{self.counter_of_key}")

    @property
    def harness(self) -> Harness:
        assert self.h is not None
        return self.h

    def fresh(self, value: str | None, field: str) -> str | None:
        if value != FRESH:
            return value
        self.counter += 1
        return f"fresh{self.counter}@example.com" if field == "email" else f"v{self.counter}"

    def remember(self, side: str, key: str, fields: dict[str, Any]) -> None:
        self.touched.add((side, key))
        content = tokens(fields)
        if content in self.seen:
            self.changed[side].pop(key, None)
        else:
            self.changed[side][key] = content
        self.observe()

    def observe(self) -> None:
        for side in ("a", "b"):
            self.seen.update(self.harness.tokens(side).values())

    # -- what users do ------------------------------------------------------------------------
    @rule(side=SIDES, records=st.lists(SPEC, min_size=1, max_size=3))
    def create(self, side: str, records: list[Spec]) -> None:
        for email, name, phone in records:
            self.counter += 1
            key = f"u{side}{self.counter}"
            self.counter_of_key = self.counter
            fields = {"email": self.fresh(email, "email"), "name": self.fresh(name, "name"),
                      "phone": self.fresh(phone, "phone")}
            self.harness.side(side).put("contact", key, fields)
            self.created[side].add(key)
            self.origin[(side, key)] = f"{side}:{key}"
            self.remember(side, key, fields)

    @rule(side=SIDES, edits=st.lists(st.tuples(st.integers(0, 30),
                                               st.sampled_from(CONTACT_FIELDS),
                                               _values(["Ann", "Bob", "1", None])),
                                     min_size=1, max_size=3))
    def update(self, side: str, edits: list[tuple[int, str, str | None]]) -> None:
        for pick, field, value in edits:
            records = self.harness.records(side)
            if not records:
                return
            key = sorted(records)[pick % len(records)]
            fields = {**records[key], field: self.fresh(value, field)}
            self.harness.side(side).put("contact", key, fields)
            self.remember(side, key, fields)

    @rule(side=SIDES, pick=st.integers(0, 30))
    def delete(self, side: str, pick: int) -> None:
        records = self.harness.records(side)
        if not records:
            return
        self._delete(side, sorted(records)[pick % len(records)])

    def _delete(self, side: str, key: str) -> None:
        self.harness.side(side).remove("contact", key)
        self.touched.add((side, key))
        self.changed[side].pop(key, None)
        self.created[side].discard(key)

    @rule(pick=st.integers(0, 30), a_edit=EDIT, b_edit=EDIT)
    def edit_both_sides_of_a_pair(self, pick: int, a_edit: tuple[str, str | None] | None,
                                  b_edit: tuple[str, str | None] | None) -> None:
        """Change (or delete, ``None``) both records of a synced pair: a conflict."""
        pairs = sorted(self.harness.pairs().items())
        if not pairs:
            return
        keys = dict(zip(("a", "b"), pairs[pick % len(pairs)], strict=True))
        for side, edit in (("a", a_edit), ("b", b_edit)):
            records = self.harness.records(side)
            key = keys[side]
            if key not in records:
                continue
            if edit is None:
                self._delete(side, key)
                continue
            field, value = edit
            fields = {**records[key], field: self.fresh(value, field)}
            self.harness.side(side).put("contact", key, fields)
            self.remember(side, key, fields)

    # -- write failures -----------------------------------------------------------------------
    @rule(side=SIDES, pick=st.integers(0, 30))
    def fail_writes(self, side: str, pick: int) -> None:
        """From now on, until :meth:`heal`, writes to one record of ``side`` fail."""
        records = self.harness.records(side)
        if records:
            self.harness.side(side).fail_keys.add(sorted(records)[pick % len(records)])

    @rule()
    def heal(self) -> None:
        for side in ("a", "b"):
            self.harness.side(side).fail_keys.clear()

    @property
    def failing(self) -> bool:
        return any(self.harness.side(side).fail_keys for side in ("a", "b"))

    # -- syncing ------------------------------------------------------------------------------
    @rule(full=st.booleans(),
          crash=st.none() | st.tuples(st.integers(1, 3), st.sampled_from(["before", "after"])))
    def sync(self, full: bool, crash: tuple[int, str] | None) -> None:
        """A sync, in full or incremental mode, perhaps crashing at the N-th write call."""
        self._sync(RunMode.FULL if full else RunMode.INCREMENTAL,
                   CrashPlan(*crash) if crash is not None else None)

    def _sync(self, mode: RunMode, crash: CrashPlan | None) -> None:
        h = self.harness
        before = {side: h.records(side) for side in ("a", "b")}
        times = {side: {key: when for key, (_, _, when) in h.side(side).stream("contact").items()}
                 for side in ("a", "b")}
        mapped_before = h.pairs()
        unsettled_before = {row.a_key for row in h.mappings() if is_unsettled(row)}
        never_synced, self.created = self.created, {"a": set(), "b": set()}
        changed, self.changed = self.changed, {"a": {}, "b": {}}
        failing = self.failing
        # a pairing the last attempt made before it died is settled by this sync (recovery):
        # an edit made since to one of its records is an edit, not a first pairing
        settled_late = self.touched if self.last_crashed else set()
        self.touched, self.last_crashed = set(), False
        try:
            summary = h.sync(mode=mode, crash=crash)
        except SimulatedCrash:
            # what was changed before this attempt may have been synced by it: from here on
            # only what is changed after it is known to be unsynced
            self.crashed_since_sync = self.last_crashed = True
            self.observe()
            self.check_no_blanking(before, mapped_before, unsettled_before, settled_late)
            return
        self.observe()
        after = {side: h.tokens(side) for side in ("a", "b")}
        self.check_lineage(after)
        self.check_no_blanking(before, mapped_before, unsettled_before, settled_late)
        assert h.leftover_intents() == 0
        if failing:
            # some writes failed: what they carried is pending; the outcome of this sync
            # is known only once a sync without failures completes
            assert summary.outcome in (RunOutcome.OK, RunOutcome.ERROR), summary.messages
            self.crashed_since_sync = True
            self.check_nothing_lost(after, never_synced, changed)
            return
        assert summary.outcome is RunOutcome.OK, (summary.messages,
                                                  h.journal(run_id=summary.run_id,
                                                            outcome="error"))
        self.check_nothing_lost(after, never_synced, changed)
        if self.direction != "both":
            self.check_one_way(before, mapped_before, after)
        else:
            h.assert_converged()
            if not self.crashed_since_sync:
                self.check_outcome(before, times, mapped_before, after)
        quiet = h.sync()
        assert sum(quiet.streams["contact"].to_json().values()) == 0, \
            h.journal(run_id=quiet.run_id)
        self.crashed_since_sync = False
        self.base = {a_key: after["a"][a_key] for a_key in h.pairs()}

    # -- the checks -----------------------------------------------------------------------------
    def check_lineage(self, after: dict[str, dict[str, Content]]) -> None:
        """See :func:`~.syncharness.check_lineage`."""
        self.journal_seen = check_lineage(self.harness, self.origin, self.journal_seen, after)

    def check_no_blanking(self, before: dict[str, dict[str, dict[str, Any]]],
                          mapped_before: dict[str, str], unsettled_before: set[str],
                          settled_late: set[tuple[str, str]]) -> None:
        """A first pairing blanks nothing: for every pair this sync linked by natural key (or
        decided again, not yet written before), a value filled on a side before is still
        filled there."""
        h = self.harness
        after = {side: h.records(side) for side in ("a", "b")}
        for a_key, b_key in h.pairs().items():
            if a_key in mapped_before and a_key not in unsettled_before:
                continue
            if mapped_before.get(a_key, b_key) != b_key \
                    or {("a", a_key), ("b", b_key)} & settled_late:
                continue
            for side, key in (("a", a_key), ("b", b_key)):
                if key not in before[side] or key not in after[side]:
                    continue  # created by this sync, or deleted by the user before it
                for name in CONTACT_FIELDS:
                    if field_token(before[side][key].get(name)) != EMPTY:
                        assert field_token(after[side][key].get(name)) != EMPTY, \
                            f"first pairing {a_key}/{b_key} blanked {name} on {side}"

    def check_nothing_lost(self, after: dict[str, dict[str, Content]],
                           never_synced: dict[str, set[str]],
                           changed: dict[str, dict[str, Content]]) -> None:
        """Holds after crashes too: a record no sync has seen yet is never deleted, and a
        record given new content is not deleted (unless the other side wins by policy and
        deleted it)."""
        loser = {"a-to-b": "b", "b-to-a": "a"}.get(self.direction) \
            or {"a-wins": "b", "b-wins": "a"}.get(self.policy)
        for side in ("a", "b"):
            gone = never_synced[side] - set(after[side])
            assert not gone, f"never-synced records vanished from {side}: {sorted(gone)}"
            if side != loser:
                gone = set(changed[side]) - set(after[side])
                assert not gone, f"changed records deleted from {side}: {sorted(gone)}"

    def check_one_way(self, before: dict[str, dict[str, dict[str, Any]]],
                      mapped_before: dict[str, str], after: dict[str, dict[str, Content]]
                      ) -> None:
        """A one-way link: the source is never written; every source record has one copy
        on the target, equal to it (but for values a first pairing kept where the source has
        none); the target keeps its own never-mapped records (which may have been linked by
        natural key, and then took the source's values)."""
        source, target = ("a", "b") if self.direction == "a-to-b" else ("b", "a")
        assert after[source] == {key: tokens(fields) for key, fields in before[source].items()}
        pairs = self.harness.pairs()
        partner = pairs if source == "a" else {b: a for a, b in pairs.items()}
        assert set(partner) == set(after[source]), "source records without a copy"
        for key, content in after[source].items():
            copy = after[target].get(partner[key])
            assert copy is not None, (key, partner[key])
            # equal, but where a first pairing kept a value the source lacks
            assert all(mine in (theirs, EMPTY) for mine, theirs in
                       zip(content, copy, strict=True)), (key, partner[key], content, copy)
        copies = set(partner.values())
        mapped_target = set(mapped_before.values() if target == "b" else mapped_before)
        own = set(before[target]) - mapped_target
        if not self.crashed_since_sync:  # else a crashed run may have paired some of them
            for key in own:
                assert key in after[target], f"{target} {key} (never synced) was deleted"
        assert set(after[target]) - copies <= own, \
            "the target holds records that are neither copies nor its own"

    def resolve(self, a_now: Content, b_now: Content, a_time: datetime | None,
                b_time: datetime | None, base: Content | None) -> Content:
        """What the link's policy makes of two versions (``base``: last synced, if any)."""
        b_newer = a_time is not None and b_time is not None and b_time > a_time
        if base is None:  # a first pairing: blanks filled in, differing values by policy
            b_wins = {"a-wins": False, "b-wins": True}.get(
                self.first_sync, {"a-wins": False, "b-wins": True}.get(self.policy, b_newer))
            return tuple(a_value if a_value == b_value else b_value if a_value == EMPTY
                         else a_value if b_value == EMPTY else b_value if b_wins else a_value
                         for a_value, b_value in zip(a_now, b_now, strict=True))
        if self.policy == "a-wins":
            return a_now
        if self.policy == "b-wins":
            return b_now
        if self.policy == "newest":
            return b_now if b_newer else a_now
        merged: list[str] = []
        for index, (a_value, b_value) in enumerate(zip(a_now, b_now, strict=True)):
            if a_value == b_value:
                merged.append(a_value)
            elif base is not None and a_value == base[index]:
                merged.append(b_value)
            elif base is not None and b_value == base[index]:
                merged.append(a_value)
            elif base is None and a_value == EMPTY:
                merged.append(b_value)
            elif base is None and b_value == EMPTY:
                merged.append(a_value)
            else:
                merged.append(b_value if b_newer else a_value)
        return tuple(merged)

    def check_outcome(self, before: dict[str, dict[str, dict[str, Any]]],
                      times: dict[str, dict[str, datetime]], mapped_before: dict[str, str],
                      after: dict[str, dict[str, Content]]) -> None:
        """No crash since the last completed sync: the stored mappings are exactly what that
        sync left (``self.base``), so the result of this one is known record by record."""
        pairs = self.harness.pairs()
        for a_key, b_key in mapped_before.items():
            base = self.base[a_key]
            a_now = tokens(before["a"][a_key]) if a_key in before["a"] else None
            b_now = tokens(before["b"][b_key]) if b_key in before["b"] else None
            where = f"pair {a_key}/{b_key}"
            if a_now is None and b_now is None:
                expected: Content | None = None
            elif a_now is None or b_now is None:  # deleted on one side
                deleted = "a" if a_now is None else "b"
                kept = b_now if a_now is None else a_now
                if kept == base:
                    expected = None  # unchanged on the other side: the deletion goes
                else:
                    wins = {"a-wins": "a", "b-wins": "b"}.get(self.policy)
                    expected = None if wins == deleted else kept
            elif a_now == base or b_now == base:
                expected = b_now if a_now == base else a_now
            else:
                expected = self.resolve(a_now, b_now, times["a"][a_key], times["b"][b_key],
                                        base)
            if expected is None:
                assert a_key not in after["a"] and b_key not in after["b"], \
                    f"{where} should be gone"
                continue
            survivor = a_key if a_now is not None else b_key
            if a_now is not None:
                assert after["a"].get(a_key) == expected, where
                assert after["b"][pairs[a_key]] == expected, where
            else:
                partner = {b: a for a, b in pairs.items()}[survivor]
                assert after["b"].get(b_key) == expected, where
                assert after["a"][partner] == expected, where
        self.check_new_records(before, times, mapped_before, after, pairs)

    def check_new_records(self, before: dict[str, dict[str, dict[str, Any]]],
                          times: dict[str, dict[str, datetime]], mapped_before: dict[str, str],
                          after: dict[str, dict[str, Content]], pairs: dict[str, str]) -> None:
        """Records new since the last sync: paired one to one by natural key (resolved like
        a conflict without a base), the others copied as they are."""
        new_a = [key for key in before["a"] if key not in mapped_before]
        mapped_b = set(mapped_before.values())
        new_b = [key for key in before["b"] if key not in mapped_b]
        b_of = {b: a for a, b in pairs.items()}
        groups: dict[str, tuple[list[str], list[str]]] = {}
        for side, keys in (("a", new_a), ("b", new_b)):
            for key in keys:
                found = match_token(before[side][key])
                if found is not None:
                    groups.setdefault(found, ([], []))[0 if side == "a" else 1].append(key)
        paired_a: set[str] = set()
        paired_b: set[str] = set()
        for a_keys, b_keys in groups.values():
            inside = [(a, pairs[a]) for a in a_keys if pairs.get(a) in b_keys]
            assert len(inside) == min(len(a_keys), len(b_keys)), \
                f"natural-key pairs missed: a {a_keys}, b {b_keys}, mapped {inside}"
            for a_key, b_key in inside:
                expected = self.resolve(tokens(before["a"][a_key]), tokens(before["b"][b_key]),
                                        times["a"][a_key], times["b"][b_key], None)
                assert after["a"][a_key] == after["b"][b_key] == expected, (a_key, b_key)
                paired_a.add(a_key)
                paired_b.add(b_key)
        for a_key in set(new_a) - paired_a:
            content = tokens(before["a"][a_key])
            assert after["a"][a_key] == content and after["b"][pairs[a_key]] == content
        for b_key in set(new_b) - paired_b:
            content = tokens(before["b"][b_key])
            assert after["b"][b_key] == content and after["a"][b_of[b_key]] == content

    @invariant()
    def mappings_are_one_to_one(self) -> None:
        if self.h is None:
            return
        rows = self.h.mappings()
        assert len({row.a_key for row in rows}) == len(rows)
        assert len({row.b_key for row in rows}) == len(rows)


SyncMachine.TestCase.settings = convergence_settings()
TestConvergence = SyncMachine.TestCase
