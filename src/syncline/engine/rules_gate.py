"""Where posting rules meet the engine: between plan and apply.

A :class:`RuleGate` serves one stream of one run of a link that has rules for that stream.
It loads what the pure rules (:mod:`syncline.engine.rules`) need from the state store (the
xref tables, merged with the config's; the documents someone asked to post) and turns their
verdicts into what the applier does with each planned decision:

- writes to the books (side b) take the transformed fields, and the content hash of what the
  books will hold (so that reading the document back is an echo, not a change);
- a blocked document is not written: the applier journals the error and keeps it pending,
  so it is read and checked again next run and goes once the cause is fixed;
- a warning is journalled with the written document (outcome ``warning``);
- a document written with a line the rules added (rounding, adjustment) keeps in its
  mapping the hash of what the books hold: the books complete such a line with values of
  their own (a tax rate, a tax amount of zero), and a hash of what was sent would make
  every full or date-scoped run see the document changed in the books and send it again.
  Where the books answered the write with the document (Xero, QuickBooks Online: see
  :mod:`syncline.engine.returned`) that answer gives the hash; otherwise the document is
  read back once written;
- a document the rules skip (not eligible, excluded, waiting for ``syncline post``) is left
  out of the run altogether: no write, no mapping, counted as skipped. One that was asked
  for with ``syncline post`` is journalled ``skipped`` with the reason, once;
- updates coming back from the books leave the fields the rules own alone (proxied
  references, xref targets, lines); documents the books created come over with the values
  of in-place xref tables turned back into local values.

Rules apply to records going from side a (the company's own system) to side b (the books).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncline.config import LinkConfig
from syncline.connectors.base import WriteResult
from syncline.engine.options import PlannedChange, StreamCounts
from syncline.engine.plan import Decision, Policy, Write
from syncline.engine.rules import Problem, RuleSet, VerdictKind, localise, reverse_fields
from syncline.errors import ErrorCause, ItemError, cause_of
from syncline.journal import JournalRow, journal_row
from syncline.model import ActionCode, Direction, Outcome, Record, Side, content_hash
from syncline.plan_types import WriteKind
from syncline.state.rules_store import RulesStore
from syncline.state.store import StateStore

if TYPE_CHECKING:
    from syncline.engine.apply import SettleBuffer

__all__ = ["CurrentReader", "RuleCheck", "RuleGate", "RuleRejected", "rule_causes"]

_SKIP_WORDS = {VerdictKind.NOT_ELIGIBLE: "not eligible",
               VerdictKind.EXCLUDED: "kept out of the books",
               VerdictKind.AWAITING_POST: "waiting for syncline post"}


CurrentReader = Callable[[Side, list[str]], dict[str, Record]]
"""(side, keys) -> the current records of the stream with those keys, references in a-space."""


class RuleRejected(ItemError):
    """A posting rule blocks a document (a missing xref entry, totals beyond tolerance...).

    Like every item error, the document stays pending and is checked again next run.
    """

    retriable = True


def rule_causes(messages: Sequence[str], problems: Sequence[Problem],
                stream: str | None = None) -> tuple[ErrorCause, ...] | None:
    """The causes of a blocked document, one per message of its verdict (``None`` when the
    verdict does not say, so that the error derives its cause from the message); each
    cause's words are those of its message, which names the document after ``stream``."""
    if len(messages) != len(problems):
        return None
    return tuple(cause_of(RuleRejected.__name__, message, stream=stream, field=name,
                          value=value)
                 for message, (name, value) in zip(messages, problems, strict=True))


@dataclass
class RuleCheck:
    """The gate's answer for one list of decisions. ``decisions`` are those to apply (the
    skipped ones left out); ``blocked`` and ``warnings`` are keyed by position in it;
    ``journal_rows`` are the ``skipped`` rows of documents asked for with ``syncline post``;
    ``planned`` describes the blocked ones for a dry run; ``released`` are the a-keys of the
    skipped documents (no longer pending, if they were); ``read_back`` are the writes to the
    books (by ``id``) whose document is read back once written (see the module docstring).
    """

    decisions: list[Decision]
    blocked: dict[int, ItemError] = field(default_factory=dict)
    warnings: dict[int, str] = field(default_factory=dict)
    journal_rows: list[JournalRow] = field(default_factory=list)
    planned: list[PlannedChange] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    read_back: set[int] = field(default_factory=set)

    def record(self, buffer: SettleBuffer, pending: dict[Side, set[str]]) -> None:
        """Add to ``buffer`` the ``skipped`` journal rows, and the release of skipped
        documents that were pending (blocked before, left out now)."""
        buffer.journal_rows.extend(self.journal_rows)
        for key in self.released:
            if key in pending[Side.A]:
                buffer.pending_remove.append((Side.A.value, key))
                pending[Side.A].discard(key)

    def sendable(self) -> list[Decision]:
        """The decisions that are not blocked."""
        return [decision for index, decision in enumerate(self.decisions)
                if index not in self.blocked]

    def plan_dry_run(self, planned: list[PlannedChange],
                     counts: StreamCounts) -> tuple[list[Decision], dict[int, str]]:
        """For a dry run: add the blocked documents to ``planned`` and count them as errors,
        as the run would; return the decisions that would go and their warnings, keyed by
        position in that list (for :func:`~syncline.engine.preview.describe`, which counts
        them)."""
        planned.extend(self.planned)
        counts.errors += len(self.blocked)
        sendable: list[Decision] = []
        warnings: dict[int, str] = {}
        for index, decision in enumerate(self.decisions):
            if index in self.blocked:
                continue
            if index in self.warnings:
                warnings[len(sendable)] = self.warnings[index]
            sendable.append(decision)
        return sendable, warnings

    def mark_warning(self, index: int, rows: list[JournalRow], start: int,
                     counts: StreamCounts) -> None:
        """Turn the ``ok`` journal rows settled for decision ``index`` (those from ``start``
        on) into ``warning`` rows carrying the warning; count the warning once."""
        message = self.warnings[index]
        warned = False
        for position in range(start, len(rows)):
            row = rows[position]
            if row.outcome == Outcome.OK:
                rows[position] = row.with_outcome(Outcome.WARNING, message)
                warned = True
        if warned:
            counts.warnings += 1


class RuleGate:
    """Applies one stream's posting rules to the decisions of one run (see the module
    docstring). Build with :meth:`for_stream`."""

    def __init__(self, *, link_name: str, link: LinkConfig, stream: str, store: StateStore,
                 scope_id: int, run_id: int, policy: Policy, counts: StreamCounts,
                 read_current: CurrentReader | None = None) -> None:
        rules = link.rules[stream]
        self.read_current = read_current
        self.link_name = link_name
        self.stream = stream
        self.scope_id = scope_id
        self.run_id = run_id
        self.policy = policy
        self.counts = counts
        self.store = store
        self.rules_store = RulesStore(store)
        self.ruleset = RuleSet.compile(stream, rules)
        names = set(rules.xref.values())
        stored = self.rules_store.xref_tables(link_name, names)
        self.tables = {name: {**link.xref.get(name, {}), **stored.get(name, {})}
                       for name in names}
        self.requested: set[str] = self.rules_store.requested(scope_id)
        self.answered: set[str] = set()
        self.skips: Counter[VerdictKind] = Counter()

    @classmethod
    def for_stream(cls, *, link_name: str, link: LinkConfig, stream: str, store: StateStore,
                   scope_id: int, run_id: int, policy: Policy, counts: StreamCounts,
                   read_current: CurrentReader | None = None) -> RuleGate | None:
        """The gate of ``stream``, or ``None`` when the link has no rules for it.
        ``read_current`` reads records of the stream by key on one side, in a-space."""
        if stream not in link.rules:
            return None
        return cls(link_name=link_name, link=link, stream=stream, store=store,
                   scope_id=scope_id, run_id=run_id, policy=policy, counts=counts,
                   read_current=read_current)

    def check(self, decisions: Sequence[Decision]) -> RuleCheck:
        """Evaluate the rules for every write to the books in ``decisions``, and trim the
        updates coming back from the books (see the module docstring).

        Raises:
            RunError: reading the current records that updates need for their hashes failed.
        """
        result = RuleCheck([])
        names = self.policy.field_names
        current: dict[Side, list[tuple[Write, str, dict[str, Any]]]] = {Side.A: [], Side.B: []}
        for decision in decisions:
            index = len(result.decisions)
            verdict = None
            for write in decision.writes:
                if write.fields is None or write.action is WriteKind.DELETE:
                    continue
                if write.target is Side.A:
                    if write.action is WriteKind.CREATE:
                        write.fields = localise(self.ruleset.rules, write.fields, self.tables)
                        write.hash = content_hash(write.fields, names)
                    elif write.action is WriteKind.UPDATE and write.key is not None:
                        trimmed = reverse_fields(self.ruleset.rules, write.fields)
                        if len(trimmed) != len(write.fields):
                            write.fields = trimmed
                            current[Side.A].append((write, write.key, {}))
                    continue
                key = decision.a_key or ""
                record = decision.a_record.fields if decision.a_record is not None \
                    else write.fields
                verdict = self.ruleset.evaluate(
                    record, write.fields, key=key, creating=write.action is WriteKind.CREATE,
                    requested=key in self.requested, tables=self.tables)
                if verdict.sends:
                    assert verdict.fields is not None
                    write.fields = verdict.fields
                    write.hash = content_hash({**verdict.fields, **verdict.assumed}, names)
                    if verdict.assumed and write.key is not None:
                        current[Side.B].append((write, write.key, verdict.assumed))
                    if verdict.completed_by_books and (
                            write.action is WriteKind.UPDATE
                            or not self.policy.owned_by(Side.B)):  # else read back already
                        result.read_back.add(id(write))
                break
            if verdict is not None and verdict.skipped:
                self._skip(decision, verdict.kind, verdict.message, result)
                continue
            result.decisions.append(decision)
            if verdict is None:
                continue
            if verdict.kind is VerdictKind.ERROR:
                result.blocked[index] = RuleRejected(
                    verdict.message, stream=self.stream, key=decision.a_key,
                    causes=rule_causes(verdict.messages, verdict.problems, self.stream))
                result.planned.append(PlannedChange(self.stream, Outcome.ERROR.value,
                                                    Direction.A_TO_B.value,
                                                    decision.a_key, decision.b_key,
                                                    verdict.message))
            elif verdict.kind is VerdictKind.WARNING:
                result.warnings[index] = verdict.message
        self._hash_partial_writes(current)
        return result

    def _hash_partial_writes(self, partial: dict[Side, list[tuple[Write, str,
                                                                    dict[str, Any]]]]) -> None:
        """Give updates that leave fields out the hash of what their target will hold: the
        target's current record with the written fields laid over it (where the record is
        gone, the assumed values stand in)."""
        names = self.policy.field_names
        for side, items in partial.items():
            if not items or self.read_current is None:
                continue
            found = self.read_current(side, [key for _, key, _ in items])
            for write, key, assumed in items:
                record = found.get(key)
                base = dict(record.fields) if record is not None else dict(assumed)
                write.hash = content_hash({**base, **(write.fields or {})}, names)

    def hash_as_held(self, checked: RuleCheck,
                     outcomes: Mapping[int, Sequence[tuple[Write, WriteResult]]]) -> None:
        """After the writes of ``checked`` were sent (``outcomes`` by decision index): give
        each write in ``checked.read_back`` that went the hash of the document the books hold
        now, read back in one call (see the module docstring).

        Raises:
            RunError: reading the documents back failed.
        """
        if not checked.read_back or self.read_current is None:
            return
        written: list[tuple[Write, str]] = []
        for done in outcomes.values():
            for write, result in done:
                key = result.key or write.key
                if id(write) in checked.read_back and result.error is None \
                        and result.record is None and key is not None:  # else hashed as returned
                    written.append((write, key))
        if not written:
            return
        found = self.read_current(Side.B, [key for _, key in written])
        names = self.policy.field_names
        for write, key in written:
            record = found.get(key)
            if record is not None:
                write.hash = content_hash(record.fields, names)

    def _skip(self, decision: Decision, kind: VerdictKind, message: str,
              result: RuleCheck) -> None:
        self.skips[kind] += 1
        self.counts.skipped += 1
        key = decision.a_key
        if key is not None:
            result.released.append(key)
        if key is not None and key in self.requested and key not in self.answered:
            self.answered.add(key)
            code = decision.writes[0].code if decision.writes else ActionCode.CREATE
            result.journal_rows.append(journal_row(self.run_id, self.scope_id, key,
                                                   decision.b_key, code, Direction.A_TO_B,
                                                   Outcome.SKIPPED, message))

    def clear_answered(self) -> None:
        """After the stream's last write settled (a run that writes: the stream run calls
        this when it keeps what it learned): forget the post requests that were posted or
        answered."""
        if self.requested:
            mapped = self.store.mappings_for(self.scope_id, Side.A.value, self.requested)
            done = self.answered | set(mapped)
            if done:
                self.rules_store.clear_requests(self.scope_id, done)

    def finish(self) -> list[str]:
        """After the stream's last write settled: say how many documents the rules left
        out."""
        if not self.skips:
            return []
        parts = [f"{self.skips[kind]} {words}" for kind, words in _SKIP_WORDS.items()
                 if self.skips[kind]]
        return [f"{self.stream}: posting rules left out {', '.join(parts)}"]
