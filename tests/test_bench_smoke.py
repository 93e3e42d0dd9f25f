"""The benchmarks under ``bench/`` still run: each is started as a user starts it
(``python -m bench...``), on a small size, and its output is checked for the figures it
reports. Small sizes say nothing about speed (the benchmarks are for that); these tests only
keep the benchmark code from breaking unnoticed. ``bench.dav`` has its own tests
(``tests/test_bench_dav.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_bench(module: str, *arguments: str, timeout: float = 240) -> str:
    """The standard output of ``python -m module arguments`` run from the repository root.

    Raises:
        AssertionError: the benchmark failed (its output is in the message).
    """
    done = subprocess.run([sys.executable, "-m", module, *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{module} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def json_line(output: str) -> dict[str, Any]:
    """The one JSON object a ``--json`` run prints (on its last line)."""
    figures = json.loads(output.strip().splitlines()[-1])
    assert isinstance(figures, dict)
    return figures


def test_the_core_benchmark_runs_its_four_steps() -> None:
    output = run_bench("bench", "--records", "3000", "--changes", "100", "--runs", "1")
    steps = [line for line in output.splitlines() if line.startswith("| (")]
    assert [line.split(" | ")[0] for line in steps] == ["| (a) first sync",
                                                         "| (b) re-sync, no change",
                                                         "| (c) re-sync, 100 changed on a",
                                                         "| (d) floor: one executemany"]
    assert "| 3,000 |" in steps[0] and "| 100 |" in steps[2]
    assert "first sync / floor = " in output


def test_the_posting_rules_benchmark_reports_both_lanes() -> None:
    figures = json_line(run_bench("bench.posting_rules", "--invoices", "200", "--json"))
    assert figures["invoices"] == 200
    assert all(isinstance(value, (int, float, str)) for value in figures.values())


def test_the_xero_benchmark_posts_every_invoice_within_the_limits() -> None:
    figures = json_line(run_bench("bench.accounting", "--invoices", "120", "--rate-scale",
                                  "30", "--json"))  # it stops with an error unless all went
    assert figures["invoices"] == 120
    assert figures["calls_answered"] >= 120 // 50
    assert figures["http_429_without_requested_wait"] == 0


def test_the_quickbooks_benchmark_posts_every_invoice_within_the_limits() -> None:
    figures = json_line(run_bench("bench.accounting_qbo", "--invoices", "90", "--rate-scale",
                                  "60", "--json"))
    assert (figures["invoices"], figures["posted"], figures["errors"]) == (90, 90, 0)
    assert figures["batch_requests"] >= 3
    assert figures["429_followed_too_early"] == 0
