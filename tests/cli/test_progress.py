"""Progress reporting: Rich bars on a terminal, plain log lines otherwise."""

from __future__ import annotations

import io
import re

from rich.console import Console

from syncline.cli.progress import LogProgress, RichProgress, progress_for
from syncline.engine import ProgressReporter


def _drive(reporter: ProgressReporter) -> None:
    reporter.stream_started("contact", 3)
    reporter.advanced("contact", 2)
    reporter.advanced("contact", 3)
    reporter.message("contact: a note")
    reporter.stream_finished("contact")
    reporter.stream_started("invoice", None)
    reporter.advanced("invoice", 5)
    reporter.stream_finished("invoice")


def test_log_progress_writes_timestamped_lines() -> None:
    out = io.StringIO()
    reporter = LogProgress(out, "crm-books", interval=0.0)
    _drive(reporter)
    lines = out.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"
    assert all(re.match(f"{stamp} crm-books ", line) for line in lines), lines
    text = [line.split(" ", 2)[2] for line in lines]
    assert text[0] == "contact: reading 3 records"
    assert text[1:3] == ["contact: 2/3 read", "contact: 3/3 read"]
    assert text[3] == "contact: a note"
    assert text[4].startswith("contact: done, 3 read in ")
    assert text[5] == "invoice: reading changes since the last run"
    assert text[6] == "invoice: 5/? read"
    assert text[7].startswith("invoice: done, 5 read in ")


def test_log_progress_limits_progress_lines() -> None:
    out = io.StringIO()
    reporter = LogProgress(out, "l", interval=3600.0)
    reporter.stream_started("contact", 1000)
    for done in range(1, 1001):
        reporter.advanced("contact", done)
    reporter.stream_finished("contact")
    assert len(out.getvalue().splitlines()) == 2


def test_rich_progress_draws_a_bar_per_stream() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with RichProgress(console, "crm-books") as bars:
        _drive(bars)
    text = out.getvalue()
    assert "crm-books contact" in text
    assert "crm-books invoice" in text
    assert "3/3" in text
    assert "5/5" in text  # an unknown total becomes the count when the stream ends
    assert "contact: a note" in text
    assert [bars.progress.tasks[task].finished for task in bars.tasks.values()] == [True, True]


def test_progress_for_chooses_by_terminal() -> None:
    errors = io.StringIO()
    terminal = Console(file=io.StringIO(), force_terminal=True)
    plain = Console(file=io.StringIO(), force_terminal=False)
    with progress_for(terminal, errors, "l", plain=False) as reporter:
        assert isinstance(reporter, RichProgress)
    with progress_for(terminal, errors, "l", plain=True) as reporter:
        assert isinstance(reporter, LogProgress)
    with progress_for(plain, errors, "l", plain=False) as reporter:
        assert isinstance(reporter, LogProgress)


def test_log_progress_counts_records_written() -> None:
    out = io.StringIO()
    reporter = LogProgress(out, "crm-books", interval=0.0)
    reporter.stream_started("contact", 3)
    reporter.advanced("contact", 3)
    reporter.written("contact", 0, 3)  # the first call starts the clock
    reporter.written("contact", 2, 3)
    reporter.written("contact", 3, 3)
    reporter.stream_finished("contact")
    text = [line.split(" ", 2)[2] for line in out.getvalue().splitlines()]
    assert "contact: 2/3 written" in [line.split(",")[0] for line in text]
    assert "contact: 3/3 written" in [line.split(",")[0] for line in text]
    assert re.fullmatch(r"contact: done, 3 read in \S+s(, \S+/s)?, 3 written( \(\S+/s\))?",
                        text[-1]), text[-1]


def test_rich_progress_draws_a_bar_for_records_written() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with RichProgress(console, "crm-books") as bars:
        bars.stream_started("contact", 40)
        bars.advanced("contact", 40)
        bars.written("contact", 17, 40)
        bars.stream_finished("contact")
    text = out.getvalue()
    assert "crm-books contact written" in text
    assert "17/17" in text or "17/40" in text
