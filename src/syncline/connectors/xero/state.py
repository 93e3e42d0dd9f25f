"""The Xero connector's own bookkeeping, in a small SQLite file in its state folder.

Terms:

sent request
    A write request recorded *before* it is sent: batch, method, path, body, idempotency key
    and the operation tokens its elements belong to; its answer is added when it comes.
    After a crash :meth:`~syncline.connectors.xero.connector.XeroConnector.recover` sends
    unanswered ones again with the same key, so Xero answers what it did the first time (or
    does it now, once).
receipt
    The results of a whole batch, stored when the batch ends: one
    :class:`~syncline.connectors.receipts.ReceiptLine` per operation, the version written as
    its evidence.
own write
    ``(stream, key, version)`` of a record this connector wrote, so that incremental reads
    do not hand our own writes back as changes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from syncline.connectors.receipts import ReceiptLine, line_from_json, line_to_json
from syncline.connectors.xero.client import json_body
from syncline.errors import ConfigError

__all__ = ["SentRequest", "XeroState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (batch_id TEXT, sequence INTEGER, method TEXT, path TEXT,
    body TEXT, idempotency_key TEXT, tokens TEXT, answer TEXT,
    PRIMARY KEY (batch_id, sequence));
CREATE TABLE IF NOT EXISTS receipts (batch_id TEXT PRIMARY KEY, results TEXT, stored REAL);
CREATE TABLE IF NOT EXISTS own_writes (stream TEXT, key TEXT, version TEXT, stored REAL,
    PRIMARY KEY (stream, key, version));
"""
_KEEP_SECONDS = 30 * 86_400


class SentRequest:
    """One recorded write request (see the module docstring)."""

    def __init__(self, sequence: int, method: str, path: str, body: Any, key: str,
                 tokens: list[str], answer: Any) -> None:
        self.sequence = sequence
        self.method = method
        self.path = path
        self.body = body
        self.key = key
        self.tokens = tokens
        self.answer = answer


class XeroState:
    """The state file (see the module docstring). Thread-safe."""

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(folder / "state.sqlite", check_same_thread=False,
                                      isolation_level=None)
            # WAL with synchronous=NORMAL survives a killed process (what recovery is for)
            # without an fsync per row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(f"the xero connector's state cannot be used: {error}",
                              source=str(folder)) from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def record_sent(self, batch_id: str, sequence: int, method: str, path: str, body: Any,
                    key: str, tokens: list[str]) -> None:
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO sent VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                            (batch_id, sequence, method, path, json_body(body),
                             key, json.dumps(tokens)))

    def record_answer(self, batch_id: str, sequence: int, answer: Any) -> None:
        with self._lock:
            self.db.execute("UPDATE sent SET answer = ? WHERE batch_id = ? AND sequence = ?",
                            (json.dumps(answer, default=str), batch_id, sequence))

    def sent(self, batch_id: str) -> list[SentRequest]:
        with self._lock:
            rows = self.db.execute("SELECT sequence, method, path, body, idempotency_key, "
                                   "tokens, answer FROM sent WHERE batch_id = ? "
                                   "ORDER BY sequence", (batch_id,)).fetchall()
        return [SentRequest(row[0], row[1], row[2], json.loads(row[3]), row[4],
                            json.loads(row[5]), json.loads(row[6]) if row[6] else None)
                for row in rows]

    def store_receipt(self, batch_id: str, lines: Sequence[ReceiptLine]) -> None:
        """Store the receipt of a finished batch (one line per operation, its version as
        the evidence: see :func:`~syncline.connectors.receipts.line_of_result`) and forget
        its sent requests."""
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO receipts VALUES (?, ?, ?)",
                            (batch_id, json.dumps([line_to_json(line) for line in lines]),
                             time.time()))
            self.db.execute("DELETE FROM sent WHERE batch_id = ?", (batch_id,))

    def receipt(self, batch_id: str) -> list[ReceiptLine] | None:
        """The receipt of a batch, ``None`` when none was stored (receipts stored before
        the shared receipt line are read too: see
        :func:`~syncline.connectors.receipts.line_from_json`)."""
        with self._lock:
            row = self.db.execute("SELECT results FROM receipts WHERE batch_id = ?",
                                  (batch_id,)).fetchone()
        if row is None:
            return None
        return [line_from_json(entry) for entry in json.loads(row[0])]

    def note_own_writes(self, stream: str, versions: list[tuple[str, str]]) -> None:
        now = time.time()
        with self._lock:
            self.db.execute("BEGIN")
            try:
                self.db.executemany("INSERT OR IGNORE INTO own_writes VALUES (?, ?, ?, ?)",
                                    [(stream, key, version, now) for key, version in versions])
            finally:
                self.db.execute("COMMIT")

    def own_writes(self, stream: str, keys: list[str]) -> set[tuple[str, str]]:
        if not keys:
            return set()
        found: set[tuple[str, str]] = set()
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(self.db.execute(
                    f"SELECT key, version FROM own_writes WHERE stream = ? AND key IN "
                    f"({marks})", (stream, *chunk)).fetchall())
        return found

    def prune(self) -> None:
        """Forget receipts and own writes older than 30 days."""
        cut = time.time() - _KEEP_SECONDS
        with self._lock:
            self.db.execute("DELETE FROM receipts WHERE stored < ?", (cut,))
            self.db.execute("DELETE FROM own_writes WHERE stored < ?", (cut,))
