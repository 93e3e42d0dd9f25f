"""When each link runs by itself: its schedule jobs and their next due times.

Terms:

job
    One schedule of one link: the link's own schedule for the streams without an override,
    or one per-stream override (``[links.NAME.schedules]``). A job whose streams are all of
    the link's asks for a run of the whole link.
due
    A job is due when its next time has come; :meth:`Scheduler.due` returns a request per
    due job and moves the job's next time past now (missed times are not caught up one by
    one: one run covers them).

The scheduler only computes; :class:`~syncline.service.service.SyncService` turns its
requests into runs. It reads time from a :class:`~syncline.service.clock.Clock`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from syncline.config import Config
from syncline.engine.options import RunMode, RunRequest, Trigger
from syncline.service.clock import Clock
from syncline.service_config import Schedule, ScheduleKind

__all__ = ["Job", "Scheduler"]


@dataclass
class Job:
    """One schedule of one link (see the module docstring)."""

    link: str
    streams: frozenset[str]
    """The streams it runs; empty: the whole link."""
    schedule: Schedule
    next_due: datetime | None = None

    def describe(self) -> str:
        what = ", ".join(sorted(self.streams)) if self.streams else "all streams"
        return f"{self.link} ({what}): {self.schedule}"


class Scheduler:
    """The jobs of every link of a configuration.

    ``last_started`` tells when a link last started a run (from the state store), so that
    an interval counts from the last run, also across restarts; ``None`` counts from the
    scheduler's start.
    """

    def __init__(self, config: Config, clock: Clock,
                 last_started: Callable[[str], datetime | None] | None = None) -> None:
        self.config = config
        self.clock = clock
        self.jobs: list[Job] = []
        start = clock.now()
        for name, link in config.links.items():
            overrides = link.stream_schedules()
            rest = frozenset(stream for stream in link.streams if stream not in overrides)
            if rest:
                whole = rest == frozenset(link.streams)
                self.jobs.append(Job(name, frozenset() if whole else rest,
                                     link.parsed_schedule()))
            for stream, schedule in overrides.items():
                self.jobs.append(Job(name, frozenset({stream}), schedule))
        for job in self.jobs:
            anchor = last_started(job.link) if last_started is not None else None
            job.next_due = self._first_due(job.schedule, anchor, start)

    @staticmethod
    def _first_due(schedule: Schedule, anchor: datetime | None,
                   start: datetime) -> datetime | None:
        if schedule.kind is ScheduleKind.INTERVAL and anchor is not None:
            due = schedule.next_after(anchor)
            return due if due is not None and due > start else start
        return schedule.next_after(start)

    def startup_requests(self) -> list[RunRequest]:
        """A whole-link run for every link with ``on_startup = true``."""
        when = self.clock.now()
        return [RunRequest(name, RunMode.INCREMENTAL, trigger=Trigger.STARTUP,
                           requested_by=("schedule",), requested_at=when)
                for name, link in self.config.links.items() if link.on_startup]

    def due(self) -> list[RunRequest]:
        """A request per job that is due now; each such job moves on to its next time."""
        moment = self.clock.now()
        found: list[RunRequest] = []
        for job in self.jobs:
            if job.next_due is None or job.next_due > moment:
                continue
            found.append(RunRequest(job.link, RunMode.INCREMENTAL, job.streams,
                                    trigger=Trigger.SCHEDULE, requested_by=("schedule",),
                                    requested_at=moment))
            following = job.schedule.next_after(job.next_due)
            while following is not None and following <= moment:
                following = job.schedule.next_after(following)
            job.next_due = following
        return found

    def next_due(self, link: str | None = None) -> datetime | None:
        """The earliest next time of any job (of ``link``, if given)."""
        times = [job.next_due for job in self.jobs
                 if job.next_due is not None and (link is None or job.link == link)]
        return min(times, default=None)
