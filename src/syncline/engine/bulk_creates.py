"""The bulk-create lane of the applier: records new on one side, created on the other in
batches that are written and settled off the main thread.

Terms:

job
    One batch of creates (:class:`CreateJob`), prepared on the main thread (fields, hashes,
    versions, codes, snapshot tokens, which keys were pending) and carried out in three
    steps (:func:`run_create_job` runs them in a row; :mod:`syncline.engine.settle_lane`
    spreads them over two threads): the intent row (:func:`write_intent`), the connector's
    :meth:`~syncline.connectors.base.Connector.write_creates` (:func:`write_created`), then
    one settle transaction with the mappings and journal rows
    (:class:`~syncline.state.bulk.CreatedMappings`), the errors and the pending items, which
    also removes the intent (:func:`settle_created`). The order intent → write → settle
    holds per batch, as everywhere in :mod:`syncline.engine.apply`.
outcome
    What the main thread folds into its counters and pending sets once the job is done
    (:class:`CreateOutcome`); the settle thread touches no shared in-memory state.

While a job runs, the main thread reads and plans the next page, so a first sync keeps two
cores busy: the SQLite work of the writes and settles runs with the GIL released.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from syncline.connectors.base import Connector, CreatedRows, CreateRows
from syncline.engine.bulk_plan import CreateBatch
from syncline.engine.references import ReferenceTranslator
from syncline.errors import ItemError, ProtocolError
from syncline.journal import JournalRow, PendingItem, journal_row, pending_item
from syncline.model import ActionCode, Direction, Outcome, Side, column_hashes, field_token
from syncline.run_context import NotSent
from syncline.state.bulk import CreatedMappings
from syncline.state.store import PendingIntent, StateStore

__all__ = [
    "CreateJob",
    "CreateOutcome",
    "Rejected",
    "expand_columns",
    "prepare_jobs",
    "run_create_job",
    "settle_created",
    "write_created",
    "write_intent",
]


@dataclass(slots=True)
class Rejected:
    """A record that will not be created: its source key, journal code and the error."""

    key: str
    code: str
    error: ItemError


@dataclass
class CreateJob:
    """One batch of bulk creates (see the module docstring). Lists are in batch order;
    ``keys``, ``hashes`` and ``versions`` are the source records'; ``columns[i]`` holds the
    values of field ``names[i]`` to write."""

    batch_id: str
    stream: str
    run_id: int
    scope_id: int
    source: Side
    message: str
    keys: list[str]
    hashes: list[bytes]
    versions: list[str | None]
    codes: list[str]
    names: tuple[str, ...]
    columns: list[Sequence[Any]]
    tokens: list[str] | None
    was_pending: set[str] = field(default_factory=set)
    """Source keys of this batch that are pending from an earlier run."""
    rejected: list[Rejected] = field(default_factory=list)
    """Records of the same page refused before writing (a reference not yet mapped)."""

    @property
    def target(self) -> Side:
        return self.source.other

    @property
    def direction(self) -> Direction:
        return Direction.towards(self.target)

    def intent(self) -> PendingIntent:
        """The intent row: enough to settle the batch after a crash."""
        return PendingIntent(self.batch_id, self.run_id, self.scope_id, self.target.value, {
            "creates": {"source": self.source.value, "message": self.message,
                        "keys": self.keys, **_compact_columns(self.hashes, self.versions,
                                                              self.codes),
                        "snapshots": self.tokens}})


def _compact_columns(hashes: list[bytes], versions: list[str | None],
                     codes: list[str]) -> dict[str, Any]:
    """The hashes, versions and codes of an intent, small: hashes of one length as one hex
    text (``hash_width`` bytes each), versions ``None`` when none is known and one code
    when all are alike. :func:`expand_columns` reverses it."""
    count = len(hashes)
    widths = set(map(len, hashes))
    compact: dict[str, Any] = {
        "versions": versions if versions.count(None) != count else None,
        "codes": codes[0] if count and codes.count(codes[0]) == count else codes}
    if len(widths) == 1:
        compact["hash_width"] = widths.pop()
        compact["hashes"] = b"".join(hashes).hex()
    else:
        compact["hashes"] = [digest.hex() for digest in hashes]
    return compact


def expand_columns(creates: dict[str, Any]) -> tuple[list[str], list[str | None], list[str]]:
    """The hashes (hex), versions and codes of a create intent, one per key, whether
    written by :func:`_compact_columns` or by earlier versions (plain lists)."""
    count = len(creates["keys"])
    hashes = creates["hashes"]
    if isinstance(hashes, str):
        width = 2 * int(creates["hash_width"])
        hashes = [hashes[start:start + width] for start in range(0, len(hashes), width)]
    versions = creates["versions"] if creates["versions"] is not None else [None] * count
    codes = creates["codes"]
    if isinstance(codes, str):
        codes = [codes] * count
    return hashes, versions, codes


def prepare_jobs(batch: CreateBatch, *, stream: str, run_id: int, scope_id: int,
                 batch_size: int, keep_snapshot: bool, pending: set[str],
                 translator: ReferenceTranslator) -> Iterator[CreateJob]:
    """The jobs that create ``batch`` on the other side, at most ``batch_size`` records
    each. Records whose references the target does not have yet (see
    :class:`~syncline.engine.references.ReferenceTranslator`) are refused: they ride along
    with the first job as ``rejected``. ``pending`` are the source side's pending keys;
    ``keep_snapshot`` asks for snapshot tokens (the merge policy)."""
    source, count = batch.source, len(batch)
    rejected: list[Rejected] = []
    keep: Sequence[int] = range(count)
    if translator.active:
        rows = batch.rows()
        records = batch.records if batch.records is not None else [None] * count
        position = {key: index for index, key in enumerate(batch.keys)}
        refused = {position[label]: error for label, error in translator.for_target(
            source.other, list(zip(batch.keys, rows, records, strict=True))).items()}
        rejected = [Rejected(batch.keys[index], batch.codes[index], error)
                    for index, error in refused.items()]
        keep = [index for index in range(count) if index not in refused]
        batch.columns = [list(map(dict.get, rows, repeat(name))) for name in batch.names]
    for start in range(0, max(len(keep), 1), batch_size):
        chosen = keep[start:start + batch_size]
        if not chosen and not rejected:
            break
        keys = _pick(batch.keys, chosen)
        columns: list[Sequence[Any]] = [_pick(column, chosen) for column in batch.columns]
        hashes = _pick(batch.hashes, chosen)
        if None in hashes:
            computed = column_hashes(columns, len(keys))
            hashes = [known if known is not None else digest
                      for known, digest in zip(hashes, computed, strict=True)]
        yield CreateJob(
            batch_id=uuid.uuid4().hex, stream=stream, run_id=run_id, scope_id=scope_id,
            source=source, message=f"new on {'a' if source is Side.A else 'b'}", keys=keys,
            hashes=hashes, versions=_pick(batch.versions, chosen),
            codes=_pick(batch.codes, chosen), names=batch.names, columns=columns,
            tokens=_tokens(batch.names, columns, len(keys)) if keep_snapshot else None,
            was_pending={key for key in keys if key in pending} if pending else set(),
            rejected=rejected)
        rejected = []


def _pick(values: Sequence[Any], chosen: Sequence[int]) -> list[Any]:
    """The values at the positions ``chosen`` (a slice when they are a range)."""
    if isinstance(chosen, range):
        return list(values[chosen.start:chosen.stop])
    return [values[index] for index in chosen]


def _tokens(names: tuple[str, ...], columns: list[Sequence[Any]], count: int) -> list[str]:
    """The snapshot of each record (field tokens as JSON, as the mappings keep them)."""
    return [json.dumps({name: field_token(column[index])
                        for name, column in zip(names, columns, strict=True)})
            for index in range(count)]


@dataclass
class CreateOutcome:
    """What a job did, for the main thread's bookkeeping."""

    source: Side
    tally: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    """Source keys that failed (now pending)."""
    cleared: list[str] = field(default_factory=list)
    """Source keys that were pending and are now created."""


def run_create_job(job: CreateJob, store: StateStore, connector: Connector) -> CreateOutcome:
    """Carry out ``job``: intent, write, settle (see the module docstring).

    Raises:
        ProtocolError: the connector answered with the wrong number of results, or a
            successful create without a key; the intent stays for recovery.
        whatever the connector or the state store raise (RunError, StateError).
    """
    write_intent(job, store)
    return settle_created(job, store, write_created(job, connector))


def write_intent(job: CreateJob, store: StateStore) -> None:
    """The first step of a job: its intent row, enough to settle the batch after a crash
    (none when every record was refused before writing).

    Raises:
        StateError, sqlalchemy.exc.SQLAlchemyError: the state store cannot record it.
    """
    if job.keys:
        store.write_intent(job.intent())


def write_created(job: CreateJob, connector: Connector) -> CreatedRows:
    """The second step of a job, once its intent is written (:func:`write_intent`): create
    its records through ``connector``. What the connector answered is checked, not yet
    settled. Once the run was asked to stop, nothing is sent (every record is
    :class:`~syncline.run_context.NotSent`); the records written are reported to the run
    context.

    Raises:
        ProtocolError: the connector answered with the wrong number of results, or a
            successful create without a key; the intent stays for recovery.
        whatever the connector raises (RunError).
    """
    context = connector.context
    count = len(job.keys)
    if count and context.stopping():  # the run was asked to stop: none of it is sent
        written = CreatedRows([None] * count, errors={
            number: context.not_sent(job.stream, None) for number in range(count)})
    elif count:
        before = context.reported(job.stream)
        written = connector.write_creates(CreateRows(job.batch_id, job.stream, job.names,
                                                     job.columns, count))
        context.batch_written(job.stream, count - len(written.errors), before)
    else:  # only records refused before writing
        written = CreatedRows([])
    if len(written.keys) != len(job.keys):
        raise ProtocolError(connector.endpoint, f"{len(written.keys)} results for a batch of "
                                                f"{len(job.keys)} creates")
    for number, new_key in enumerate(written.keys):
        if new_key is None and number not in written.errors:
            raise ProtocolError(connector.endpoint, f"the create of {job.stream} "
                                                    f"{job.keys[number]} succeeded without a key")
    return written


def settle_created(job: CreateJob, store: StateStore, written: CreatedRows) -> CreateOutcome:
    """The last step of a job: one settle transaction for what :func:`write_created`
    wrote (mappings, journal rows, errors, pending items; the intent goes).

    Raises:
        StateError, sqlalchemy.exc.SQLAlchemyError: the state store cannot record it; the
            intent stays for recovery.
    """
    created = CreatedMappings(job.direction, job.message)
    outcome = CreateOutcome(job.source)
    errors = dict(written.errors)
    if not errors:
        _fill(created, job, [str(key) for key in written.keys], written.versions,
              range(len(job.keys)))
    else:
        rows = [number for number in range(len(job.keys)) if number not in errors]
        _fill(created, job, [str(written.keys[number]) for number in rows],
              [written.versions[number] for number in rows] if written.versions else None,
              rows)
    for code in created.codes:
        outcome.tally[code] = outcome.tally.get(code, 0) + 1
    journal_rows: list[JournalRow] = []
    pending_add: list[PendingItem] = []
    source = job.source.value
    unsent = {job.keys[number] for number, error in errors.items()
              if isinstance(error, NotSent)}  # nothing recorded: read again next run
    problems = [Rejected(job.keys[number], job.codes[number], error)
                for number, error in errors.items() if not isinstance(error, NotSent)] \
        + job.rejected
    for problem in problems:
        text = str(problem.error)
        a_key, b_key = (problem.key, None) if job.source is Side.A else (None, problem.key)
        journal_rows.append(journal_row(job.run_id, job.scope_id, a_key, b_key,
                                        ActionCode(problem.code), job.direction,
                                        Outcome.ERROR, text, problem.error.cause))
        pending_add.append(pending_item(source, problem.key, problem.error, job.stream))
        outcome.failed.append(problem.key)
    failed = set(outcome.failed)
    outcome.cleared = [key for key in job.was_pending if key not in failed
                       and key not in unsent]
    store.settle(scope_id=job.scope_id, run_id=job.run_id, batch_ids=[job.batch_id],
                 created=[created], journal_rows=journal_rows, pending_add=pending_add,
                 pending_remove=[(source, key) for key in outcome.cleared])
    return outcome


def _fill(created: CreatedMappings, job: CreateJob, new_keys: list[str],
          new_versions: list[str | None] | None, rows: list[int] | range) -> None:
    """Put the created rows ``rows`` of ``job`` into ``created`` as columns."""
    whole = isinstance(rows, range)
    source_keys = job.keys if whole else [job.keys[number] for number in rows]
    versions = job.versions if whole else [job.versions[number] for number in rows]
    targets: list[str | None] = new_versions if new_versions is not None \
        else [None] * len(new_keys)
    if job.source is Side.A:
        created.a_keys, created.b_keys = source_keys, new_keys
        created.a_versions, created.b_versions = versions, targets
    else:
        created.a_keys, created.b_keys = new_keys, source_keys
        created.a_versions, created.b_versions = targets, versions
    created.hashes = job.hashes if whole else [job.hashes[number] for number in rows]
    created.codes = job.codes if whole else [job.codes[number] for number in rows]
    if job.tokens is not None:
        tokens: list[str | None] = list(job.tokens) if whole \
            else [job.tokens[number] for number in rows]
        created.snapshots = tokens
