"""Writing a batch to a vdir folder, and finding out after a crash what a batch did.

Terms:

receipt
    See :mod:`syncline.connectors.vdir.state`: written before the first file of a batch.
applied
    A create is applied when its file exists, an update when its file holds the bytes it
    wrote (compared by digest), a delete when its file is gone.
"""

from __future__ import annotations

import contextlib
import os

from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation, WriteResult
from syncline.connectors.receipts import ReceiptLine, atomic_write
from syncline.connectors.vdir.folder import VdirFolder
from syncline.connectors.vdir.items import safe_name
from syncline.connectors.vdir.state import Entry, digest
from syncline.errors import (
    EndpointUnavailable,
    ItemError,
    MalformedRecord,
    ValidationFailed,
    VersionConflict,
)

__all__ = ["recover_batch", "write_batch"]

_Plan = tuple[WriteOperation, str, bytes | None, Entry | None, str]
"""An operation ready to apply: the operation, its key, the bytes to write (``None``: a
delete), the entry the file has now (``None``: a create) and the digest of the bytes."""


def write_batch(files: VdirFolder, batch: WriteBatch) -> list[WriteResult]:
    """Apply ``batch``: check and prepare every operation, write the receipt, write the
    files (each atomically), then add what was written to the current snapshot so it does
    not come back as a change. One result per operation, in order; a problem with one item
    is its result's error. When the run is asked to stop, the files not yet written are
    left out (their results carry :class:`~syncline.run_context.NotSent`).

    Raises:
        EndpointUnavailable: the state folder or the folder cannot be written (files written
            before stay written; :func:`recover_batch` finds them).
    """
    plans: list[_Plan] = []
    receipt: list[ReceiptLine] = []
    failed: dict[str, ItemError] = {}
    for operation in batch.operations:
        try:
            key, data, current = _prepare(files, operation)
        except (ItemError, ValueError) as error:
            item_error = error if isinstance(error, ItemError) else ValidationFailed(
                f"{batch.stream} {operation.key or '(new)'}: {error}",
                stream=batch.stream, key=operation.key)
            failed[operation.token] = item_error
            receipt.append(ReceiptLine(operation.token, operation.kind.value,
                                       operation.key or "", error=str(item_error)))
            continue
        found = digest(data) if data is not None else ""
        plans.append((operation, key, data, current, found))
        receipt.append(ReceiptLine(operation.token, operation.kind.value, key, found))
    try:
        files.state.receipts.write(batch.batch_id, receipt)
    except OSError as error:
        raise EndpointUnavailable(files.endpoint, f"{files.state.path}: {error}") from None
    done: dict[str, WriteResult] = {}
    written: dict[str, tuple[str, str] | None] = {}
    folder = str(files.folder)
    directory = _open_folder(folder) if any(plan[3] is None for plan in plans) else None
    context = files.run_context()
    try:
        for operation, key, data, current, found in plans:
            if context.stopping():  # the run was asked to stop: the rest goes next run
                done[operation.token] = WriteResult(
                    operation.token, error=context.not_sent(batch.stream, operation.key))
                continue
            result = _apply(files, folder, batch.stream, operation, key, data, current,
                            directory)
            done[operation.token] = result
            if result.ok:
                written[key] = None if data is None else (str(result.version), found)
                context.written(batch.stream)
    finally:
        if directory is not None:
            os.close(directory)
    with contextlib.suppress(OSError):  # else they come back once, as echoes
        files.state.amend(written)
    return [done.get(op.token) or WriteResult(op.token, error=failed[op.token])
            for op in batch.operations]


def _prepare(files: VdirFolder, operation: WriteOperation) \
        -> tuple[str, bytes | None, Entry | None]:
    """The key, the bytes to write (``None`` for a delete) and the entry the file has now
    (``None`` for a create).

    Raises:
        ItemError: the target is missing or changed since it was read (VersionConflict), or
            is malformed (MalformedRecord).
        ValueError: a value cannot be written.
    """
    stream = files.stream
    if operation.kind is WriteKind.CREATE:
        uid, text = files.codec.create(operation.fields or {}, operation.token)
        return safe_name(uid), text.encode(), None
    key = operation.key or ""
    name = f"{key}{files.fileext}"
    loaded = files.load_file(key)
    if loaded is None:
        raise VersionConflict(f"{stream} {key}: the file {name} no longer exists",
                              stream=stream, key=key)
    data, entry = loaded
    if operation.expected_version is not None and operation.expected_version != entry.version:
        raise VersionConflict(f"{stream} {key}: the file changed since it was read",
                              stream=stream, key=key)
    if operation.kind is WriteKind.DELETE:
        return key, None, entry
    source = str(files.folder / name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MalformedRecord(f"{source}: not UTF-8 text ({error})", stream=stream,
                              key=key) from None
    try:
        updated = files.codec.update(text, operation.fields or {}, source)
    except MalformedRecord as error:
        error.stream, error.key = stream, key
        raise
    return key, updated.encode(), entry


def _open_folder(folder: str) -> int | None:
    """A descriptor of ``folder`` for the creates of a batch (see
    :func:`~syncline.connectors.receipts.atomic_write`); ``None`` where there is no such
    thing (the creates then go the named way)."""
    if not hasattr(os, "O_DIRECTORY") or os.link not in os.supports_dir_fd:
        return None
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None  # the writes say what is wrong


def _apply(files: VdirFolder, folder: str, stream: str, operation: WriteOperation,
           key: str, data: bytes | None, current: Entry | None,
           directory: int | None = None) -> WriteResult:
    """Write (or remove) one file of ``folder`` (the context's folder, as text;
    ``directory``: a descriptor of it, for creates).

    Raises:
        EndpointUnavailable: the folder cannot be written.
    """
    name = f"{key}{files.fileext}"
    try:
        if data is None:
            os.unlink(os.path.join(folder, name))
            return WriteResult(operation.token, key)
        if current is not None:
            check = files.load_file(key)
            if check is None or check[1] != current:
                raise VersionConflict(f"{stream} {key}: the file changed while it was being "
                                      f"written", stream=stream, key=key)
        info = atomic_write(folder, name, data, exclusive=current is None,
                            directory=directory)
    except FileExistsError:
        return WriteResult(operation.token, error=ItemError(
            f"{stream}: a file {name} already exists (an item with the same UID); it is not "
            f"overwritten", stream=stream, key=key))
    except FileNotFoundError:
        return WriteResult(operation.token, error=VersionConflict(
            f"{stream} {key}: the file {name} no longer exists", stream=stream, key=key))
    except VersionConflict as error:
        return WriteResult(operation.token, error=error)
    except OSError as error:
        raise EndpointUnavailable(files.endpoint, f"{files.folder / name}: {error}") from None
    return WriteResult(operation.token, key, Entry(info.st_mtime_ns, info.st_size).version)


def recover_batch(files: VdirFolder, batch: WriteBatch) -> list[WriteResult] | None:
    """What became of ``batch``, from its receipt and the files (see the module docstring).

    ``None`` when there is no receipt (the batch never started) or none of its operations was
    applied; otherwise one result per operation, an operation that was not applied coming
    back as a (retriable) ItemError and one that failed its checks with its error.

    Raises:
        EndpointUnavailable: the folder cannot be read.
    """
    receipt = files.state.receipts.read(batch.batch_id)
    if receipt is None:
        return None
    by_token = {line.token: line for line in receipt}
    results: list[WriteResult] = []
    applied = 0
    for operation in batch.operations:
        line = by_token.get(operation.token)
        if line is None or line.error:
            message = line.error if line is not None else "not in the batch's receipt"
            results.append(WriteResult(operation.token, error=ItemError(
                message, stream=batch.stream, key=operation.key)))
            continue
        loaded = files.load_file(line.key)
        if line.kind == WriteKind.DELETE.value:
            done = loaded is None
        elif line.kind == WriteKind.CREATE.value:
            done = loaded is not None
        else:
            done = loaded is not None and digest(loaded[0]) == line.evidence
        if not done:
            results.append(WriteResult(operation.token, error=ItemError(
                f"{batch.stream} {line.key}: not written before the interruption",
                stream=batch.stream, key=line.key or None)))
            continue
        applied += 1
        results.append(WriteResult(operation.token, line.key,
                                   loaded[1].version if loaded is not None else None))
    return results if applied else None
