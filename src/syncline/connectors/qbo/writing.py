"""Writing to QBO through the batch endpoint, crash-safely.

A write batch from the engine becomes batch requests of at most ``batch_size`` (QBO: 30)
``BatchItemRequest`` operations each:

- create: the mapped properties (plus the stream's defaults, e.g. Item Type Service);
- update: a **sparse** update carrying ``Id``, the record's last known ``SyncToken`` (the
  engine's ``expected_version``; the current one when the engine has none) and only the
  changed properties; nested objects (addresses, e-mail) are merged with their current
  content so that a sparse update of one part keeps the rest;
- delete: transactions are deleted (``operation: delete``); list objects are made inactive
  (a sparse update ``Active: false``), as QBO never deletes them.

Before anything is sent, a receipt with every request's ``requestid`` and exact body is
stored (see :mod:`.state`); ``requestid`` is derived from the engine's batch id, so the same
intent always sends the same requests. Per-item faults become item errors: 5010 (stale
object) and 610 (object gone) a :class:`~syncline.errors.VersionConflict` (the engine reads
the record again and applies the link's conflict policy), 2500 (invalid reference) a
:class:`~syncline.errors.ReferenceMissing`, everything else a
:class:`~syncline.errors.ValidationFailed`. Messages name documents by their number.

An update of a paid or part-paid document sends only its reference and due date, when they
changed; otherwise nothing, and its result is a :class:`~syncline.errors.RecordLocked`.
Sales lines that name no item carry the endpoint's ``rounding_item`` (see
:mod:`.documents`).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation, WriteResult
from syncline.connectors.qbo.documents import label, lock_of, locked_body, with_rounding_item
from syncline.connectors.qbo.http import ApiClient, Fault, FaultError
from syncline.connectors.qbo.mapping import EntityKind, StreamMap
from syncline.connectors.qbo.reading import Reader
from syncline.connectors.qbo.state import StateFolder
from syncline.errors import (
    ItemError,
    MalformedRecord,
    ProtocolError,
    RecordLocked,
    ReferenceMissing,
    ValidationFailed,
    VersionConflict,
)
from syncline.model import Record
from syncline.run_context import RunContext

__all__ = ["Writer", "request_id_for"]

_ERRORS: dict[str, type[ItemError]] = {"VersionConflict": VersionConflict,
                                       "ValidationFailed": ValidationFailed,
                                       "ReferenceMissing": ReferenceMissing,
                                       "RecordLocked": RecordLocked}


def request_id_for(batch_id: str, chunk: int) -> str:
    """The ``requestid`` of request ``chunk`` of a batch: 32 hex characters derived from the
    batch id (QBO allows 36 on batch requests)."""
    return hashlib.blake2b(f"{batch_id}:{chunk}".encode(), digest_size=16).hexdigest()


def _item_error(stream: str, operation: WriteOperation, fault: Fault) -> ItemError:
    key = operation.key
    text = f"{label(stream, operation)}: {fault}"
    if fault.code in ("5010", "610"):
        return VersionConflict(text, stream=stream, key=key)
    if fault.code == "2500":
        return ReferenceMissing(text, stream=stream, key=key)
    return ValidationFailed(text, stream=stream, key=key)


def _failed(error: ItemError) -> dict[str, Any]:
    """The plan step of an operation that fails before anything is sent (kept in the
    receipt: its kind, message and cause)."""
    cause = error.cause
    return {"error": type(error).__name__, "message": error.message, "field": cause.field,
            "value": cause.value}


class Writer:
    """Writes one company's streams (see the module docstring)."""

    def __init__(self, endpoint: str, client: ApiClient, reader: Reader, state: StateFolder,
                 *, batch_size: int, concurrent: int) -> None:
        self.endpoint = endpoint
        self.client = client
        self.reader = reader
        self.state = state
        self.batch_size = batch_size
        self.concurrent = concurrent
        self.context = RunContext()
        """The run context of the batch being written (set by the connector)."""
        self.rounding_item: str | None = None
        """The Id of the item of sales lines that name none (see :mod:`.documents`; set by
        the connector when it opens)."""

    def _prepare(self, mapping: StreamMap, operations: list[WriteOperation]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(batch items to send, per operation its ``bId`` or its error)."""
        targets = [op.key for op in operations if op.kind is not WriteKind.CREATE and op.key]
        current = self.reader.raw_objects(mapping, targets) if targets else {}
        entity = mapping.entity
        items: list[dict[str, Any]] = []
        plan: list[dict[str, Any]] = []
        for position, op in enumerate(operations):
            bid = str(position)
            if mapping.kind is EntityKind.READ_ONLY:
                plan.append({"error": "ValidationFailed", "message": f"{mapping.stream} "
                             f"{op.key or ''}: {entity} is read-only in QuickBooks Online"})
                continue
            found = current.get(op.key or "")
            try:
                fields = with_rounding_item(mapping, op, self.rounding_item,
                                            f"endpoints.{self.endpoint}.rounding_item")
            except ItemError as error:
                plan.append(_failed(error))
                continue
            if op.kind is WriteKind.CREATE:
                items.append({"bId": bid, "operation": "create",
                              entity: mapping.to_body(fields, create=True)})
                plan.append({"bId": bid, "key": None})
                continue
            if found is None or (mapping.kind is EntityKind.LIST
                                 and found.get("Active") is False):
                plan.append({"error": "VersionConflict", "message": f"{label(mapping.stream, op)}"
                             f": no longer exists in QuickBooks Online (Id {op.key}: deleted "
                             f"or made inactive)"})
                continue
            token = op.expected_version or str(found.get("SyncToken"))
            if op.kind is WriteKind.DELETE:
                if mapping.kind is EntityKind.TRANSACTION:
                    items.append({"bId": bid, "operation": "delete",
                                  entity: {"Id": op.key, "SyncToken": token}})
                else:
                    items.append({"bId": bid, "operation": "update", entity: {
                        "Id": op.key, "SyncToken": token, "sparse": True, "Active": False}})
                plan.append({"bId": bid, "key": op.key})
                continue
            lock = lock_of(mapping, found)
            try:
                partial = mapping.to_body(fields, create=False) if lock is None else \
                    locked_body(mapping, WriteOperation(op.token, op.kind, op.key, fields),
                                found, lock)
            except ItemError as error:
                plan.append(_failed(error))
                continue
            for name, value in partial.items():
                if isinstance(value, dict) and isinstance(found.get(name), dict) \
                        and "value" not in value:
                    partial[name] = {**found[name], **value}
            items.append({"bId": bid, "operation": "update",
                          entity: {**partial, "Id": op.key, "SyncToken": token,
                                   "sparse": True}})
            plan.append({"bId": bid, "key": op.key})
        return items, plan

    def write(self, mapping: StreamMap, batch: WriteBatch) -> list[WriteResult]:
        """Apply ``batch`` (see the module docstring).

        Raises:
            RunError: the API cannot be used; the receipt lets :meth:`recover` settle it.
            OSError: the state folder cannot be written (nothing was sent).
        """
        items, plan = self._prepare(mapping, batch.operations)
        chunks = [{"request_id": request_id_for(batch.batch_id, number),
                   "body": {"BatchItemRequest": items[start:start + self.batch_size]}}
                  for number, start in enumerate(range(0, len(items), self.batch_size))]
        self.state.write_receipt(batch.batch_id, {
            "batch_id": batch.batch_id, "stream": mapping.stream, "entity": mapping.entity,
            "chunks": chunks, "plan": plan})
        return self._send(mapping, batch.operations, chunks, plan)

    def recover(self, mapping: StreamMap, batch: WriteBatch) -> list[WriteResult] | None:
        """The results of a batch a crash interrupted: its receipt's requests are sent again
        with their request ids, which QBO answers with the first answer where it got them
        (and applies now where it did not). ``None`` when no receipt was stored: then
        nothing was sent.

        Raises:
            ProtocolError: the receipt does not fit the batch.
        """
        receipt = self.state.receipt(batch.batch_id)
        if receipt is None:
            return None
        plan = receipt.get("plan") or []
        if len(plan) != len(batch.operations) or receipt.get("stream") != mapping.stream:
            raise ProtocolError(self.endpoint, f"the receipt of batch {batch.batch_id} does "
                                               f"not match the batch to recover")
        return self._send(mapping, batch.operations, receipt.get("chunks") or [], plan)

    def _returned(self, mapping: StreamMap, stored: dict[str, Any]) -> Record | None:
        """The canonical record of an object QBO answered a write with (see
        :class:`~syncline.connectors.base.WriteResult`); ``None`` for tax rates (their rate
        takes another query) and for an object that cannot be read (the engine reads it
        back then, and sees the problem there)."""
        if mapping.stream == "tax_rate":
            return None
        try:
            return self.reader.record(mapping, stored)
        except MalformedRecord:
            return None

    def _send(self, mapping: StreamMap, operations: list[WriteOperation],
              chunks: list[dict[str, Any]], plan: list[dict[str, Any]]) -> list[WriteResult]:
        answers: dict[str, dict[str, Any]] = {}

        context = self.context

        def send(chunk: dict[str, Any]) -> dict[str, dict[str, Any]]:
            if context.stopping():  # the run was asked to stop: the rest goes next run
                return {}
            try:
                answer = self.client.call("POST", "/batch", request_id=chunk["request_id"],
                                          body=chunk["body"])
            except FaultError as error:
                fault = {"Fault": {"type": error.fault.type, "Error": [{
                    "code": error.fault.code, "Message": error.fault.message,
                    "Detail": error.fault.detail}]}}
                return {str(item["bId"]): fault for item in chunk["body"]["BatchItemRequest"]}
            found = answer.get("BatchItemResponse")
            if not isinstance(found, list):
                raise ProtocolError(self.endpoint, "a batch answer lacks BatchItemResponse")
            return {str(item.get("bId")): item for item in found if isinstance(item, dict)}

        if len(chunks) > 1 and self.concurrent > 1:
            with ThreadPoolExecutor(max_workers=min(self.concurrent, len(chunks)),
                                    thread_name_prefix="qbo-batch") as pool:
                for found in pool.map(send, chunks):
                    answers.update(found)
        else:
            for chunk in chunks:
                answers.update(send(chunk))
        results: list[WriteResult] = []
        written: dict[str, str] = {}
        for op, step in zip(operations, plan, strict=True):
            if "error" in step:
                kind = _ERRORS.get(str(step["error"]), ValidationFailed)
                results.append(WriteResult(op.token, error=kind(
                    str(step["message"]), stream=mapping.stream, key=op.key,
                    field=step.get("field"), value=step.get("value"))))
                continue
            answer = answers.get(str(step["bId"]))
            if answer is None and context.stopping():
                results.append(WriteResult(op.token,
                                           error=context.not_sent(mapping.stream, op.key)))
                continue
            if answer is None:
                raise ProtocolError(self.endpoint, f"the batch answer has no item for bId "
                                                   f"{step['bId']}")
            fault = Fault.of(answer.get("Fault")) if "Fault" in answer else None
            if fault is not None:
                results.append(WriteResult(op.token, error=_item_error(
                    mapping.stream, op, fault)))
                continue
            stored = answer.get(mapping.entity)
            if not isinstance(stored, dict) or not stored.get("Id"):
                raise ProtocolError(self.endpoint, f"the batch answer for bId {step['bId']} "
                                                   f"holds no {mapping.entity}")
            key = str(stored["Id"])
            if stored.get("status") == "Deleted":
                written[key] = "deleted"
                results.append(WriteResult(op.token, key))
                continue
            written[key] = str(stored.get("SyncToken"))
            results.append(WriteResult(op.token, key, written[key],
                                       record=self._returned(mapping, stored)))
        self.state.record_own(mapping.entity, written)
        return results
