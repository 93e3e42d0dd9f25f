"""Writing batches to Xero.

Creates and updates of contacts, documents and items go in requests of up to ``batch_size``
elements (``POST /Invoices?summarizeErrors=false``...); Xero then answers every element on
its own, and an element with ``ValidationErrors`` becomes a
:class:`~syncline.errors.ValidationFailed` naming the record and Xero's messages, while the
others are written. Payments are created in batches too (``PUT /Payments``). Accounts are
written one per request (the API takes one), deletions as the connector module describes.
A request Xero refuses as a whole (HTTP 400 without per-element answers, e.g. one element
breaking the schema) is sent again one element per request, so that only the offending
element fails.

The requests of a batch of creates (or of updates) are independent: up to the tenant's
``concurrent`` limit of them are in flight at once (the shared limiter keeps to the minute
and day limits). Batches mixing kinds, and deletions, go one request after another.

Every request carries an ``Idempotency-Key`` derived from the batch ID, the request's place
in the batch and the operations' tokens, and is recorded before it is sent (see
:mod:`.state`): after a crash, :func:`recover` sends unanswered requests again with
the same key, and Xero answers what it did the first time instead of writing twice.

Updates and deletions first read the records they touch (one call per 50): a record that is
gone (archived, voided, deleted) or whose version differs from ``expected_version`` fails
with :class:`~syncline.errors.VersionConflict` and is not sent.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation, WriteResult
from syncline.connectors.receipts import line_of_result, result_of_line
from syncline.connectors.xero.context import XeroContext
from syncline.connectors.xero.locks import editable_part, lock_of
from syncline.connectors.xero.mapping import (
    GONE,
    STREAMS,
    from_xero,
    is_gone,
    key_of,
    to_xero,
    updated_ms,
)
from syncline.connectors.xero.reading import IDS_PER_CALL, fetch
from syncline.errors import ItemError, MalformedRecord, ValidationFailed, VersionConflict
from syncline.model import Record

__all__ = ["line_items_in_force", "recover", "write"]

_TYPES = {"invoice": "ACCREC", "bill": "ACCPAY", "credit_note": "ACCRECCREDIT"}
_BATCHED = frozenset({"contact", "invoice", "bill", "credit_note", "item"})
_DOCUMENTS = frozenset({"invoice", "bill", "credit_note"})


@dataclass
class _Request:
    method: str
    path: str
    body: Any
    operations: list[WriteOperation]
    batched: bool


def _label(stream: str, operation: WriteOperation, position: int,
           existing: dict[str, Any] | None = None) -> str:
    """How messages name the record: by its number (code, name, reference) as the update
    gives it or Xero holds it, else by its key; a new record without any by its place in
    the batch."""
    fields = operation.fields or {}
    name = fields.get("number") or fields.get("code") or fields.get("name") \
        or fields.get("reference")
    if not name and existing is not None:
        name = existing.get("InvoiceNumber") or existing.get("CreditNoteNumber") \
            or existing.get("Code") or existing.get("Name")
    if name:
        return f"{stream} {name}"
    return f"{stream} {operation.key}" if operation.key else f"new {stream} #{position + 1}"


# -- planning -----------------------------------------------------------------------------
def _item_codes(context: XeroContext) -> list[str]:
    """The codes of the organisation's items (one ``GET /Items``)."""
    return [str(obj["Code"]) for objects in fetch(context, "item") for obj in objects
            if obj.get("Code")]


def line_items_in_force(context: XeroContext, items_synced: bool) -> str:
    """How document lines that name a product and a ledger account go, in words, for a link
    that syncs the item stream to Xero (``items_synced``) or not.

    Raises:
        RunError: as reading the organisation's items.
    """
    held = len(_item_codes(context))
    where = "the link syncs the item stream to Xero" if items_synced else \
        "the link does not sync the item stream to Xero"
    return (f"document lines: {where}, and Xero holds {held} item(s) now; a line naming a "
            f"product and a ledger account goes with ItemCode and AccountCode when Xero "
            f"holds that product as an item, else as an account line (AccountCode alone)")


def _current(context: XeroContext, stream: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    if not keys:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), IDS_PER_CALL):
        for objects in fetch(context, stream, ids=keys[start:start + IDS_PER_CALL]):
            for obj in objects:
                found[key_of(stream, obj)] = obj
    return found


def _plan(context: XeroContext, batch: WriteBatch,
          results: dict[str, WriteResult]) -> list[_Request]:
    stream = batch.stream
    spec = STREAMS[stream]
    touched = [op.key for op in batch.operations
               if op.kind is not WriteKind.CREATE and op.key]
    current = _current(context, stream, touched)
    items = context.items.known_codes(lambda: _item_codes(context), batch.operations) \
        if stream in _DOCUMENTS else None
    batched: list[tuple[dict[str, Any], WriteOperation]] = []
    single: list[_Request] = []
    for position, operation in enumerate(batch.operations):
        existing = current.get(operation.key or "") \
            if operation.kind is not WriteKind.CREATE else None
        where = _label(stream, operation, position, existing)
        try:
            lock = lock_of(stream, existing) \
                if operation.kind is WriteKind.UPDATE and existing is not None else None
            if operation.kind is not WriteKind.CREATE and lock is None:
                if existing is None or (spec.status_field
                                        and existing.get(spec.status_field) in GONE):
                    raise VersionConflict(f"{where} no longer exists in Xero (ID "
                                          f"{operation.key})",
                                          stream=stream, key=operation.key)
                version = str(updated_ms(existing))
                if operation.expected_version and operation.expected_version != version:
                    raise VersionConflict(f"{where} changed in Xero since it was read",
                                          stream=stream, key=operation.key)
            if operation.kind is WriteKind.DELETE:
                request = _deletion(stream, operation, existing, where)
                if request is None:
                    continue
                if request.batched:
                    batched.append((request.body, operation))
                else:
                    single.append(request)
                continue
            element = to_xero(stream, dict(operation.fields or {}),
                              context.settings.tracking,
                              _TYPES.get(stream) if operation.kind is WriteKind.CREATE
                              else None, item_codes=items)
            if lock is not None:
                assert existing is not None
                element = editable_part(stream, where, operation, existing, element, lock,
                                        context.settings.tracking)
            api_id = str(existing[spec.id_field]) if existing is not None else None
            if api_id is not None:
                element[spec.id_field] = api_id
            if stream == "item" and existing is not None:
                element.setdefault("Code", existing["Code"])  # the schema requires it
            if stream in _BATCHED or (stream == "payment"
                                      and operation.kind is WriteKind.CREATE):
                batched.append((element, operation))
            elif stream == "ledger_account":
                single.append(_Request("PUT", "/Accounts", element, [operation], False)
                              if api_id is None else
                              _Request("POST", f"/Accounts/{api_id}",
                                       {"Accounts": [element]}, [operation], False))
            else:
                raise ValidationFailed(f"{where}: the xero connector cannot "
                                       f"{operation.kind.value} {stream} records",
                                       stream=stream, key=operation.key)
        except ItemError as error:
            error.stream, error.key = stream, operation.key
            results[operation.token] = WriteResult(operation.token, error=error)
    requests: list[_Request] = []
    size = context.settings.batch_size
    method = "PUT" if stream == "payment" else "POST"
    for start in range(0, len(batched), size):
        chunk = batched[start:start + size]
        requests.append(_Request(method, f"/{spec.collection}",
                                 {spec.collection: [element for element, _ in chunk]},
                                 [operation for _, operation in chunk], True))
    return requests + single


def _deletion(stream: str, operation: WriteOperation, existing: dict[str, Any] | None,
              where: str) -> _Request | None:
    assert existing is not None and operation.key is not None
    spec = STREAMS[stream]
    key = str(existing[spec.id_field])
    if stream == "contact":
        return _Request("", "", {"ContactID": key, "ContactStatus": "ARCHIVED"},
                        [operation], True)
    if stream in ("invoice", "bill", "credit_note"):
        status = existing.get("Status")
        if status == "PAID":
            raise ValidationFailed(f"{where} is paid: delete its payments before voiding "
                                   f"it", stream=stream, key=operation.key)
        target = "VOIDED" if status == "AUTHORISED" else "DELETED"
        return _Request("", "", {spec.id_field: key, "Status": target}, [operation], True)
    if stream == "payment":
        return _Request("POST", f"/Payments/{key}", {"Status": "DELETED"}, [operation],
                        False)
    if stream == "ledger_account":
        return _Request("POST", f"/Accounts/{key}",
                        {"Accounts": [{"AccountID": key, "Status": "ARCHIVED"}]},
                        [operation], False)
    if stream == "item":
        return _Request("DELETE", f"/Items/{key}", None, [operation], False)
    raise ValidationFailed(f"{where}: {stream} records cannot be deleted in Xero",
                           stream=stream, key=operation.key)


# -- sending ------------------------------------------------------------------------------
def _key(batch_id: str, sequence: int, operations: list[WriteOperation]) -> str:
    digest = hashlib.sha256("|".join([batch_id, str(sequence),
                                      *(op.token for op in operations)]).encode())
    return f"syncline-{digest.hexdigest()[:48]}"


def _send(context: XeroContext, batch: WriteBatch, sequence: int, method: str, path: str,
          body: Any, key: str) -> Any:
    params = {"summarizeErrors": "false"} if method in ("PUT", "POST") \
        and not path.count("/") > 1 else None
    answer = context.client.call(method, path, params=params, body=body,
                                 headers={"Idempotency-Key": key})
    stored = {"status": answer.status, "body": answer.body}
    context.state.record_answer(batch.batch_id, sequence, stored)
    return stored


def _returned(stream: str, op: WriteOperation, element: dict[str, Any],
              tracking: dict[str, str]) -> Record | None:
    """The canonical record of the object Xero answered a create or update with (see
    :class:`~syncline.connectors.base.WriteResult`); ``None`` for a delete, a gone object,
    or one that cannot be read (the engine reads it back then, and sees the problem)."""
    if op.kind is WriteKind.DELETE or is_gone(stream, element):
        return None
    try:
        return from_xero(stream, element, tracking)
    except (MalformedRecord, ValueError, KeyError, TypeError):
        return None


def _settle(stream: str, operations: list[WriteOperation], answer: dict[str, Any],
            results: dict[str, WriteResult], tracking: dict[str, str]) -> None:
    spec = STREAMS[stream]
    status, body = answer["status"], answer["body"]
    labels = {op.token: _label(stream, op, index) for index, op in enumerate(operations)}
    if status == 204:
        for op in operations:
            results[op.token] = WriteResult(op.token, op.key)
        return
    if status == 404:
        for op in operations:
            results[op.token] = WriteResult(op.token, error=VersionConflict(
                f"{labels[op.token]} no longer exists in Xero (ID {op.key})", stream=stream,
                key=op.key))
        return
    elements = body.get(spec.collection) if status == 200 and isinstance(body, dict) \
        else None
    if not isinstance(elements, list) or len(elements) != len(operations):
        message = body.get("Message") if isinstance(body, dict) else None
        details = [error["Message"] for element in (body or {}).get("Elements", [])
                   for error in element.get("ValidationErrors", [])] \
            if isinstance(body, dict) else []
        text = "; ".join([str(message or f"HTTP {status}"), *details])
        for op in operations:
            results[op.token] = WriteResult(op.token, error=ValidationFailed(
                f"{labels[op.token]}: Xero refused the request: {text}", stream=stream,
                key=op.key))
        return
    for op, element in zip(operations, elements, strict=True):
        messages = [str(error.get("Message")) for error in
                    element.get("ValidationErrors") or []]
        if messages or element.get("StatusAttributeString") == "ERROR":
            number = element.get("InvoiceNumber") or element.get("CreditNoteNumber")
            where = f"{stream} {number}" if number else labels[op.token]
            results[op.token] = WriteResult(op.token, error=ValidationFailed(
                f"{where}: {'; '.join(messages) or 'refused by Xero'}",
                stream=stream, key=op.key))
            continue
        millis = updated_ms(element)
        results[op.token] = WriteResult(op.token, key_of(stream, element),
                                        None if millis is None else str(millis),
                                        record=_returned(stream, op, element, tracking))


def _finish(context: XeroContext, batch: WriteBatch,
            results: dict[str, WriteResult]) -> list[WriteResult]:
    ordered = [results.get(op.token) or WriteResult(op.token, error=ItemError(
        f"{_label(batch.stream, op, index)} was not sent before the interruption; it is "
        f"tried again next run", stream=batch.stream, key=op.key))
        for index, op in enumerate(batch.operations)]
    state = context.state
    state.note_own_writes(batch.stream, [(r.key, r.version) for r in ordered
                                         if r.ok and r.key and r.version])
    if batch.stream == "item":
        context.items.add(r.key for r in ordered if r.ok and r.key)
    state.store_receipt(batch.batch_id, [line_of_result(r, op.kind.value) for r, op
                                         in zip(ordered, batch.operations, strict=True)])
    return ordered


def write(context: XeroContext, batch: WriteBatch) -> list[WriteResult]:
    """Apply ``batch`` (see the module docstring); one result per operation, in order.

    Raises:
        AuthenticationFailed, EndpointUnavailable: as :meth:`.client.XeroClient.call` (the
            run stops; what was sent is recovered next run).
        ProtocolError: reading the touched records got an unexpected answer.
    """
    results: dict[str, WriteResult] = {}
    requests = _plan(context, batch, results)
    spec = STREAMS[batch.stream]
    numbered: list[tuple[int, _Request]] = []
    for sequence, request in enumerate(requests):
        if not request.method:  # a deletion riding in a batched request keeps its verb
            request.method, request.path = "POST", f"/{spec.collection}"
        numbered.append((sequence, request))
    kinds = {op.kind for op in batch.operations}
    at_once = context.settings.concurrent
    if len(numbered) > 1 and at_once > 1 and len(kinds) == 1 \
            and kinds != {WriteKind.DELETE}:
        # independent requests (all creates or all updates of distinct records): up to
        # the tenant's concurrency limit in flight; the limiter paces them
        with ThreadPoolExecutor(min(at_once, len(numbered)),
                                thread_name_prefix="xero-write") as pool:
            futures = [pool.submit(_run, context, batch, sequence, request, results)
                       for sequence, request in numbered]
            try:
                for done in futures:
                    done.result()
            except BaseException:
                for future in futures:  # the run ends: send nothing more
                    future.cancel()
                raise
    else:
        for sequence, request in numbered:
            _run(context, batch, sequence, request, results)
    return _finish(context, batch, results)


def _run(context: XeroContext, batch: WriteBatch, sequence: int, request: _Request,
         results: dict[str, WriteResult]) -> None:
    """Record, send and settle one request (none once the run was asked to stop: its
    operations are not sent). A batched request Xero refuses as a whole
    (HTTP 400 without per-element answers: one element breaks the schema) is sent again
    one element per request, so that only the offending element fails."""
    run = context.run_context()
    if run.stopping():  # the run was asked to stop: the rest goes next run
        for op in request.operations:
            results[op.token] = WriteResult(op.token, error=run.not_sent(batch.stream, op.key))
        return
    state = context.state
    key = _key(batch.batch_id, sequence, request.operations)
    state.record_sent(batch.batch_id, sequence, request.method, request.path, request.body,
                      key, [op.token for op in request.operations])
    answer = _send(context, batch, sequence, request.method, request.path, request.body, key)
    if request.batched and len(request.operations) > 1 and answer["status"] == 400:
        collection = STREAMS[batch.stream].collection
        elements = request.body[collection]
        for index, (element, operation) in enumerate(zip(elements, request.operations,
                                                         strict=True)):
            single = _Request(request.method, request.path, {collection: [element]},
                              [operation], True)
            _run(context, batch, _split_sequence(sequence, index), single, results)
        return
    _settle(batch.stream, request.operations, answer, results, context.settings.tracking)


def recover(context: XeroContext, batch: WriteBatch) -> list[WriteResult] | None:
    """The results of ``batch`` from its receipt, or by sending its unanswered requests
    again with their idempotency keys; ``None`` when nothing of it was sent.

    Raises:
        AuthenticationFailed, EndpointUnavailable: as :func:`write`.
    """
    state = context.state
    receipt = state.receipt(batch.batch_id)
    if receipt is not None:
        return [result_of_line(line, batch.stream) for line in receipt]
    sent = state.sent(batch.batch_id)
    if not sent:
        return None
    by_token = {op.token: op for op in batch.operations}
    results: dict[str, WriteResult] = {}
    split = {request.sequence // _SPLIT_WIDTH - 1 for request in sent
             if request.sequence >= _SPLIT_WIDTH}
    for request in sent:
        if request.sequence in split:
            continue  # refused as a whole and sent again element by element
        answer = request.answer or _send(context, batch, request.sequence, request.method,
                                              request.path, request.body, request.key)
        operations = [by_token[token] for token in request.tokens if token in by_token]
        if len(operations) == len(request.tokens):
            _settle(batch.stream, operations, answer, results, context.settings.tracking)
    return _finish(context, batch, results)


_SPLIT_WIDTH = 1_000_000
"""Sequence numbers of the one-element requests a refused request is split into:
``(parent + 1) * 1_000_000 + index`` (above any request's own sequence number)."""


def _split_sequence(parent: int, index: int) -> int:
    return (parent + 1) * _SPLIT_WIDTH + index
