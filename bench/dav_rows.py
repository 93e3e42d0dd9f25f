"""Rows of the DAV benchmark table and how they are printed.

Terms:

row
    One piece of work done by both tools on identical data: (a)...(d) a folder of vCards
    synced to another folder, (e)...(g) a folder synced with a Radicale address book.
records
    The items the work concerns: the size of the collection compared for re-syncs, the items
    copied for first syncs and uploads. ``records/s`` is records / median seconds.
ratio
    vdirsyncer's median seconds / syncline's: above 1 syncline is faster. Shown on every
    row, whatever the row's target.
floor
    The least seconds, over its runs, of the least work any client must do for the row,
    measured on this machine in the same rounds as the tools (see :mod:`bench.dav_floors`);
    ``floor_work`` says what was measured (start-up included where the floor says so). The
    least run, not the median: a floor is a lower bound, and on a noisy machine its slow
    runs say nothing about what is possible.
floor ratio
    syncline's median seconds / the floor's: how many times the least possible time
    syncline takes (1 is the best any client can do).
target
    What a row must reach, one of two kinds (:class:`Against`): at most ``target_ratio``
    times the row's floor (``syncline s / floor s <= target_ratio``, the rows measured
    against their floor), or at least ``target_ratio`` times as fast as vdirsyncer (``ratio
    >= target_ratio``; 1: no slower). ``met`` is computed from the measured figures.
best ratio
    vdirsyncer's median seconds / the floor's: the highest ratio to vdirsyncer any client
    could reach here.
attainable
    Whether any client could meet the target here: a floor target is attainable when it is
    at least 1 (the floor is a lower bound), a target against vdirsyncer when it is at most
    the best ratio.
start-up floor
    The least seconds, over its runs, of a Python process that only imports the libraries
    syncline needs (rows a...d; part of their floor, shown on its own so that a reader sees
    how much of the floor is start-up).
"""

from __future__ import annotations

import enum
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.dav_tools import Measurement

__all__ = ["Against", "Row", "render_table"]


class Against(enum.Enum):
    """What a row's target is measured against (see the module docstring)."""

    FLOOR = "floor"
    """syncline s / floor s must be at most the target ratio."""
    VDIRSYNCER = "vdirsyncer"
    """vdirsyncer s / syncline s must be at least the target ratio."""


@dataclass
class Row:
    """One row: the work, its target (``target_ratio`` against ``against``) and each
    tool's measurements."""

    key: str
    work: str
    records: int
    target_ratio: float
    against: Against = Against.FLOOR
    syncline: list[Measurement] = field(default_factory=list)
    vdirsyncer: list[Measurement] = field(default_factory=list)
    skipped: str | None = None
    floor: list[float] = field(default_factory=list)
    floor_work: str = ""
    startup_floor: list[float] = field(default_factory=list)
    floor_parts: dict[str, list[float]] = field(default_factory=dict)

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
    def floor_ratio(self) -> float | None:
        """syncline's median seconds / the floor's (``None``: either is missing)."""
        floor, ours = self.floor_seconds, self.seconds("syncline")
        if floor is None or ours is None or floor <= 0:
            return None
        return ours / floor

    @property
    def floor_seconds(self) -> float | None:
        """The floor's least seconds over its runs (``None``: not measured)."""
        return min(self.floor) if self.floor else None

    @property
    def startup_floor_seconds(self) -> float | None:
        """The start-up floor's least seconds (``None``: not measured for this row)."""
        return min(self.startup_floor) if self.startup_floor else None

    @property
    def best_ratio(self) -> float | None:
        """vdirsyncer's median seconds / the floor's (``None``: either is missing)."""
        floor, theirs = self.floor_seconds, self.seconds("vdirsyncer")
        if floor is None or theirs is None or floor <= 0:
            return None
        return theirs / floor

    @property
    def attainable(self) -> bool | None:
        """Whether any client could meet the target here (see the module docstring;
        ``None``: a target against vdirsyncer without a best ratio)."""
        if self.against is Against.FLOOR:
            return self.target_ratio >= 1
        best = self.best_ratio
        return None if best is None else self.target_ratio <= best

    @property
    def met(self) -> bool | None:
        """Whether the measured figures meet the target (``None``: a figure it needs is
        missing)."""
        if self.against is Against.FLOOR:
            times = self.floor_ratio
            return None if times is None else times <= self.target_ratio
        ratio = self.ratio
        return None if ratio is None else ratio >= self.target_ratio

    @property
    def target(self) -> str:
        if self.against is Against.FLOOR:
            return f"<= {self.target_ratio:g}x floor"
        if self.target_ratio == 1:
            return "no slower than vdirsyncer"
        return f">= {self.target_ratio:g}x faster than vdirsyncer"

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.key, "work": self.work, "records": self.records,
            "target_ratio": self.target_ratio, "target_against": self.against.value,
            "target": self.target, "skipped": self.skipped,
            "ratio": self.ratio, "floor_ratio": self.floor_ratio, "met": self.met,
            "floor_work": self.floor_work, "floor_least_s": self.floor_seconds,
            "floor_runs_s": self.floor, "best_ratio": self.best_ratio,
            "attainable": self.attainable,
            "startup_floor_least_s": self.startup_floor_seconds,
            "startup_floor_runs_s": self.startup_floor,
            "floor_parts_runs_s": self.floor_parts,
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


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _met(row: Row) -> str:
    if row.met is None:
        return "-"
    if row.met:
        return "yes"
    return "NO (target > best possible)" if row.attainable is False else "NO"


def _parts(row: Row) -> str:
    """The least seconds of each way a row's floor was measured, when there are several."""
    if not row.floor_parts:
        return ""
    return " (least runs: " + "; ".join(
        f"{way} {min(seconds):.3f} s"
        for way, seconds in row.floor_parts.items() if seconds) + ")"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def render_table(rows: list[Row], runs: int) -> str:
    """The rows as a Markdown table (median of ``runs`` runs per tool, least of as many
    runs per floor), followed by what each row's floor measured."""
    lines = [f"median of {runs} runs per tool; s = seconds of the whole process; floor s = "
             f"least time any client could take for the work here (the least of {runs} "
             f"runs, measured in the same rounds, see below); x floor = syncline s / floor "
             f"s; ratio = vdirsyncer s / syncline s; target: at most so many times the "
             f"floor, or against vdirsyncer; best ratio = vdirsyncer s / floor s, the most "
             f"any client could reach against vdirsyncer; CPU s = user + system seconds of "
             f"the process",
             "",
             "| row | work | records | syncline s | floor s | x floor | vdirsyncer s | ratio "
             "| target | met | best ratio | attainable | start-up floor s "
             "| syncline CPU s | vdirsyncer CPU s "
             "| syncline rec/s | vdirsyncer rec/s | syncline RSS MB | vdirsyncer RSS MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|---:|---:|---:|---:"
             "|---:|---:|---:|"]
    for row in rows:
        if row.skipped:
            lines.append(f"| ({row.key}) | {row.work} | {row.records:,} | - | - | - | - | "
                         f"- | {row.target} | skipped: {row.skipped} | - | - | - "
                         f"| - | - | - | - | - | - |")
            continue
        ours, theirs = row.seconds("syncline"), row.seconds("vdirsyncer")
        lines.append(
            f"| ({row.key}) | {row.work} | {row.records:,} | {_number(ours, '.3f')} | "
            f"{_number(row.floor_seconds, '.3f')} | {_times(row.floor_ratio)} | "
            f"{_number(theirs, '.3f')} | {_times(row.ratio)} | {row.target} | "
            f"{_met(row)} | {_times(row.best_ratio)} | "
            f"{_yes_no(row.attainable)} | {_number(row.startup_floor_seconds, '.3f')} | "
            f"{_number(row.cpu_seconds('syncline'), '.3f')} | "
            f"{_number(row.cpu_seconds('vdirsyncer'), '.3f')} | "
            f"{_rate(row.records, ours)} | {_rate(row.records, theirs)} | "
            f"{_number(row.peak_rss_mb('syncline'), '.0f')} | "
            f"{_number(row.peak_rss_mb('vdirsyncer'), '.0f')} |")
    notes = [f"- ({row.key}) floor: {row.floor_work}{_parts(row)}" for row in rows
             if row.floor_work and not row.skipped]
    if notes:
        lines += ["", "What each floor measured:", "", *notes]
    return "\n".join(lines)
