"""Rows of the DAV benchmark table and how they are printed.

Terms:

row
    One piece of work done by both tools on identical data: (a)...(d) a folder of vCards
    synced to another folder, (e)...(g) a folder synced with a Radicale address book.
records
    The items the work concerns: the size of the collection compared for re-syncs, the items
    copied for first syncs and uploads. ``records/s`` is records / median seconds.
ratio
    vdirsyncer's median seconds / syncline's: above 1 syncline is faster. A row is met when
    the ratio reaches its target.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.dav_tools import Measurement

__all__ = ["Row", "render_table"]


@dataclass
class Row:
    """One row: the work, its target ratio and each tool's measurements."""

    key: str
    work: str
    records: int
    target_ratio: float
    syncline: list[Measurement] = field(default_factory=list)
    vdirsyncer: list[Measurement] = field(default_factory=list)
    skipped: str | None = None

    def seconds(self, tool: str) -> float | None:
        runs = self.syncline if tool == "syncline" else self.vdirsyncer
        return statistics.median(run.seconds for run in runs) if runs else None

    def cpu_seconds(self, tool: str) -> float | None:
        """The median CPU seconds (user + system) of ``tool``'s runs."""
        runs = self.syncline if tool == "syncline" else self.vdirsyncer
        return statistics.median(run.cpu_seconds for run in runs) if runs else None

    def peak_rss_mb(self, tool: str) -> float | None:
        runs = self.syncline if tool == "syncline" else self.vdirsyncer
        return max(run.peak_rss_mb for run in runs) if runs else None

    @property
    def ratio(self) -> float | None:
        ours, theirs = self.seconds("syncline"), self.seconds("vdirsyncer")
        if ours is None or theirs is None or ours <= 0:
            return None
        return theirs / ours

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        return None if ratio is None else ratio >= self.target_ratio

    @property
    def target(self) -> str:
        if self.target_ratio == 1:
            return "no slower"
        return f">= {self.target_ratio:g}x faster"

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.key, "work": self.work, "records": self.records,
            "target_ratio": self.target_ratio, "skipped": self.skipped,
            "ratio": self.ratio, "met": self.met,
            **{f"{tool}_{what}": value for tool in ("syncline", "vdirsyncer")
               for what, value in (("median_s", self.seconds(tool)),
                                   ("peak_rss_mb", self.peak_rss_mb(tool)),
                                   ("median_cpu_s", self.cpu_seconds(tool)),
                                   ("runs_s", [run.seconds for run in
                                               getattr(self, tool)]))},
        }


def _number(value: float | None, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def _rate(records: int, seconds: float | None) -> str:
    return "-" if not seconds else f"{records / seconds:,.0f}"


def render_table(rows: list[Row], runs: int) -> str:
    """The rows as a Markdown table (median of ``runs`` runs per tool)."""
    lines = [f"median of {runs} runs per tool; s = seconds of the whole process; "
             f"ratio = vdirsyncer s / syncline s; CPU s = user + system seconds of the process",
             "",
             "| row | work | records | syncline s | vdirsyncer s | ratio | target | met "
             "| syncline CPU s | vdirsyncer CPU s "
             "| syncline rec/s | vdirsyncer rec/s | syncline RSS MB | vdirsyncer RSS MB |",
             "|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if row.skipped:
            lines.append(f"| ({row.key}) | {row.work} | {row.records:,} | - | - | - | "
                         f"{row.target} | skipped: {row.skipped} | - | - | - | - | - | - |")
            continue
        ours, theirs = row.seconds("syncline"), row.seconds("vdirsyncer")
        met = "-" if row.met is None else ("yes" if row.met else "NO")
        lines.append(
            f"| ({row.key}) | {row.work} | {row.records:,} | {_number(ours, '.3f')} | "
            f"{_number(theirs, '.3f')} | {_number(row.ratio, '.2f')}x | {row.target} | "
            f"{met} | {_number(row.cpu_seconds('syncline'), '.3f')} | "
            f"{_number(row.cpu_seconds('vdirsyncer'), '.3f')} | "
            f"{_rate(row.records, ours)} | {_rate(row.records, theirs)} | "
            f"{_number(row.peak_rss_mb('syncline'), '.0f')} | "
            f"{_number(row.peak_rss_mb('vdirsyncer'), '.0f')} |")
    return "\n".join(lines)
