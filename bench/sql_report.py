"""The table of the SQL benchmark (``python -m bench.sql``): one :class:`Step` per row,
its ratio to its floor and whether it met its target, both computed from the figures."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Step", "render"]


@dataclass(frozen=True)
class Step:
    """One measured step beside its floor.

    ``seconds`` is the run's own duration, ``process_seconds`` the step's whole process,
    ``floor_seconds`` the same work by a plain client. The target is one of: ``max_ratio``
    (seconds ≤ max_ratio x floor), ``max_beyond`` (the process ends at most that many
    seconds after the floor: the start-up floor of (b)), ``limit`` (seconds ≤ limit); with
    none the step has no target. ``target`` is its text.
    """

    name: str
    records: int
    seconds: float
    process_seconds: float
    floor_seconds: float
    peak_rss_mb: float
    target: str
    max_ratio: float | None = None
    max_beyond: float | None = None
    limit: float | None = None

    @property
    def ratio(self) -> float:
        """The step's time ÷ its floor's (the process for a start-up floor)."""
        measured = self.process_seconds if self.max_beyond is not None else self.seconds
        return measured / self.floor_seconds if self.floor_seconds > 0 else float("inf")

    @property
    def met(self) -> bool | None:
        """Whether the step met its target; ``None`` without one."""
        if self.max_ratio is not None:
            return self.seconds <= self.max_ratio * self.floor_seconds
        if self.max_beyond is not None:
            return self.process_seconds - self.floor_seconds <= self.max_beyond
        if self.limit is not None:
            return self.seconds <= self.limit
        return None


def render(steps: list[Step]) -> str:
    """The markdown table of ``steps``."""
    lines = ["| step | records | run s | process s | floor s | ratio | target | met "
             "| peak RSS MB |", "|---|---:|---:|---:|---:|---:|---|---|---:|"]
    for step in steps:
        met = "-" if step.met is None else ("yes" if step.met else "NO")
        lines.append(f"| {step.name} | {step.records:,} | {_seconds(step.seconds)} | "
                     f"{_seconds(step.process_seconds)} | {_seconds(step.floor_seconds)} | "
                     f"{step.ratio:.1f}x | {step.target} | {met} | {step.peak_rss_mb:,.0f} |")
    return "\n".join(lines)


def _seconds(value: float) -> str:
    """Seconds with two decimals, or three below 0.1 s (a small run's floor is not 0.00)."""
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"
