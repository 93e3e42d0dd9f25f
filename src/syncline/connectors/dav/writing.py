"""Writing a batch to a DAV collection, and finding out after a crash what a batch did.

Every operation is one request with a precondition (see
:mod:`syncline.connectors.dav.client`): creates ``If-None-Match: *`` at a resource name
derived from the operation's idempotency token, updates and deletes ``If-Match`` with the
ETag read. The items to update are fetched first, in multiget batches, so that only the
mapped properties change.

A server without room (507 Insufficient Storage on a PUT: its storage or the user's quota
is full) refuses that item, and the rest of the batch's creates and updates are not sent
(each is a retriable item error: the records stay pending and are tried again next run);
its deletes still go, as they free room.

stopping
    When the run is asked to stop (:mod:`syncline.run_context`), no further request of the
    batch is sent: a request in flight finishes, the operations not sent get a
    :class:`~syncline.run_context.NotSent` error, and what was written is returned as
    usual. Each record written is reported to the run context as it goes.

applied
    A create is applied when its resource exists, an update when the item's ETag is no
    longer the one it had before (the receipt keeps it), a delete when the item is gone.

lost answers
    A write whose answer was lost (no answer, or a 5xx after it was sent: see
    :mod:`syncline.connectors.dav.client`) is read back before anything is decided: when
    its repeat finds its precondition false (412) or the item gone, or when the retries are
    spent, the item is fetched; a create is ours when its resource exists (its name comes
    from the operation's token), an update when the item holds what we sent, a delete when
    the item is gone. It then counts as written, with the ETag read, as if the answer had
    come, and the next run recognises it by that ETag.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation, WriteResult
from syncline.connectors.dav.client import InsufficientStorage, ItemRefused, PreconditionFailed
from syncline.connectors.dav.items import resource_name
from syncline.connectors.receipts import ReceiptLine
from syncline.connectors.retry import RetriesSpent
from syncline.errors import (
    EndpointUnavailable,
    ItemError,
    MalformedRecord,
    ValidationFailed,
    VersionConflict,
)

if TYPE_CHECKING:
    from syncline.connectors.dav.session import DavSession
    from syncline.connectors.dav.site import Fetched, StreamSite

__all__ = ["recover_batch", "write_batch"]

_Prepared = tuple[WriteOperation, str, bytes | None, str | None]
"""An operation ready to send: the key, the body (``None``: delete) and the If-Match ETag
(``None``: create)."""


class _NoRoom(ItemError):
    """The server answered a PUT with 507 Insufficient Storage (retried next run)."""


def _gone(site: StreamSite, key: str, source: str) -> VersionConflict:
    return VersionConflict(f"{site.stream} {key}: {source} no longer exists",
                           stream=site.stream, key=key)


def _prepare(session: DavSession, site: StreamSite, operation: WriteOperation,
             current: Fetched) -> tuple[str, bytes | None, str | None]:
    """The key, body and If-Match ETag of ``operation``.

    Raises:
        ItemError: the item is gone or changed (VersionConflict) or malformed
            (MalformedRecord).
        ValueError: a value cannot be written.
    """
    codec = site.codec
    if operation.kind is WriteKind.CREATE:
        key = resource_name(operation.token, codec.extension)
        return key, codec.create(operation.fields or {}, operation.token).encode(), None
    key = operation.key or ""
    if operation.kind is WriteKind.DELETE and operation.expected_version is not None \
            and key not in current.items and key not in current.missing:
        return key, None, operation.expected_version  # not fetched: If-Match says enough
    source = session.source(site, key)
    item = current.items.get(key)
    if item is None:
        raise _gone(site, key, source)
    etag, text = item.etag, item.text
    if operation.expected_version is not None and operation.expected_version != etag:
        raise VersionConflict(f"{site.stream} {key}: {source} changed since it was read",
                              stream=site.stream, key=key)
    if operation.kind is WriteKind.DELETE:
        return key, None, etag
    try:
        updated = codec.update(text, operation.fields or {}, source)
    except MalformedRecord as error:
        error.stream, error.key = site.stream, key
        raise
    return key, updated.encode("utf-8"), etag


def _send(session: DavSession, site: StreamSite, operation: WriteOperation, key: str,
          body: bytes | None, etag: str | None) -> WriteResult:
    """Send one prepared operation; its result (an ItemError for a refused item).

    Raises:
        RetriesSpent: the server kept failing (after the write was read back, when its
            answer may have been lost and the server could still be read).
    """
    url = session.url_of(site, key)
    stream = site.stream
    try:
        if body is None:
            session.http.delete(url, etag)
            return WriteResult(operation.token, key)
        written = session.http.put(url, body, site.codec.content_type, etag=etag)
    except RetriesSpent as spent:
        if not spent.ambiguous:
            raise
        try:
            found = _read_back(session, site, operation, key, body)
        except RetriesSpent:
            raise spent from None
        if found is None:
            raise
        return found
    except PreconditionFailed as failed:
        found = _read_back(session, site, operation, key, body) \
            if failed.after_ambiguous else None
        if found is not None:
            return found
        if etag is None:
            return WriteResult(operation.token, error=ItemError(
                f"{stream}: {url} already exists; it is not overwritten", stream=stream,
                key=key))
        return WriteResult(operation.token, error=VersionConflict(
            f"{stream} {key}: {url} changed on the server since it was read (412 "
            f"Precondition Failed)", stream=stream, key=key))
    except InsufficientStorage as refused:
        return WriteResult(operation.token, error=_NoRoom(
            f"{stream} {operation.key or '(new)'}: {url}: the server has no room for it "
            f"({refused}: its storage or the user's quota is full); it is tried again next "
            f"run", stream=stream, key=operation.key))
    except ItemRefused as refused:
        if refused.status in (404, 410) and body is None and refused.after_ambiguous:
            return WriteResult(operation.token, key)  # our lost try deleted it
        if refused.status in (404, 410) and etag is not None:
            return WriteResult(operation.token, error=_gone(site, key, url))
        return WriteResult(operation.token, error=ValidationFailed(
            f"{stream} {operation.key or '(new)'}: {url}: the server refused it "
            f"({refused})", stream=stream, key=operation.key))
    return WriteResult(operation.token, key, written.etag)


def _read_back(session: DavSession, site: StreamSite, operation: WriteOperation,
               key: str, body: bytes | None) -> WriteResult | None:
    """The result of a write whose answer was lost, read from the server (see "lost
    answers" in the module docstring); ``None`` when the server does not hold it.

    Raises:
        RetriesSpent, ProtocolError: the item cannot be read.
    """
    fetched = session.fetch(site, [key], with_data=body is not None
                              and operation.kind is WriteKind.UPDATE)
    item = fetched.items.get(key)
    if body is None:
        return WriteResult(operation.token, key) if item is None else None
    if item is None:
        return None
    if operation.kind is WriteKind.UPDATE:
        source = session.source(site, key)
        try:
            held = site.codec.read(item.text, source)
            sent = site.codec.read(body.decode("utf-8"), source)
        except MalformedRecord:
            return None
        if held is None or sent is None or held.fields != sent.fields:
            return None
    return WriteResult(operation.token, key, item.etag)


def _fill_etags(session: DavSession, site: StreamSite,
                results: list[WriteResult]) -> None:
    """Ask for the ETags a server did not give in its PUT answers (one multiget)."""
    missing = [result for result in results if result.ok and result.key is not None
               and result.version is None]
    if not missing:
        return
    fetched = session.fetch(site, [str(result.key) for result in missing], with_data=False)
    for result in missing:
        item = fetched.items.get(str(result.key))
        if item is not None:
            result.version = item.etag


def write_batch(session: DavSession, site: StreamSite, batch: WriteBatch) \
        -> list[WriteResult]:
    """Apply ``batch``; one result per operation, in order (see the module docstring).

    Raises:
        EndpointUnavailable: the server cannot be reached (operations sent before stay
            applied; :func:`recover_batch` finds them) or the receipt cannot be written.
        AuthenticationFailed, ProtocolError: see :class:`~.client.DavClient`.
    """
    context = session.run_context()
    if context.stopping():
        return [WriteResult(op.token, error=context.not_sent(site.stream, op.key))
                for op in batch.operations]
    targets = [op.key for op in batch.operations if op.key and (
        op.kind is WriteKind.UPDATE or (op.kind is WriteKind.DELETE
                                        and op.expected_version is None))]
    current = session.fetch(site, list(dict.fromkeys(targets)))
    prepared: list[_Prepared] = []
    failed: dict[str, ItemError] = {}
    receipt: list[ReceiptLine] = []
    for operation in batch.operations:
        try:
            key, body, etag = _prepare(session, site, operation, current)
        except (ItemError, ValueError) as error:
            item_error = error if isinstance(error, ItemError) else ValidationFailed(
                f"{site.stream} {operation.key or '(new)'}: {error}", stream=site.stream,
                key=operation.key)
            failed[operation.token] = item_error
            receipt.append(ReceiptLine(operation.token, operation.kind.value,
                                       operation.key or "", error=str(item_error)))
            continue
        prepared.append((operation, key, body, etag))
        receipt.append(ReceiptLine(operation.token, operation.kind.value, key, etag or ""))
    try:
        site.state.receipts.write(batch.batch_id, receipt)
    except OSError as error:
        raise EndpointUnavailable(session.endpoint,
                                  f"state folder {site.state.path}: {error}") from None
    done: dict[str, WriteResult] = {}
    full: WriteResult | None = None  # the first 507: the server has no room for content
    try:
        for operation, key, body, etag in prepared:
            if context.stopping():
                done[operation.token] = WriteResult(
                    operation.token, error=context.not_sent(site.stream, operation.key))
                continue
            if full is not None and body is not None:
                done[operation.token] = WriteResult(operation.token, error=ItemError(
                    f"{site.stream} {operation.key or '(new)'}: not sent, the server has no "
                    f"room ({full.error}); it is tried again next run", stream=site.stream,
                    key=operation.key))
                continue
            result = _send(session, site, operation, key, body, etag)
            done[operation.token] = result
            if result.ok:
                context.written(site.stream)
            if full is None and isinstance(result.error, _NoRoom):
                full = result
        _fill_etags(session, site, list(done.values()))
    finally:
        _remember(site, [(op, done[op.token]) for op, *_ in prepared if op.token in done])
    return [done.get(op.token) or WriteResult(op.token, error=failed[op.token])
            for op in batch.operations]


def _remember(site: StreamSite, outcomes: list[tuple[WriteOperation, WriteResult]]) -> None:
    """Keep our writes, so that they do not come back as changes."""
    written: dict[str, str | None] = {}
    for operation, result in outcomes:
        if not result.ok or result.key is None:
            continue
        if operation.kind is WriteKind.DELETE:
            written[result.key] = None
        elif result.version is not None:
            written[result.key] = result.version
    with contextlib.suppress(OSError):
        site.state.remember(written)


def recover_batch(session: DavSession, site: StreamSite, batch: WriteBatch) \
        -> list[WriteResult] | None:
    """What became of ``batch``, from its receipt and the server (see the module
    docstring): ``None`` when it never started or none of it was applied, else one result
    per operation (an ItemError for one not applied).

    Raises:
        EndpointUnavailable, AuthenticationFailed, ProtocolError: the server cannot be read.
    """
    receipt = site.state.receipts.read(batch.batch_id)
    if receipt is None:
        return None
    by_token = {line.token: line for line in receipt}
    keys = [line.key for line in receipt if line.key and not line.error]
    now = session.fetch(site, keys, with_data=False)
    results: list[WriteResult] = []
    applied: list[tuple[WriteOperation, WriteResult]] = []
    for operation in batch.operations:
        line = by_token.get(operation.token)
        if line is None or line.error:
            results.append(WriteResult(operation.token, error=ItemError(
                line.error if line is not None else "not in the batch's receipt",
                stream=site.stream, key=operation.key)))
            continue
        item = now.items.get(line.key)
        if line.kind == WriteKind.DELETE.value:
            done = item is None
        elif line.kind == WriteKind.CREATE.value:
            done = item is not None
        else:
            done = item is not None and item.etag != line.evidence
        if not done:
            results.append(WriteResult(operation.token, error=ItemError(
                f"{site.stream} {line.key}: not written before the interruption",
                stream=site.stream, key=line.key)))
            continue
        result = WriteResult(operation.token, line.key, item.etag if item is not None else None)
        results.append(result)
        applied.append((WriteOperation(operation.token, WriteKind(line.kind), line.key),
                        result))
    if not applied:
        return None
    _remember(site, applied)
    return results
