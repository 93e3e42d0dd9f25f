"""Rich progress bars for a run on a terminal (see :mod:`syncline.cli.progress`). Rich's
progress machinery loads only when bars are drawn: a run whose output goes to a file or a pipe
(a scheduler, a benchmark) logs plain lines and never needs it."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

__all__ = ["RateColumn", "RichProgress"]


class RateColumn(ProgressColumn):
    """Records per second of a task (Rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("", style="progress.data.speed")
        return Text(f"{speed:,.0f}/s", style="progress.data.speed")


class RichProgress:
    """Rich progress bars drawn on ``console`` while the ``with`` block runs: per stream, one
    for the records read and, once the stream writes, one for the records written out of
    those planned so far."""

    def __init__(self, console: Console, link: str) -> None:
        self.link = link
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.write_tasks: dict[str, TaskID] = {}
        self._writes = threading.Lock()  # written() comes from the thread that wrote

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stream_started(self, stream: str, total: int | None) -> None:
        self.tasks[stream] = self.progress.add_task(f"{self.link} {stream}", total=total)

    def advanced(self, stream: str, done: int) -> None:
        task = self.tasks.get(stream)
        if task is not None:
            self.progress.update(task, completed=done)

    def written(self, stream: str, done: int, total: int) -> None:
        with self._writes:
            task = self.write_tasks.get(stream)
            if task is None:
                self.write_tasks[stream] = self.progress.add_task(
                    f"{self.link} {stream} written", total=total, completed=done)
                return
        self.progress.update(task, total=total, completed=done)

    def stream_finished(self, stream: str) -> None:
        for task in (self.tasks.get(stream), self.write_tasks.get(stream)):
            if task is None:
                continue
            done = self.progress.tasks[task].completed
            self.progress.update(task, total=done, completed=done)
            self.progress.stop_task(task)

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)
