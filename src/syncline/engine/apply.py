"""Applying planned decisions through connectors, crash-safely.

For every batch of writes to one side: an **intent** row (the batch and, per operation,
everything needed to record its result) is stored first; the batch is sent; then the
results (mappings, journal rows, pending items) are **settled** in one state transaction
that also removes the intents. A run killed in between leaves intents behind; the next run
asks the connector to :meth:`~syncline.connectors.base.Connector.recover` each batch and
settles what was applied, so nothing is written twice and nothing is lost.

When the run is asked to stop (see :mod:`syncline.run_context`; the connectors' run
context), no further batch is sent, what was written is settled, and
:class:`~syncline.errors.RunCancelled` is raised; operations not sent
(:class:`~syncline.run_context.NotSent`) leave no trace: they are read again next run. The
records to write and written are reported to the run context as they go.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from syncline.connectors.base import (
    Connector,
    WriteBatch,
    WriteOperation,
    WriteResult,
)
from syncline.engine import owned_apply
from syncline.engine.buffer import DIRECTION_BY_TARGET, SettleBuffer
from syncline.engine.bulk_creates import CreateOutcome, prepare_jobs
from syncline.engine.bulk_plan import CreateBatch
from syncline.engine.display_refs import mark_warning
from syncline.engine.diverged import fill_partial
from syncline.engine.fetched import fill_fetched
from syncline.engine.first_pair import unsettled_mapping
from syncline.engine.locked import settle_locked
from syncline.engine.options import PlannedChange, StreamCounts
from syncline.engine.plan import Decision, Policy, Write
from syncline.engine.preview import describe
from syncline.engine.recovery import recover_interrupted
from syncline.engine.references import ReferenceTranslator
from syncline.engine.returned import hash_returned
from syncline.engine.settle_lane import SettleLane, SettleWork
from syncline.errors import ItemError, ProtocolError, RecordLocked, VersionConflict
from syncline.journal import journal_row, pending_item
from syncline.model import (
    ActionCode,
    Direction,
    Outcome,
    Record,
    Side,
    field_token,
)
from syncline.plan_types import MappingRow, WriteKind
from syncline.run_context import NotSent, RunContext
from syncline.state.store import PendingIntent, StateStore

if TYPE_CHECKING:
    from syncline.engine.rules_gate import RuleGate

__all__ = ["Applier", "SettleBuffer"]

_SIDE_TEXT = {Side.A: "a", Side.B: "b"}
_ACTION_TEXT = {action: action.value for action in WriteKind}
_CODE_TEXT = {code: code.value for code in ActionCode}


class Applier:
    """Applies decisions for one stream of one run (see the module docstring)."""

    def __init__(self, *, store: StateStore, scope_id: int, run_id: int, stream: str,
                 policy: Policy, connectors: dict[Side, Connector],
                 translator: ReferenceTranslator, counts: StreamCounts,
                 pending: dict[Side, set[str]], batch_size: int, dry_run: bool,
                 planned: list[PlannedChange]) -> None:
        self.store = store
        self.scope_id = scope_id
        self.run_id = run_id
        self.stream = stream
        self.policy = policy
        self.connectors = connectors
        self.translator = translator
        self.counts = counts
        self.pending = pending
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.planned = planned
        self.tally: dict[str, int] = dict.fromkeys("AMDR", 0)
        self._lane = SettleLane()
        self.rules: RuleGate | None = None
        """The stream's posting rules, checked between plan and apply (set by the stream
        run when the link has rules for the stream; see :mod:`syncline.engine.rules_gate`)."""

    # -- the main entry ---------------------------------------------------------------------
    def apply(self, decisions: Sequence[Decision]) -> None:
        """Apply decisions (writes of any kind), journal and settle them."""
        if not decisions:
            return
        if any(write.fetch for decision in decisions for write in decision.writes):
            fill_fetched(self, decisions)
            if self.policy.has_owners:
                owned_apply.strip_created(self, decisions)
        if any(write.partial for decision in decisions for write in decision.writes):
            fill_partial(self, decisions)
        if self.policy.has_owners:
            owned_apply.fill_owned(self, decisions)
        checked = self.rules.check(decisions) if self.rules is not None else None  # rules
        if checked is not None:
            decisions = checked.decisions
        if self.dry_run:
            warnings: dict[int, str] = {}
            if checked is not None:
                decisions, warnings = checked.plan_dry_run(self.planned, self.counts)
            describe(self.stream, self.policy.field_names, decisions, self.counts,
                     self.planned, self._read_targets, warnings)
            return
        buffer = SettleBuffer()
        outcomes: dict[int, list[tuple[Write, WriteResult]]] = {}
        display = self.translator.display
        warned = display.prepare_writes(
            decisions, self.policy.field_names,
            {index for index, decision in enumerate(decisions) if decision.hold}) \
            if display is not None and display.active else {}
        errors = self._translate(decisions) if self.translator.active else {}
        if checked is not None:
            errors.update(checked.blocked)
            checked.record(buffer, self.pending)
        groups: dict[tuple[Side, WriteKind], list[tuple[int, Write]]] = {}
        for index, decision in enumerate(decisions):
            if decision.hold:
                self._hold(decision, buffer)
                continue
            if index in errors:
                continue
            for write in decision.writes:
                group = groups.get((write.target, write.action))
                if group is None:
                    group = groups[(write.target, write.action)] = []
                group.append((index, write))
        context = self.context
        context.planned(self.stream, sum(len(entries) for entries in groups.values()))
        for (target, action), entries in groups.items():
            for start in range(0, len(entries), self.batch_size):
                chunk = entries[start:start + self.batch_size]
                if context.stopping():  # no intent, nothing sent: read again next run
                    for index, write in chunk:
                        outcomes.setdefault(index, []).append((write, WriteResult(
                            "", error=context.not_sent(self.stream, write.key))))
                    continue
                batch_id, results = self._send(target, action, chunk, decisions)
                for (index, write), result in zip(chunk, results, strict=True):
                    found = outcomes.get(index)
                    if found is None:
                        outcomes[index] = [(write, result)]
                    else:
                        found.append((write, result))
                buffer.batch_ids.append(batch_id)
        hash_returned(outcomes, self.translator, self.policy.field_names)
        if checked is not None and self.rules is not None:
            self.rules.hash_as_held(checked, outcomes)
        back = owned_apply.read_back_created(self, decisions, outcomes) \
            if self.policy.has_owners and outcomes else []
        for index, decision in enumerate(decisions):
            if decision.hold:
                continue
            if index in errors:
                self._failed(decision, errors[index], buffer)
                continue
            start = len(buffer.journal_rows)
            self._settle_decision(decision, outcomes.get(index, []), buffer)
            if checked is not None and index in checked.warnings:
                checked.mark_warning(index, buffer.journal_rows, start, self.counts)
            if index in warned:
                mark_warning(warned[index], buffer.journal_rows, start, self.counts)
        if back:
            owned_apply.hold_pending(self, back, buffer)
        self.flush(buffer)
        owned_apply.put_back(self, back)
        context.check()

    def apply_creates(self, batch: CreateBatch) -> None:
        """Create records new on one side on the other, in bulk (see
        :class:`~syncline.engine.bulk_plan.CreateBatch`).

        Same effect as applying the equivalent one-create decisions, with no per-record
        objects: the batch goes to the write and settle threads in jobs
        (:func:`~syncline.engine.bulk_creates.prepare_jobs`).
        """
        source = batch.source
        if self.dry_run:
            direction = DIRECTION_BY_TARGET[source.other]
            message = f"new on {_SIDE_TEXT[source]}"
            for key, code in zip(batch.keys, batch.codes, strict=True):
                setattr(self.counts, code, getattr(self.counts, code) + 1)
                a_key, b_key = (key, None) if source is Side.A else (None, key)
                self.planned.append(PlannedChange(self.stream, code, direction, a_key, b_key,
                                                  message))
            return
        connector = self.connectors[source.other]
        context = self.context
        context.planned(self.stream, len(batch))
        for job in prepare_jobs(batch, stream=self.stream, run_id=self.run_id,
                                scope_id=self.scope_id, batch_size=self.batch_size,
                                keep_snapshot=self.policy.keep_snapshot,
                                pending=self.pending[source], translator=self.translator):
            if context.stopping():
                break  # the jobs in flight are settled on close; the rest goes next run
            self._fold(self._lane.submit_create(job, self.store, connector))
        context.check()

    @property
    def context(self) -> RunContext:
        """The run context the engine gave the connectors (both share it)."""
        return self.connectors[Side.A].context

    def _translate(self, decisions: Sequence[Decision]) -> dict[int, ItemError]:
        errors: dict[int, ItemError] = {}
        for target in (Side.A, Side.B):
            items: list[tuple[str, dict[str, Any], Any]] = []
            owners: dict[str, int] = {}
            for index, decision in enumerate(decisions):
                for write in decision.writes:
                    if write.target is target and write.fields is not None:
                        label = str((decision.a_key if target is Side.B else decision.b_key)
                                    or index)
                        owners[label] = index
                        source = decision.a_record if target is Side.B else decision.b_record
                        items.append((label, write.fields, source))
            for label, error in self.translator.for_target(target, items).items():
                errors[owners[label]] = error
        return errors

    def _send(self, target: Side, action: WriteKind, chunk: list[tuple[int, Write]],
              decisions: Sequence[Decision]) -> tuple[str, list[WriteResult]]:
        """Store the intent of a batch, then write the batch; returns its id and results.

        Each intent entry holds what :meth:`recover` needs to settle the operation: target,
        action, keys, mapping id, the hashes and versions after the write, the snapshot,
        the action code, whether the mapping is forgotten, the journal message, and whether
        the decision writes more than one side.

        Raises:
            ProtocolError: the connector returned a wrong number of results.
        """
        batch_id = uuid.uuid4().hex
        target_text = _SIDE_TEXT[target]
        action_text = _ACTION_TEXT[action]
        deleting = action is WriteKind.DELETE
        operations: list[WriteOperation] = []
        payload: list[list[Any]] = []
        for position, (index, write) in enumerate(chunk):
            decision = decisions[index]
            operations.append(WriteOperation(f"{batch_id}-{position}", action, write.key,
                                             write.fields, write.expected_version))
            written = None if deleting else write.hash
            a_hash = written if target is Side.A else decision.a_hash
            b_hash = written if target is Side.B else decision.b_hash
            mapping = decision.mapping
            payload.append([
                target_text, action_text, decision.a_key, decision.b_key,
                mapping.id if mapping is not None else None,
                a_hash.hex() if a_hash is not None else None,
                b_hash.hex() if b_hash is not None else None,
                decision.a_version, decision.b_version,
                self._mapping_snapshot(decision),
                _CODE_TEXT[write.code], decision.forget, decision.message,
                len(decision.writes) > 1])
        batch = WriteBatch(batch_id, self.stream, operations)
        self.drain()
        self.store.write_intent(PendingIntent(batch_id, self.run_id, self.scope_id,
                                              target_text, {"ops": payload}))
        before = self.context.reported(self.stream)
        results = self.connectors[target].write(batch)
        if len(results) != len(operations):
            raise ProtocolError(self.connectors[target].endpoint,
                                f"{len(results)} results for a batch of {len(operations)} "
                                f"operations")
        self.context.batch_written(self.stream, sum(1 for result in results if result.ok),
                                   before)
        return batch_id, results

    def _snapshot(self, decision: Decision) -> dict[str, str] | None:
        """The snapshot of what ``decision`` synced: the source values of a diverged pair
        (see :mod:`syncline.engine.diverged`), else, for ``conflict = merge``, the synced
        fields; ``None``: none to keep."""
        fields = decision.snapshot_fields
        if fields is None:
            if not self.policy.keep_snapshot or decision.synced_fields is None:
                return None
            fields = decision.synced_fields
        return {name: field_token(fields.get(name)) for name in self.policy.field_names}

    def _mapping_snapshot(self, decision: Decision) -> dict[str, str] | None:
        """The snapshot the mapping keeps after ``decision``: :meth:`_snapshot`, or the
        mapping's own where the decision synced nothing anew (a version to remember)."""
        if decision.synced_fields is None and decision.snapshot_fields is None:
            mapping = decision.mapping
            return mapping.snapshot if mapping is not None else None
        return self._snapshot(decision)

    # -- settling ---------------------------------------------------------------------------
    def _journal(self, buffer: SettleBuffer, decision: Decision, code: ActionCode,
                 direction: Direction, outcome: Outcome, message: str | None,
                 error: ItemError | None = None) -> None:
        """Add the journal row of ``decision`` (with ``error``'s cause, for an error)."""
        buffer.journal_rows.append(journal_row(
            self.run_id, self.scope_id, decision.a_key, decision.b_key, code, direction,
            outcome, message, error.cause if error is not None else None))

    def _clear_pending(self, decision: Decision, buffer: SettleBuffer) -> None:
        for side, key in ((Side.A, decision.a_key), (Side.B, decision.b_key)):
            if key is not None and key in self.pending[side]:
                buffer.pending_remove.append((side.value, key))
                self.pending[side].discard(key)

    def _failed(self, decision: Decision, error: ItemError, buffer: SettleBuffer) -> None:
        for write in decision.writes or []:
            source = write.target.other
            key = decision.a_key if source is Side.A else decision.b_key
            if key is not None:
                buffer.pending_add.append(pending_item(source.value, key, error, self.stream))
                self.pending[source].add(key)
            self._journal(buffer, decision, write.code, Direction.towards(write.target),
                          Outcome.ERROR, str(error), error)
            self.counts.errors += 1
            break
        if decision.pairing:
            self._record_unsettled(decision, buffer)

    def _hold(self, decision: Decision, buffer: SettleBuffer) -> None:
        assert decision.a_key is not None and decision.b_key is not None
        self.drain()
        self.store.hold_conflict(
            scope_id=self.scope_id, run_id=self.run_id, a_key=decision.a_key,
            b_key=decision.b_key,
            a_fields=decision.a_record.fields if decision.a_record else None,
            b_fields=decision.b_record.fields if decision.b_record else None,
            base=decision.mapping.snapshot if decision.mapping else None)
        self.counts.conflicts += 1
        self.counts.skipped += 1
        self._journal(buffer, decision, ActionCode.MODIFY, Direction.A_TO_B, Outcome.SKIPPED,
                      decision.message)
        if decision.mapping is None:  # a first pairing: remembered, not yet merged
            if decision.pairing:
                self._record_unsettled(decision, buffer)
            else:
                self._record_mapping(decision, buffer)

    def _settle_decision(self, decision: Decision, done: list[tuple[Write, WriteResult]],
                         buffer: SettleBuffer) -> None:
        if decision.conflict:
            self.counts.conflicts += 1
        failed = False
        for write, result in done:
            direction = Direction.towards(write.target)
            code = write.code
            if result.error is None:
                written = write.hash if write.action is not WriteKind.DELETE else None
                if write.target is Side.A:
                    if write.action is WriteKind.CREATE:
                        decision.a_key = result.key
                    decision.a_version = result.version
                    decision.a_hash = written
                else:
                    if write.action is WriteKind.CREATE:
                        decision.b_key = result.key
                    decision.b_version = result.version
                    decision.b_hash = written
                self.tally[code.value] += 1
                self._journal(buffer, decision, code, direction, Outcome.OK, decision.message)
                continue
            if isinstance(result.error, RecordLocked):  # dealt with: not retried
                settle_locked(self, decision, write, result.error, buffer)
                continue
            failed = True
            if isinstance(result.error, NotSent):
                continue  # the run was stopped before sending it: read again next run
            self.counts.errors += 1
            source = write.target.other
            key = decision.a_key if source is Side.A else decision.b_key
            if key is not None:
                buffer.pending_add.append(pending_item(_SIDE_TEXT[source], key, result.error,
                                                       self.stream))
                self.pending[source].add(key)
            if isinstance(result.error, VersionConflict) and write.key is not None:
                # changed under us: read the target again too, and decide by policy then
                buffer.pending_add.append(pending_item(_SIDE_TEXT[write.target], write.key,
                                                       result.error, self.stream))
                self.pending[write.target].add(write.key)
            self._journal(buffer, decision, code, direction, Outcome.ERROR, str(result.error),
                          result.error)
        if failed:
            # the mapping stays as it was (a first pairing's is recorded, unsettled); the
            # source is pending and goes next run
            if decision.pairing:
                self._record_unsettled(decision, buffer)
            return
        if not done and not decision.quiet:
            self.counts.skipped += 1
            self._journal(buffer, decision,
                          ActionCode.DELETE if decision.forget else ActionCode.MODIFY,
                          Direction.A_TO_B, Outcome.SKIPPED, decision.message)
        if self.pending[Side.A] or self.pending[Side.B]:
            self._clear_pending(decision, buffer)
        self._record_mapping(decision, buffer)

    def _record_unsettled(self, decision: Decision, buffer: SettleBuffer) -> None:
        """Remember a first pairing whose writes did not all go through as an unsettled
        pairing (see :mod:`syncline.engine.first_pair`): the next run decides it again with
        the same two records, so nothing creates a second record for either."""
        if decision.a_key is None or decision.b_key is None:
            return
        mapping = decision.mapping
        row = unsettled_mapping(mapping.id if mapping is not None else None, decision.a_key,
                                decision.b_key, decision.a_version, decision.b_version)
        if mapping is not None and mapping.id is not None:
            buffer.changed_mappings.append(row)
        else:
            buffer.new_mappings.append(row)

    def _record_mapping(self, decision: Decision, buffer: SettleBuffer) -> None:
        mapping = decision.mapping
        if decision.forget or decision.a_key is None or decision.b_key is None:
            if mapping is not None and mapping.id is not None:
                buffer.removed_mapping_ids.append(mapping.id)
            return
        snapshot = self._mapping_snapshot(decision)
        row = MappingRow(mapping.id if mapping is not None else None, decision.a_key,
                         decision.b_key, decision.a_hash, decision.b_hash, decision.a_version,
                         decision.b_version, snapshot)
        if mapping is not None and mapping.id is not None:
            buffer.changed_mappings.append(row)
        else:
            buffer.new_mappings.append(row)

    def drain(self) -> None:
        """Wait for the settle work and create jobs in flight, if any.

        Raises:
            whatever that work raised.
        """
        self._fold(self._lane.drain())

    def _fold(self, outcomes: list[CreateOutcome]) -> None:
        """Count what finished create jobs did and update the pending sets."""
        for outcome in outcomes:
            for code, number in outcome.tally.items():
                setattr(self.counts, code, getattr(self.counts, code) + number)
            self.counts.errors += len(outcome.failed)
            self.pending[outcome.source].update(outcome.failed)
            self.pending[outcome.source].difference_update(outcome.cleared)

    def close(self) -> None:
        """Finish the work in flight and stop the background threads."""
        self._fold(self._lane.close())

    def flush(self, buffer: SettleBuffer) -> None:
        """Settle ``buffer`` on the settle thread, so that reading and planning the next
        chunk overlap with this transaction. Every other state write waits for it first
        (:meth:`drain`), so the order intent → write → settle holds per batch."""
        for code, number in self.tally.items():
            setattr(self.counts, code, getattr(self.counts, code) + number)
        self.tally = dict.fromkeys(self.tally, 0)
        self._submit(partial(self._settle_now, buffer))

    def _submit(self, work: SettleWork) -> None:
        """Run the settle ``work`` on the settle thread once all work in flight is done."""
        self._fold(self._lane.submit(work))

    def _settle_now(self, buffer: SettleBuffer) -> None:
        """Settle ``buffer`` (on the settle thread)."""
        run_id = buffer.mapping_run_id if buffer.mapping_run_id is not None else self.run_id
        self.store.settle(scope_id=self.scope_id, run_id=run_id,
                          batch_ids=buffer.batch_ids, new_mappings=buffer.new_mappings,
                          new_mapping_rows=buffer.new_mapping_rows,
                          changed_mappings=buffer.changed_mappings,
                          removed_mapping_ids=buffer.removed_mapping_ids,
                          journal_rows=buffer.journal_rows, pending_add=buffer.pending_add,
                          pending_remove=buffer.pending_remove, created=buffer.created,
                          journal_run_id=self.run_id)

    def _read_targets(self, side: Side, keys: list[str]) -> dict[str, Record]:
        """The current records ``keys`` of ``side`` (side b's in a-space), for a dry run."""
        found = self.connectors[side].read_keys(self.stream, keys)
        self.translator.from_side(side, list(found.values()))
        return found

    # -- recovery ---------------------------------------------------------------------------
    def recover(self) -> int:
        """Settle the batches a previous, interrupted run sent or was about to send (see
        :mod:`syncline.engine.recovery`). Returns how many operations were found applied
        and settled.

        Raises:
            whatever the connectors' ``recover`` or the state store raise.
        """
        return recover_interrupted(self)
