"""Progress while a run goes on: Rich bars on a terminal, plain log lines elsewhere.

Both classes implement :class:`syncline.engine.ProgressReporter`. The engine reports per
**stream**: ``stream_started`` (with the number of records to read, when known),
``advanced`` (records read so far, a running total), ``written`` (records written so far
out of those planned so far), ``stream_finished``, and free-text ``message`` lines.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # Rich's progress bars load only when drawn (start-up time)
    from rich.console import Console

    from syncline.cli.progress_rich import RateColumn, RichProgress
    from syncline.service.outcomes import ProgressReporter

__all__ = ["LogProgress", "RateColumn", "RichProgress", "progress_for"]


def __getattr__(name: str) -> Any:
    """:class:`RichProgress` and :class:`RateColumn`, loaded on first use (they live in
    :mod:`syncline.cli.progress_rich`)."""
    if name in ("RichProgress", "RateColumn"):
        from syncline.cli import progress_rich

        return getattr(progress_rich, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")



class LogProgress:
    """Plain, timestamped lines on ``stream`` (stderr): start, progress of reading and of
    writing at most every ``interval`` seconds each, end, and messages."""

    def __init__(self, stream: TextIO, link: str, interval: float = 2.0) -> None:
        self.stream = stream
        self.link = link
        self.interval = interval
        self.totals: dict[str, int | None] = {}
        self.done: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.last_line: dict[str, float] = {}
        self.writes: dict[str, tuple[int, int]] = {}
        self.write_started: dict[str, float] = {}
        self.last_write_line: dict[str, float] = {}

    def _line(self, text: str) -> None:
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        self.stream.write(f"{stamp} {self.link} {text}\n")
        self.stream.flush()

    def stream_started(self, stream: str, total: int | None) -> None:
        self.totals[stream] = total
        self.done[stream] = 0
        self.started[stream] = self.last_line[stream] = time.monotonic()
        size = f"{total} records" if total is not None else "changes since the last run"
        self._line(f"{stream}: reading {size}")

    def advanced(self, stream: str, done: int) -> None:
        self.done[stream] = done
        moment = time.monotonic()
        if moment - self.last_line.get(stream, 0.0) >= self.interval:
            self.last_line[stream] = moment
            total = self.totals.get(stream)
            self._line(f"{stream}: {done}/{total if total is not None else '?'} read")

    def written(self, stream: str, done: int, total: int) -> None:
        moment = time.monotonic()
        self.writes[stream] = (done, total)
        started = self.write_started.setdefault(stream, moment)
        if moment - self.last_write_line.get(stream, started) >= self.interval:
            self.last_write_line[stream] = moment
            elapsed = moment - started
            rate = f", {done / elapsed:,.1f}/s" if elapsed > 0 and done else ""
            self._line(f"{stream}: {done}/{total} written{rate}")

    def stream_finished(self, stream: str) -> None:
        moment = time.monotonic()
        elapsed = moment - self.started.get(stream, moment)
        done = self.done.get(stream, 0)
        rate = f", {done / elapsed:,.0f}/s" if elapsed > 0 and done else ""
        wrote = ""
        if stream in self.writes:
            count = self.writes[stream][0]
            spent = moment - self.write_started.get(stream, moment)
            speed = f" ({count / spent:,.1f}/s)" if spent > 0 and count else ""
            wrote = f", {count} written{speed}"
        self._line(f"{stream}: done, {done} read in {elapsed:.2f}s{rate}{wrote}")

    def message(self, text: str) -> None:
        self._line(text)


@contextmanager
def progress_for(console: Console, errors: TextIO, link: str, *,
                 plain: bool) -> Iterator[ProgressReporter]:
    """The reporter for one run of ``link``: Rich bars on ``console`` when it is a terminal
    and ``plain`` is not asked for, otherwise log lines on ``errors``."""
    if console.is_terminal and not plain:
        from syncline.cli.progress_rich import RichProgress

        with RichProgress(console, link) as bars:
            yield bars
    else:
        yield LogProgress(errors, link)
