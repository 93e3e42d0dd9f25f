"""Recovery: settling the batches an interrupted run left behind.

Terms: an **intent** is the state-store row written before a batch goes to a connector (see
:mod:`syncline.engine.apply`). A run killed between the write and its settle leaves intents
behind. The next run of the stream asks the target connector, for each intent, which of its
operations were applied (:meth:`~syncline.connectors.base.Connector.recover`, from the
receipts it keeps; :meth:`~syncline.connectors.base.Connector.abandon` also marks a batch
not applied as abandoned where the endpoint can, so that a stale writer's late write of it
fails) and settles those, for the run that wrote them: nothing is written twice
and nothing is lost. Operations that were not applied need nothing: their source changes are
read again, as the cursors did not move.

A recovered create on a side that owns fields is settled as a create answered in time is
(:func:`~syncline.engine.owned_apply.read_back_created`): the new record and its source are
read, the mapping stores the hash and version of what the new record holds (unless it was
edited since the create: then the hash the create wrote, so that the edit reads as a change,
not as synced), and only when owned values are still to be put back on the source is the
pair left to be settled again (its source hash unknown). So an answer lost after the write
was applied costs no conflict and no rewrite next run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncline.connectors.base import WriteBatch, WriteOperation, WriteResult
from syncline.engine.buffer import SettleBuffer, unhex
from syncline.engine.bulk_creates import expand_columns
from syncline.engine.first_pair import unsettled_mapping
from syncline.engine.owned import owned_put_back
from syncline.engine.owned_apply import UNSETTLED
from syncline.engine.plan import Decision, Write
from syncline.journal import journal_row, pending_item
from syncline.model import ActionCode, Direction, Outcome, Record, Side, content_hash
from syncline.plan_types import MappingRow, WriteKind
from syncline.state.store import PendingIntent

if TYPE_CHECKING:
    from syncline.engine.apply import Applier

__all__ = ["recover_interrupted"]


def recover_interrupted(applier: Applier) -> int:
    """Settle the batches a previous, interrupted run of ``applier``'s stream sent or was
    about to send. Returns how many operations were found applied and settled.

    Raises:
        whatever the connectors' ``recover`` or the state store raise.
    """
    settled = 0
    pairings: dict[str, MappingRow] = {}
    applier.drain()
    for intent in applier.store.pending_intents(applier.scope_id):
        target = Side(intent.target)
        if "creates" in intent.payload:
            settled += _recover_creates(applier, intent, target)
            continue
        entries = intent.payload["ops"]
        operations = [WriteOperation(f"{intent.batch_id}-{position}",
                                     WriteKind(entry[1]),
                                     entry[3] if target is Side.B else entry[2])
                      for position, entry in enumerate(entries)]
        results = applier.connectors[target].abandon(
            WriteBatch(intent.batch_id, applier.stream, operations))
        buffer = SettleBuffer(batch_ids=[intent.batch_id], mapping_run_id=intent.run_id)
        if results is not None:
            fresh = _read_created(applier, target, entries, results)
            for entry, result in zip(entries, results, strict=True):
                settled += _settle_recovered(applier, target, entry, result, buffer, pairings,
                                             fresh)
        applier.flush(buffer)
    _remember_pairings(applier, pairings)
    return settled


def _remember_pairings(applier: Applier, pairings: dict[str, MappingRow]) -> None:
    """Record the first pairings of the interrupted batches that are not settled, as
    unsettled pairings (see :mod:`syncline.engine.first_pair`): the pair is remembered and
    decided again by the next run, never matched anew or copied twice."""
    if not pairings:
        return
    applier.drain()
    store, scope_id = applier.store, applier.scope_id
    by_a = store.mappings_for(scope_id, "a", pairings)
    by_b = store.mappings_for(scope_id, "b", (row.b_key for row in pairings.values()))
    rows = [row for a_key, row in pairings.items()
            if a_key not in by_a and row.b_key not in by_b]
    if rows:
        applier.flush(SettleBuffer(new_mappings=rows))


def _recover_creates(applier: Applier, intent: PendingIntent, target: Side) -> int:
    """Settle an interrupted bulk-create batch (:meth:`Applier.apply_creates`)."""
    creates = intent.payload["creates"]
    keys = creates["keys"]
    operations = [WriteOperation(f"{intent.batch_id}-{number}", WriteKind.CREATE, None)
                  for number in range(len(keys))]
    results = applier.connectors[target].abandon(
        WriteBatch(intent.batch_id, applier.stream, operations))
    buffer = SettleBuffer(batch_ids=[intent.batch_id], mapping_run_id=intent.run_id)
    settled = 0
    if results is not None:
        message = f"{creates['message']} (settled after an interrupted run)"
        direction = Direction.towards(target)
        snapshots = creates.get("snapshots") or [None] * len(keys)
        hashes, versions, codes = expand_columns(creates)
        for key, digest, version, code, snapshot, result in zip(
                keys, hashes, versions, codes, snapshots, results, strict=True):
            if result.error is not None:
                continue
            hashed = unhex(digest)
            a_key, b_key = (key, result.key) if target is Side.B else (result.key, key)
            a_version, b_version = (version, result.version) if target is Side.B \
                else (result.version, version)
            buffer.journal_rows.append(journal_row(applier.run_id, applier.scope_id, a_key,
                                                   b_key, ActionCode(code), direction,
                                                   Outcome.OK, message))
            buffer.new_mapping_rows.append((applier.scope_id, a_key, b_key, hashed, hashed,
                                            a_version, b_version, snapshot, intent.run_id))
            applier.tally[code] += 1
            settled += 1
    applier.flush(buffer)
    return settled


_Fresh = tuple[dict[str, Record], dict[str, Record]]
"""Records read back for recovered creates on a side that owns fields: the created records
(by their new key) and their sources (by source key), references in a-space."""


def _read_created(applier: Applier, target: Side, entries: list[list[Any]],
                  results: list[WriteResult]) -> _Fresh:
    """Read the records the recovered creates of one intent made on ``target`` (when it owns
    fields) and their sources (see the module docstring).

    Raises:
        whatever the connectors' ``read_keys`` raise.
    """
    if not applier.policy.owned_by(target):
        return {}, {}
    created: list[str] = []
    sources: list[str] = []
    for entry, result in zip(entries, results, strict=True):
        if entry[1] == WriteKind.CREATE.value and result.ok and result.key is not None:
            source_key = entry[2] if target is Side.B else entry[3]
            if source_key is not None:
                created.append(str(result.key))
                sources.append(str(source_key))
    if not created:
        return {}, {}
    found: list[dict[str, Record]] = []
    for side, keys in ((target, created), (target.other, sources)):
        records = applier.connectors[side].read_keys(applier.stream, keys)
        applier.translator.from_side(side, list(records.values()))
        found.append(records)
    return found[0], found[1]


def _owned_settled(applier: Applier, target: Side, entry: list[Any], new_key: str,
                   fresh: _Fresh) -> tuple[bytes, str | None, bool] | None:
    """For a recovered create on ``target`` (a side that owns fields), read back: the hash
    and version of what the new record holds, and whether owned values are still to be put
    on the source; ``None`` when either record could not be read."""
    created, sources = fresh
    source_key = entry[2] if target is Side.B else entry[3]
    record, source = created.get(new_key), sources.get(str(source_key))
    if record is None or source is None:
        return None
    write = Write(target, WriteKind.CREATE, None, None, None, ActionCode(entry[10]))
    decision = Decision(entry[2], entry[3], None, [write],
                        a_record=source if target is Side.B else None,
                        b_record=source if target is Side.A else None)
    back = owned_put_back(applier.policy, decision, target, record)
    if write.hash is None:
        return None
    written = unhex(entry[5] if target is Side.A else entry[6])
    if written is not None and written not in (write.hash,
                                               _made_hash(applier, target, record)):
        # edited since the create (the run died, people went on working): what it holds
        # now was not synced, so the mapping keeps the hash of what the create wrote and
        # the edit is read as a change
        return written, None, back is not None
    return write.hash, record.version, back is not None


def _made_hash(applier: Applier, target: Side, record: Record) -> bytes:
    """The hash of ``record`` (created on ``target``) with the fields ``target`` owns
    empty: what a create that left them out wrote, if the record was not edited since (a
    create that carried them wrote the hash of the whole record)."""
    owned = applier.policy.owned_by(target)
    return content_hash({name: None if name in owned else value
                         for name, value in record.fields.items()},
                        applier.policy.field_names)


def _settle_recovered(applier: Applier, target: Side, entry: list[Any], result: WriteResult,
                      buffer: SettleBuffer, pairings: dict[str, MappingRow],
                      fresh: _Fresh = ({}, {})) -> int:
    """Add what one recovered operation did to ``buffer``; 1 when it was applied, else 0.
    A write of a first pairing (an update with no mapping yet) that is not settled here
    goes to ``pairings`` (by a-key), to be remembered as an unsettled pairing."""
    (_, action, a_key, b_key, mapping_id, a_hash, b_hash, a_version, b_version, snapshot,
     code, forget, message, one_of_several) = entry
    first_pairing = mapping_id is None and action == WriteKind.UPDATE.value \
        and a_key is not None and b_key is not None
    if first_pairing and (not result.ok or one_of_several):
        pairings[a_key] = unsettled_mapping(None, a_key, b_key, a_version, b_version)
    if not result.ok:
        return 0  # never applied: the source change is read again (cursors did not move)
    if applier.policy.has_owners:  # settled as a decision would be: its pair is done
        for side, key in ((Side.A, a_key), (Side.B, b_key)):
            if key is not None and key in applier.pending[side]:
                buffer.pending_remove.append((side.value, key))
                applier.pending[side].discard(key)
    if action == WriteKind.CREATE.value:
        if target is Side.A:
            a_key = result.key
        else:
            b_key = result.key
        source_key = b_key if target is Side.A else a_key
        read_back = _owned_settled(applier, target, entry, str(result.key), fresh) \
            if applier.policy.owned_by(target) and result.key is not None else None
        if read_back is not None:  # as a create answered in time (see the module docstring)
            digest, version, put_back = read_back
            if target is Side.A:
                a_hash = digest.hex()
            else:
                b_hash = digest.hex()
            if result.version is None or version is not None:
                result.version = version
        else:
            put_back = bool(applier.policy.owned_by(target))
        if put_back and source_key is not None:
            # the create left the target's owned fields out and the run died before their
            # values could be put back on the source: settle the pair again this run
            if target is Side.A:
                b_hash = None
            else:
                a_hash = None
            buffer.pending_add.append(pending_item(target.other.value, source_key, UNSETTLED))
            applier.pending[target.other].add(source_key)
    if target is Side.A:
        a_version = result.version
    else:
        b_version = result.version
    buffer.journal_rows.append(journal_row(
        applier.run_id, applier.scope_id, a_key, b_key, ActionCode(code),
        Direction.towards(target), Outcome.OK, f"{message} (settled after an interrupted run)"))
    applier.tally[code] += 1
    if one_of_several:
        # a decision writing both sides (a merge): with only this write known, keep the
        # mapping as it was, so the next run sees both sides changed and merges again
        return 1
    if forget or a_key is None or b_key is None:
        if mapping_id is not None:
            buffer.removed_mapping_ids.append(int(mapping_id))
        return 1
    row = MappingRow(mapping_id, a_key, b_key, unhex(a_hash), unhex(b_hash), a_version,
                     b_version, snapshot)
    if mapping_id is not None:
        buffer.changed_mappings.append(row)
    else:
        buffer.new_mappings.append(row)
    return 1
