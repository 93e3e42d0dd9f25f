"""What the SQL-backed benchmarks share: one sync step run as a process of its own
(``python -m bench.sync_step``), with its duration and its own peak RSS, and the start-up
floor of a Python process.

Terms:

process seconds
    The whole step process, start-up and imports included, measured by the parent.
run seconds
    The run's own duration as the run summary reports it (``duration_s``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["run_step", "startup_seconds"]


def run_step(folder: Path, *args: str) -> tuple[float, float | None, dict[str, object]]:
    """Run one sync step in its own process; returns (process seconds, peak RSS in MB,
    the run summary).

    The peak is the step's own high-water mark (``VmHWM``, which starts afresh at exec),
    reported by the step itself.

    Raises:
        SystemExit: the step failed (its output is in the message).
    """
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bench.sync_step", str(folder), *args],
                            capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"step {args} failed:\n{result.stderr}\n{result.stdout}")
    summary = json.loads(result.stdout)
    peak = summary.pop("peak_rss_kb", None)
    return seconds, (peak / 1024 if peak is not None else None), summary


def startup_seconds(imports: str, runs: int = 3) -> float:
    """The median seconds of ``runs`` processes that only run ``imports`` (a Python
    statement such as ``import psycopg``): the start-up floor of a step.

    Raises:
        SystemExit: the process failed (a library is missing).
    """
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", imports], capture_output=True,
                              text=True, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{imports!r} failed:\n{done.stderr}")
    return statistics.median(times)
