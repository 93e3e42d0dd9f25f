"""The detailed log of a forced run, written to a file (``--log FILE``).

One line per journal row of the run — every record it touched, the forced ones (action
code R) and whatever else the run did — with the run, stream, action, direction, both keys,
outcome and message. The file's extension picks the format: ``.csv`` (a header line, then
rows) or ``.jsonl`` / ``.ndjson`` / ``.json`` (JSON lines: one object per row).
"""

from __future__ import annotations

import csv
import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from syncline.errors import UsageError
from syncline.state.service_store import force_requests, set_log_written
from syncline.state.store import StateStore

__all__ = ["LOG_COLUMNS", "LogFormat", "log_format", "write_pending_logs", "write_run_log"]

LOG_COLUMNS = ("run_id", "link", "stream", "action", "direction", "a_key", "b_key", "outcome",
               "message", "forced")


class LogFormat(StrEnum):
    CSV = "csv"
    JSON_LINES = "jsonl"


def log_format(path: Path) -> LogFormat:
    """The format a log path asks for.

    Raises:
        UsageError: the extension is neither ``.csv`` nor JSON lines.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return LogFormat.CSV
    if suffix in (".jsonl", ".ndjson", ".json"):
        return LogFormat.JSON_LINES
    raise UsageError(f"--log {path}: the file name must end in .csv (CSV) or .jsonl / .json "
                     f"(JSON lines)")


def _rows(store: StateStore, link: str, run_id: int) -> list[dict[str, Any]]:
    rows = store.journal(link, run_id=run_id, limit=None)
    rows.sort(key=lambda row: int(row["id"]))
    return [{"run_id": run_id, "link": link, "stream": row["stream"], "action": row["action"],
             "direction": row["direction"], "a_key": row["a_key"], "b_key": row["b_key"],
             "outcome": row["outcome"], "message": row["message"],
             "forced": row["action"] == "R"} for row in rows]


def write_run_log(store: StateStore, link: str, run_id: int, path: Path) -> int:
    """Write the log of run ``run_id`` to ``path`` (replacing it); how many rows.

    Raises:
        UsageError: the extension is unknown.
        OSError: the file cannot be written.
    """
    kind = log_format(path)
    rows = _rows(store, link, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        if kind is LogFormat.CSV:
            writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        else:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def write_pending_logs(store: StateStore, link: str, run_id: int) -> list[Path]:
    """Write the log of every force request of ``link`` that run ``run_id`` served and that
    asked for one; the paths written. A log that cannot be written is skipped (the run is
    not failed for it) and left to be tried again."""
    written: list[Path] = []
    for request in force_requests(store, link=link, run_id=run_id):
        if not request["log_path"] or request["log_written"]:
            continue
        path = Path(request["log_path"])
        try:
            write_run_log(store, link, run_id, path)
        except (OSError, UsageError):
            continue
        set_log_written(store, int(request["id"]))
        written.append(path)
    return written
