"""The batch log of the ``sql`` connector: each written batch's results, stored in the same
transaction as its writes (``syncline_batches``, see :mod:`~syncline.connectors.sql.capture`),
so that after a crash a batch id found there was applied, with exactly those results, and
one not found was not applied at all.

A batch of a run whose lease was taken over, found not applied by the run that took the
link over, is logged as **abandoned** (:func:`abandon_batch`): its row holds
:data:`ABANDONED` instead of results, so that a late write of it by the stale run fails —
either on reading the log first, or on its own log insert, which then rolls its whole
transaction back. A late write collides instead of doubling."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncline import errors
from syncline.connectors.base import WriteBatch, WriteResult
from syncline.connectors.sql.capture import BATCHES
from syncline.errors import ItemError, RunError

__all__ = ["ABANDONED", "BATCH_RETENTION_DAYS", "BatchAbandoned", "abandon_batch",
           "dump_results", "load_results", "log_batch", "stored_results"]

ABANDONED = '{"abandoned":true}'
"""What the batch log holds for an abandoned batch (see the module docstring)."""


class BatchAbandoned(RunError):
    """A batch being written was abandoned by the run that took the link over: it is not
    written (the run writing it lost its lease)."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        super().__init__(f"batch {batch_id} was abandoned by the run that took the link over "
                         f"(this run lost its lease): it is not written")

BATCH_RETENTION_DAYS = 30
"""Batch log rows older than this are removed when a later batch is written."""


def dump_results(results: Sequence[WriteResult]) -> str:
    """The results as compact JSON: ``{"keys": [...], "versions": [...], "errors": {index:
    [error class, message]}}``, versions and errors left out when there are none (the tokens
    are the batch's own, so they are not stored)."""
    stored: dict[str, Any] = {"keys": [result.key for result in results]}
    versions = [result.version for result in results]
    if any(version is not None for version in versions):
        stored["versions"] = versions
    errors_by_index = {str(index): [type(result.error).__name__, result.error.message]
                       for index, result in enumerate(results) if result.error is not None}
    if errors_by_index:
        stored["errors"] = errors_by_index
    return json.dumps(stored, separators=(",", ":"))


def load_results(text: str, batch: WriteBatch) -> list[WriteResult]:
    """The results stored in the batch log for ``batch`` (the reverse of :func:`dump_results`).

    Raises:
        ValueError: the stored results do not fit the batch (not one per operation).
    """
    stored = json.loads(text)
    keys = stored["keys"]
    if len(keys) != len(batch.operations):
        raise ValueError(f"batch {batch.batch_id} was logged with {len(keys)} results for "
                         f"{len(batch.operations)} operations")
    versions = stored.get("versions") or [None] * len(keys)
    failures = stored.get("errors", {})
    results = []
    for index, (op, key, version) in enumerate(zip(batch.operations, keys, versions,
                                                   strict=True)):
        item_error = None
        if str(index) in failures:
            name, message = failures[str(index)]
            kind = getattr(errors, str(name), ItemError)
            if not (isinstance(kind, type) and issubclass(kind, ItemError)):
                kind = ItemError
            item_error = kind(str(message), stream=batch.stream, key=key)
        results.append(WriteResult(op.token, key, version, item_error))
    return results


def stored_results(conn: Connection, batch_id: str) -> str | None:
    """The stored results (JSON) of batch ``batch_id``, or ``None`` if it was not applied.

    Raises:
        BatchAbandoned: the batch was abandoned (see the module docstring).
    """
    value = conn.execute(sa.select(BATCHES.c.results).where(BATCHES.c.batch_id == batch_id))\
        .scalar()
    if value is not None and str(value) == ABANDONED:
        raise BatchAbandoned(batch_id)
    return None if value is None else str(value)


def abandon_batch(conn: Connection, batch_id: str) -> str | None:
    """Log batch ``batch_id`` as abandoned unless it was applied, in the caller's
    transaction; the stored results (JSON) if it was applied, else ``None``. A writer of the
    batch that holds it uncommitted is waited for.

    Raises:
        BatchAbandoned: never for the caller's own marker: an abandoned batch gives ``None``.
    """
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(BATCHES).values(batch_id=batch_id, results=ABANDONED,
                                                   applied_at=datetime.now(UTC)))
    except sa.exc.IntegrityError:  # logged already: applied, or abandoned before
        try:
            return stored_results(conn, batch_id)
        except BatchAbandoned:
            return None
    return None


def log_batch(conn: Connection, batch_id: str, results: str) -> None:
    """Store a batch's results (JSON, see :func:`dump_results`) in the batch log, and drop entries
    older than :data:`BATCH_RETENTION_DAYS`."""
    now = datetime.now(UTC)
    conn.execute(sa.delete(BATCHES).where(
        BATCHES.c.applied_at < now - timedelta(days=BATCH_RETENTION_DAYS)))
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(BATCHES).values(batch_id=batch_id, results=results,
                                                   applied_at=now))
    except sa.exc.IntegrityError:  # logged meanwhile: abandoned by the run that took over
        raise BatchAbandoned(batch_id) from None
