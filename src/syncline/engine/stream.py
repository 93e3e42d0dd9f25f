"""One stream of one run: read both sides, plan in chunks, apply, delete last, move cursors.

Memory stays flat for large streams: one side (the **held** side, b unless the link runs
b-to-a) is read completely into memory — after echo suppression it holds only what changed
there — while the other (**streamed**) side is read page by page. Each streamed page is
planned together with the held changes it pairs with (by mapping or by natural key).
Deletions are applied after everything else, once the ``max_delete`` check has passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from syncline.config import LinkConfig
from syncline.connectors.base import Connector
from syncline.engine.apply import Applier
from syncline.engine.bulk_plan import ColumnChanges, CreateBatch, plan_column_creates, plan_creates
from syncline.engine.display_refs import DisplayReferences
from syncline.engine.first_pair import is_unsettled
from syncline.engine.options import PlannedChange, ProgressReporter, RunRequest, StreamCounts
from syncline.engine.owned_defaults import stream_ownership
from syncline.engine.plan import Decision, Policy, SideChange, match_key, natural_key, plan_chunk
from syncline.engine.read_problems import fixed_read_problems
from syncline.engine.reading import SideReader
from syncline.engine.references import ReferenceTranslator
from syncline.engine.resolutions import apply_resolutions
from syncline.engine.rules_gate import RuleGate
from syncline.errors import ConfigError
from syncline.journal import JournalRow, PendingItem, journal_row, pending_item
from syncline.model import ActionCode, Direction, Outcome, Record, Side, content_hash
from syncline.plan_types import ConflictPolicy, LinkDirection, MappingRow, WriteKind
from syncline.state.store import StateStore

__all__ = ["StreamRun"]


@dataclass
class StreamRun:
    """Syncs one stream for one run (see the module docstring)."""

    link_name: str
    link: LinkConfig
    stream: str
    connectors: dict[Side, Connector]
    store: StateStore
    run_id: int
    request: RunRequest
    progress: ProgressReporter
    counts: StreamCounts = field(default_factory=StreamCounts)
    planned: list[PlannedChange] = field(default_factory=list)
    marks_possible: bool = True
    """Whether records may be marked for resynchronisation (see
    :attr:`~syncline.engine.reading.SideReader.marks_possible`)."""
    messages: list[str] = field(default_factory=list)
    blocked: bool = False
    display: DisplayReferences | None = None
    """The stream's references held as display values on one side (set by :meth:`policy`)."""
    _backlog: list[CreateBatch] = field(default_factory=list)
    """Bulk creates waiting to fill a write batch (pages can be smaller than batches)."""
    _backlog_size: int = 0
    _pairs: tuple[list[SideChange], list[SideChange]] = field(default_factory=lambda: ([], []))
    """Records of columnar pages paired with held ones by natural key, waiting to be
    planned together (a-side changes, b-side changes): planning them page by page would
    cut the bulk creates into small batches."""
    _translator: ReferenceTranslator | None = None

    @property
    def batch_size(self) -> int:
        """Records per read page and write batch: the link's ``batch_size``, or the smaller
        preference of the two connectors."""
        if self.link.batch_size is not None:
            return self.link.batch_size
        return min(connector.preferred_batch_size for connector in self.connectors.values())

    def policy(self) -> Policy:
        """The planner's view of the link for this stream.

        Raises:
            ConfigError: the two endpoints share no field of the stream.
        """
        shared = self.connectors[Side.A].field_names(self.stream) \
            & self.connectors[Side.B].field_names(self.stream)
        if not shared:
            raise ConfigError(
                f"endpoints '{self.link.a}' and '{self.link.b}' map no common field of "
                f"stream '{self.stream}'", key=f"links.{self.link_name}.streams")
        self.display = DisplayReferences.for_stream(
            self.stream, self.connectors, {Side.A: self.link.a, Side.B: self.link.b},
            frozenset(shared))
        shared = shared - frozenset(self.display.left_out)
        notes = [f"{self.stream}: {why}" for why in self.display.left_out.values()]
        read_only = {side: self.connectors[side].read_only_fields(self.stream) for side in Side}
        self.messages.extend(note for note in notes if note not in self.messages)
        owners = stream_ownership(self.link_name, self.link, self.stream, frozenset(shared),
                                  read_only)
        shared = shared - owners.not_synced - owners.create_only  # each keeps its own
        return Policy(self.link.direction_of(self.stream), self.link.conflict,
                      tuple(sorted(shared)), tuple(self.link.match.get(self.stream, ())),
                      keep_snapshot=self.link.conflict is ConflictPolicy.MERGE,
                      first_sync=self.link.first_sync,
                      owned_a=owners.owned[Side.A], owned_b=owners.owned[Side.B],
                      create_only=owners.create_only, creates_owned=owners.creates_owned,
                      keeps_edits=owners.keeps_edits)

    def _lookup(self, stream: str, side: Side, keys: Iterable[str]) -> dict[str, str]:
        scope_id = self.store.scope_id(self.link_name, stream)
        found = self.store.mappings_for(scope_id, side.value, keys)
        return {key: (m.b_key if side is Side.A else m.a_key) for key, m in found.items()}

    def run(self) -> None:
        """Sync the stream. Raises RunError subclasses when an endpoint cannot be used."""
        scope_id = self.store.scope_id(self.link_name, self.stream)
        policy = replace(self.policy(), held=self.store.open_conflict_keys(scope_id))
        translator = self._translator = ReferenceTranslator(
            self.stream, self.link.streams, self._lookup, self.display)
        pending = {side: set(self.store.pending_keys(scope_id, side.value)) for side in Side}
        applier = Applier(store=self.store, scope_id=scope_id, run_id=self.run_id,
                          stream=self.stream, policy=policy, connectors=self.connectors,
                          translator=translator, counts=self.counts, pending=pending,
                          batch_size=self.batch_size, dry_run=self.request.dry_run,
                          planned=self.planned)
        gate = self._rules(policy, scope_id, pending, applier, translator)
        try:
            self._run(policy, scope_id, translator, pending, applier)
            if gate is not None:
                self.messages.extend(gate.finish())
        finally:
            applier.close()

    def _rules(self, policy: Policy, scope_id: int, pending: dict[Side, set[str]],
               applier: Applier, translator: ReferenceTranslator) -> RuleGate | None:
        """Hand the stream's posting rules (if the link has any) to the applier; documents
        asked for with ``syncline post`` are read again like pending ones."""
        def read_current(side: Side, keys: list[str]) -> dict[str, Record]:
            found = self.connectors[side].read_keys(self.stream, keys)
            translator.from_side(side, list(found.values()))
            return found

        gate = RuleGate.for_stream(link_name=self.link_name, link=self.link, stream=self.stream,
                                   store=self.store, scope_id=scope_id, run_id=self.run_id,
                                   policy=policy, counts=self.counts,
                                   read_current=read_current)
        if gate is not None:
            pending[Side.A] |= gate.requested
            applier.rules = gate
        return gate

    def _run(self, policy: Policy, scope_id: int, translator: ReferenceTranslator,
             pending: dict[Side, set[str]], applier: Applier) -> None:
        if not self.request.dry_run:
            recovered = applier.recover()
            if recovered:
                self.messages.append(f"{self.stream}: settled {recovered} writes of an "
                                     f"interrupted run")
            resolved = apply_resolutions(store=self.store, link=self.link_name,
                                         stream=self.stream, scope_id=scope_id, policy=policy,
                                         applier=applier)
            if resolved:
                self.messages.append(f"{self.stream}: applied {resolved} resolved conflicts")
            applier.drain()  # reads below must see what recovery and resolutions settled
        held_side = Side.A if policy.direction is LinkDirection.B_TO_A else Side.B
        streamed_side = held_side.other
        full = self.request.mode.value == "full"
        readers = {side: SideReader(side, self.stream, self.connectors[side], self.store,
                                    scope_id, policy.field_names, translator, self.request.scope,
                                    full, pending[side], run_id=self.run_id,
                                    page_size=self.batch_size,
                                    marks_possible=self.marks_possible,
                                    columnar=side is streamed_side and applier.rules is None
                                    and not policy.has_owners)
                   for side in Side}
        total = self.connectors[streamed_side].count(self.stream) if full or \
            self.store.cursor(scope_id, streamed_side.value) is None else None
        self.progress.stream_started(self.stream, total)

        context = self.connectors[Side.A].context  # the run's: stop between pages when asked
        held: dict[str, SideChange] = {}
        for page in readers[held_side].pages():
            context.check()
            for change in page if isinstance(page, list) else page.changes():
                held[change.key] = change
        held_mappings = self.store.mappings_for(scope_id, held_side.value, held)
        by_match: dict[tuple[object, ...], list[str]] = {}
        for change in held.values():
            if change.key not in held_mappings and change.record is not None:
                found = match_key(change.record, policy.match_fields)
                if found is not None:
                    by_match.setdefault(found, []).append(change.key)

        deletions: list[Decision] = []
        streamed = readers[streamed_side]
        for page in streamed.pages():
            context.check()
            if page:
                self._chunk(policy, applier, streamed_side, page, streamed.page_mappings, held,
                            by_match, deletions)
            self.progress.advanced(self.stream, readers[streamed_side].read_count)
        self._flush_creates(applier)
        self._flush_pairs(policy, applier, deletions)
        rest = list(held.values())
        for start in range(0, len(rest), self.batch_size):
            chunk = rest[start:start + self.batch_size]
            mappings = [held_mappings[c.key] for c in chunk if c.key in held_mappings]
            a_changes, b_changes = ([], chunk) if held_side is Side.B else (chunk, [])
            context.check()
            self._read_partners(policy, a_changes, b_changes, mappings)
            self._apply(applier, plan_chunk(policy, a_changes, b_changes, mappings), deletions)
        self._delete(applier, deletions)
        applier.drain()
        context.check()  # a write job stopped before its end: the cursors must not move
        rows, unreadable = self._item_problems(scope_id, readers)
        for side in Side:
            self.messages.extend(f"{self.stream}: {note}" for note in readers[side].notes)
        if not self.request.dry_run:  # what a run keeps beyond its writes; a dry run keeps none
            self._keep(scope_id, readers, rows, unreadable, applier.rules)
        self.progress.stream_finished(self.stream)

    def _keep(self, scope_id: int, readers: dict[Side, SideReader],
              rows: list[JournalRow], unreadable: list[PendingItem],
              rules: RuleGate | None) -> None:
        """Keep what the stream's run learned: settle its read problems (``rows`` and
        ``unreadable`` from :meth:`_item_problems`; those of earlier runs whose records were
        read cleanly now leave the list, see :mod:`~syncline.engine.read_problems`), forget
        the post requests ``rules`` answered, and, unless records were blocked, move the
        cursors."""
        fixed = fixed_read_problems(
            self.store, self.link_name, self.stream, self.run_id,
            {side.value: (readers[side].keys_read & readers[side].pending)
             - readers[side].unreadable for side in Side})
        if rows or fixed:
            self.store.settle(scope_id=scope_id, run_id=self.run_id, journal_rows=rows,
                              pending_add=unreadable, pending_remove=fixed)
        if rules is not None:
            rules.clear_answered()
        if self.blocked:
            return
        for side in Side:
            cursor = readers[side].cursor
            if cursor is not None and cursor != readers[side].stored_cursor:
                self.store.set_cursor(scope_id, side.value, cursor)

    def _item_problems(self, scope_id: int, readers: dict[Side, SideReader]
                       ) -> tuple[list[JournalRow], list[PendingItem]]:
        """Count the items the connectors could not read (a malformed vCard or iCalendar
        item, an SQL row with a duplicate key or undecodable text: the message names it and
        the problem) and the keys the readers dropped as read twice as errors, and say so
        in the run's messages; return their journal rows (as errors) and pending entries
        (kept by :meth:`_keep`). They are neither changes nor deletions. Those with a key
        become pending items with their cause (listed by ``syncline errors``), so that every
        run reads them again by key until they are fixed; rows without a key (no key to
        keep) are reported by the connector on every read."""
        rows: list[JournalRow] = []
        pending: dict[tuple[str, str], PendingItem] = {}
        for side in Side:
            errors = readers[side].item_errors + \
                self.connectors[side].take_item_errors(self.stream)
            readers[side].item_errors = []
            for error in errors:
                self.counts.errors += 1
                self.messages.append(f"{self.stream}: {side.value}: {error}")
                rows.append(journal_row(self.run_id, scope_id,
                                        error.key if side is Side.A else None,
                                        error.key if side is Side.B else None,
                                        ActionCode.MODIFY, Direction.towards(side.other),
                                        Outcome.ERROR, str(error), error.cause))
                if error.key is not None:
                    pending[(side.value, error.key)] = pending_item(side.value, error.key,
                                                                   error, self.stream)
        return rows, list(pending.values())

    def _chunk(self, policy: Policy, applier: Applier, streamed_side: Side,
               page: list[SideChange] | ColumnChanges, known: dict[str, MappingRow] | None,
               held: dict[str, SideChange], by_match: dict[tuple[object, ...], list[str]],
               deletions: list[Decision]) -> None:
        if isinstance(page, ColumnChanges):  # all new; nothing to pair with unless matched
            if policy.allows(streamed_side.other) and applier.rules is None:
                self._column_chunk(policy, applier, streamed_side, page, held, by_match,
                                   deletions)
                return
            page = page.changes()
        mappings = known if known is not None else self.store.mappings_for(
            applier.scope_id, streamed_side.value, (c.key for c in page))
        pulled: list[SideChange] = []
        for change in page:
            mapping = mappings.get(change.key)
            if mapping is not None:
                partner = held.pop(mapping.b_key if streamed_side is Side.A else mapping.a_key,
                                   None)
                if partner is not None:
                    pulled.append(partner)
            elif change.record is not None and by_match:
                # one candidate per record, so that same-key records on later pages still
                # find theirs (pairing is one to one)
                found = match_key(change.record, policy.match_fields)
                candidates = by_match.get(found) if found is not None else None
                while candidates:
                    partner = held.pop(candidates.pop(0), None)
                    if partner is not None:
                        pulled.append(partner)
                        break
        if not mappings and not pulled and applier.rules is None and not policy.has_owners \
                and not applier.translator.display_active:  # those take the record path
            creates = plan_creates(policy, streamed_side, page)
            if creates is not None:
                self._queue_creates(applier, creates)
                return
        self._flush_creates(applier)
        a_changes, b_changes = (list(page), pulled) if streamed_side is Side.A \
            else (pulled, list(page))
        rows: Sequence[MappingRow] = list(mappings.values())
        self._read_partners(policy, a_changes, b_changes, rows)
        self._apply(applier, plan_chunk(policy, a_changes, b_changes, rows), deletions)

    def _read_partners(self, policy: Policy, a_changes: list[SideChange],
                       b_changes: list[SideChange], mappings: Iterable[MappingRow]) -> None:
        """Add to the changes the missing record of each unsettled pairing among
        ``mappings`` (see :mod:`syncline.engine.first_pair`), read by key: the planner
        decides such a pair again only with both records in hand. A record that is gone
        comes as a deletion."""
        present = {Side.A: {change.key for change in a_changes},
                   Side.B: {change.key for change in b_changes}}
        wanted: dict[Side, list[str]] = {Side.A: [], Side.B: []}
        for mapping in mappings:
            if not is_unsettled(mapping):
                continue
            has_a, has_b = mapping.a_key in present[Side.A], mapping.b_key in present[Side.B]
            if has_a and not has_b:
                wanted[Side.B].append(mapping.b_key)
            elif has_b and not has_a:
                wanted[Side.A].append(mapping.a_key)
        for side, keys in wanted.items():
            if not keys:
                continue
            found = self.connectors[side].read_keys(self.stream, keys)
            if self._translator is not None:
                self._translator.from_side(side, list(found.values()))
            into = a_changes if side is Side.A else b_changes
            for key in keys:
                record = found.get(key)
                into.append(SideChange(key, record, content_hash(record.fields,
                                                                policy.field_names))
                            if record is not None else SideChange(key, None, None))

    def _column_chunk(self, policy: Policy, applier: Applier, streamed_side: Side,
                      page: ColumnChanges, held: dict[str, SideChange],
                      by_match: dict[tuple[object, ...], list[str]],
                      deletions: list[Decision]) -> None:
        """Plan a columnar page (nothing is mapped yet): the records with a partner on the
        held side (by natural key, one to one, in page order as for records) are collected
        for :func:`~syncline.engine.plan.plan_chunk` (see ``_pairs``); the rest stay column
        by column and are created in bulk."""
        lone: list[int] = []
        partnered: list[int] = []
        pulled: list[SideChange] = []
        if by_match:
            columns = [page.page.column(name) for name in policy.match_fields]
            for row, values in enumerate(zip(*columns, strict=True)):
                found = natural_key(values)
                candidates = by_match.get(found) if found is not None else None
                partner = None
                while candidates and partner is None:
                    partner = held.pop(candidates.pop(0), None)
                if partner is None:
                    lone.append(row)
                else:
                    partnered.append(row)
                    pulled.append(partner)
        if not partnered:
            creates = plan_column_creates(policy, streamed_side, page)
        else:
            creates = plan_column_creates(policy, streamed_side, page.subset(lone)) \
                if lone else None
        if creates is not None:
            self._queue_creates(applier, creates)
        if partnered:
            paired = page.subset(partnered).changes()
            a_changes, b_changes = (paired, pulled) if streamed_side is Side.A \
                else (pulled, paired)
            self._pairs[0].extend(a_changes)
            self._pairs[1].extend(b_changes)
            if len(self._pairs[0]) >= self.batch_size:
                self._flush_pairs(policy, applier, deletions)

    def _flush_pairs(self, policy: Policy, applier: Applier,
                     deletions: list[Decision]) -> None:
        """Plan and apply the pairs collected from columnar pages (after the bulk creates
        collected so far, so that what follows sees their mappings)."""
        a_changes, b_changes = self._pairs
        if not a_changes:
            return
        self._pairs = ([], [])
        self._flush_creates(applier)
        self._apply(applier, plan_chunk(policy, a_changes, b_changes, []), deletions)

    def _queue_creates(self, applier: Applier, creates: CreateBatch) -> None:
        """Collect bulk creates until they fill a write batch (connectors may read in pages
        smaller than the link's batches; fewer, larger write transactions are faster)."""
        self._backlog.append(creates)
        self._backlog_size += len(creates)
        if self._backlog_size >= self.batch_size:
            self._flush_creates(applier)

    def _flush_creates(self, applier: Applier) -> None:
        """Apply the collected bulk creates (before anything else is planned, so that what
        follows sees their mappings)."""
        if not self._backlog:
            return
        batches, self._backlog, self._backlog_size = self._backlog, [], 0
        applier.apply_creates(CreateBatch.merge(batches))

    @staticmethod
    def _apply(applier: Applier, decisions: list[Decision], deletions: list[Decision]) -> None:
        now: list[Decision] = []
        for decision in decisions:
            if any(write.action is WriteKind.DELETE for write in decision.writes):
                deletions.append(decision)
            else:
                now.append(decision)
        applier.apply(now)

    def _delete(self, applier: Applier, deletions: list[Decision]) -> None:
        """Apply deletions unless one side would lose more than ``max_delete`` allows."""
        if not deletions:
            return
        applier.drain()
        for target in Side:
            wanted = sum(1 for d in deletions for w in d.writes
                         if w.target is target and w.action is WriteKind.DELETE)
            if not wanted:
                continue
            counted = self.connectors[target].count(self.stream)
            total = counted if counted is not None else \
                self.store.count_mappings(applier.scope_id)
            limit = self.link.delete_limit(total)
            if wanted > limit and not self.request.allow_mass_delete:
                endpoint = self.link.a if target is Side.A else self.link.b
                self.blocked = True
                self.messages.append(
                    f"{self.stream}: {wanted} deletions on '{endpoint}' ({target.value}) exceed "
                    f"max_delete = {self.link.max_delete!r} of {total} records (limit {limit}); "
                    f"nothing was deleted. Check the data, then run again with "
                    f"--allow-mass-delete to delete them.")
        if self.blocked:
            return
        for start in range(0, len(deletions), self.batch_size):
            applier.apply(deletions[start:start + self.batch_size])
