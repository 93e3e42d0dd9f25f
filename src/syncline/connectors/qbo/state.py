"""The qbo connector's own bookkeeping, in its state folder (never in the books).

Terms:

own write
    ``<Entity>:<Id>`` -> the SyncToken our last write gave the object (``"deleted"`` after a
    delete) and when. Change data capture returns every change, ours included; a change
    whose SyncToken is the one we wrote is ours and is left out. Entries older than the CDC
    window (plus a day) are dropped.
receipt
    A small JSON file per write batch, written **before** the first request of the batch is
    sent: for each request its ``requestid`` and exact body, and per operation where its
    answer will be. QBO answers a request repeated with a known ``requestid`` with the first
    answer and does nothing again, so :meth:`recover` can send the receipt's requests again
    and learn exactly what happened, without writing anything twice.

Losing the folder costs at most some echoes (own writes read back, which the engine's
content hashes absorb) and, after a crash, a batch that is planned again; never data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

from syncline.connectors.receipts import atomic_write

__all__ = ["StateFolder"]

_KEEP_SECONDS = 31 * 24 * 3600
_KEEP_RECEIPTS = 512


def _write_durably(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically and flushed to the disk, making its folder
    when missing. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path.parent, path.name, text.encode("utf-8"), durable=True)


class StateFolder:
    """Own writes and receipts of one endpoint (see the module docstring).

    Methods raise ``OSError`` when the folder cannot be used.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._own: dict[str, list[Any]] | None = None

    # -- own writes ---------------------------------------------------------------------------
    def _load_own(self) -> dict[str, list[Any]]:
        if self._own is None:
            try:
                loaded = json.loads((self.folder / "own-writes.json").read_text("utf-8"))
                self._own = loaded if isinstance(loaded, dict) else {}
            except (FileNotFoundError, ValueError):
                self._own = {}
        return self._own

    def is_own(self, entity: str, entity_id: str, sync_token: str) -> bool:
        """Whether the object's current state (SyncToken or ``"deleted"``) is our write."""
        with self._lock:
            found = self._load_own().get(f"{entity}:{entity_id}")
        return found is not None and found[0] == sync_token

    def record_own(self, entity: str, written: dict[str, str]) -> None:
        """Remember our writes: Id -> SyncToken (or ``"deleted"``)."""
        if not written:
            return
        now = time.time()
        with self._lock:
            own = self._load_own()
            for entity_id, token in written.items():
                own[f"{entity}:{entity_id}"] = [token, now]
            for name in [n for n, (_, when) in own.items() if when < now - _KEEP_SECONDS]:
                del own[name]
            _write_durably(self.folder / "own-writes.json", json.dumps(own))

    # -- receipts -----------------------------------------------------------------------------
    def _receipt_path(self, batch_id: str) -> Path:
        digest = hashlib.blake2b(batch_id.encode(), digest_size=16).hexdigest()
        return self.folder / "batches" / f"{digest}.json"

    def write_receipt(self, batch_id: str, receipt: dict[str, Any]) -> None:
        """Store a batch's receipt before its first request is sent."""
        _write_durably(self._receipt_path(batch_id), json.dumps(receipt))
        self._prune()

    def receipt(self, batch_id: str) -> dict[str, Any] | None:
        """The receipt of a batch; ``None`` when the batch never got that far."""
        try:
            loaded = json.loads(self._receipt_path(batch_id).read_text("utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            return None
        return loaded if isinstance(loaded, dict) else None

    def _prune(self) -> None:
        folder = self.folder / "batches"
        with contextlib.suppress(OSError):
            receipts = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns)
            for old in receipts[:-_KEEP_RECEIPTS]:
                old.unlink(missing_ok=True)
