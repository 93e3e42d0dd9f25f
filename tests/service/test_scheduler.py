"""The scheduler and the service's triggers with a manual clock: nothing here sleeps.

Requests are run by a recording runner (or, where it says so, by the real engine on memory
endpoints); the clock only moves when a test advances it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncline.config import Config
from syncline.connectors.base import ReadScope
from syncline.engine import RunMode, RunSummary, Trigger
from syncline.errors import LinkBusy
from syncline.service import ManualClock, RunRequest, SyncService, TriggerStatus
from syncline.state.store import StateStore

from .support import memory_link

T0 = datetime(2030, 3, 4, 10, 7, 0, tzinfo=UTC)
WAIT = 20.0  # generous real-time bound for a worker thread to finish; never a sleep


class Recorder:
    """Runs requests by recording them; ``gate`` (when closed) holds each run until opened,
    so a test can trigger while a run goes on."""

    def __init__(self, *, gated: bool = False) -> None:
        self.requests: list[RunRequest] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.busy_first = 0

    def __call__(self, request: RunRequest) -> RunSummary:
        if self.busy_first:
            self.busy_first -= 1
            raise LinkBusy("link 'lr' is busy: another process")
        self.requests.append(request)
        self.entered.set()
        assert self.gate.wait(WAIT), "the test never opened the gate"
        return RunSummary(request.link, len(self.requests), request.mode, request.trigger,
                          datetime.now(UTC))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(f"sqlite:///{tmp_path}/state.db")
    yield opened
    opened.close()


def service_for(config: Config, store: StateStore, clock: ManualClock,
                runner: Recorder | None = None) -> SyncService:
    return SyncService(config, store, clock=clock, runner=runner)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def test_default_schedule_runs_the_link_every_30_minutes(tmp_path: Path, store: StateStore,
                                                         clock: ManualClock) -> None:
    config = memory_link(tmp_path).config()
    runner = Recorder()
    service = service_for(config, store, clock, runner)
    try:
        service.tick()
        assert service.wait_idle(WAIT)
        assert runner.requests == []  # no on_startup, no history: first run after 30 min
        assert service.scheduler.next_due("lr") == T0 + timedelta(minutes=30)
        clock.advance(minutes=29, seconds=59)
        service.tick()
        assert service.wait_idle(WAIT)
        assert runner.requests == []
        clock.advance(seconds=1)
        service.tick()
        assert service.wait_idle(WAIT)
        assert [(r.trigger, r.mode, r.streams) for r in runner.requests] == \
            [(Trigger.SCHEDULE, RunMode.INCREMENTAL, frozenset())]
        clock.advance(minutes=30)
        service.tick()
        assert service.wait_idle(WAIT)
        assert len(runner.requests) == 2
        # a stop of two hours runs once, not four times
        clock.advance(hours=2)
        service.tick()
        service.tick()
        assert service.wait_idle(WAIT)
        assert len(runner.requests) == 3
        assert service.scheduler.next_due("lr") == T0 + timedelta(hours=3, minutes=30)
    finally:
        service.shutdown()


def test_the_real_engine_runs_on_schedule(tmp_path: Path, store: StateStore,
                                          clock: ManualClock) -> None:
    pair = memory_link(tmp_path, link_extra='schedule = "every 10m"')
    pair.a.put("contact", "c1", {"name": "Ada", "email": "ada@example.com"})
    service = service_for(pair.config(), store, clock)
    try:
        service.tick()
        assert service.wait_idle(WAIT)
        assert pair.b.stream("contact") == {}
        clock.advance(minutes=10)
        service.tick()
        assert service.wait_idle(WAIT)
        assert [fields["name"] for _, fields, _ in pair.b.stream("contact").values()] == ["Ada"]
        runs = store.runs("lr")
        assert [(run["trigger"], run["outcome"]) for run in runs] == [("schedule", "ok")]
        status = service.status("lr")[0]
        assert status["last_run"]["id"] == runs[0]["id"]
        assert status["lock"] is None  # released after the run
        assert status["next_run"] == (T0 + timedelta(minutes=20)).isoformat()
    finally:
        service.shutdown()


def test_an_interval_counts_from_the_last_run_across_restarts(
        tmp_path: Path, store: StateStore, clock: ManualClock) -> None:
    config = memory_link(tmp_path).config()
    run_id = store.start_run(link="lr", trigger="manual", mode="incremental", scope={},
                             user=None, dry_run=False, started_at=T0 - timedelta(minutes=10))
    store.finish_run(run_id, outcome="ok", finished_at=T0 - timedelta(minutes=9),
                     duration_s=60.0, counts={}, message=None)
    service = service_for(config, store, clock, Recorder())
    assert service.scheduler.next_due("lr") == T0 + timedelta(minutes=20)
    service.shutdown()
    run_id = store.start_run(link="lr", trigger="manual", mode="incremental", scope={},
                             user=None, dry_run=False, started_at=T0 - timedelta(hours=5))
    with store.engine.begin() as connection:  # make the hours-old run the only one
        from syncline.state import schema

        connection.execute(schema.runs.delete().where(schema.runs.c.id != run_id))
    service = service_for(config, store, clock, Recorder())
    assert service.scheduler.next_due("lr") == T0  # overdue: at once
    service.shutdown()


def test_cron_schedule(tmp_path: Path, store: StateStore, clock: ManualClock) -> None:
    config = memory_link(tmp_path, link_extra='schedule = "0 * * * *"').config()
    runner = Recorder()
    service = service_for(config, store, clock, runner)
    try:
        assert service.scheduler.next_due("lr") == datetime(2030, 3, 4, 11, 0, tzinfo=UTC)
        clock.set(datetime(2030, 3, 4, 10, 59, 59, tzinfo=UTC))
        service.tick()
        assert service.wait_idle(WAIT)
        assert runner.requests == []
        clock.set(datetime(2030, 3, 4, 11, 0, tzinfo=UTC))
        service.tick()
        assert service.wait_idle(WAIT)
        assert len(runner.requests) == 1
        assert service.scheduler.next_due("lr") == datetime(2030, 3, 4, 12, 0, tzinfo=UTC)
    finally:
        service.shutdown()


def test_manual_links_run_only_when_asked(tmp_path: Path, store: StateStore,
                                          clock: ManualClock) -> None:
    config = memory_link(tmp_path, link_extra='schedule = "manual"').config()
    runner = Recorder()
    service = service_for(config, store, clock, runner)
    try:
        clock.advance(hours=48)
        service.tick()
        assert service.wait_idle(WAIT)
        assert runner.requests == []
        result = service.trigger("lr", requested_by="alice")
        assert result.status is TriggerStatus.STARTED
        assert service.wait_idle(WAIT)
        assert [(r.trigger, r.requested_by) for r in runner.requests] == \
            [(Trigger.MANUAL, ("alice",))]
    finally:
        service.shutdown()


def test_on_startup_runs_once_at_start(tmp_path: Path, store: StateStore,
                                       clock: ManualClock) -> None:
    config = memory_link(tmp_path, link_extra="on_startup = true").config()
    runner = Recorder()
    service = service_for(config, store, clock, runner)
    try:
        service.start()
        assert service.wait_idle(WAIT)
        service.tick()
        assert service.wait_idle(WAIT)
        assert [r.trigger for r in runner.requests] == [Trigger.STARTUP]
    finally:
        service.shutdown()


def test_per_stream_schedules(tmp_path: Path, store: StateStore, clock: ManualClock) -> None:
    config = memory_link(tmp_path, streams=["tax_rate", "contact", "invoice"], link_extra="""\
schedule = "every 30m"
[links.lr.schedules]
tax_rate = "daily"
invoice = "every 10m"
""").config()
    runner = Recorder()
    service = service_for(config, store, clock, runner)
    try:
        service.tick()
        clock.advance(minutes=10)
        service.tick()
        assert service.wait_idle(WAIT)
        clock.advance(minutes=10)
        service.tick()
        assert service.wait_idle(WAIT)
        assert [r.streams for r in runner.requests] == [frozenset({"invoice"})] * 2
        clock.advance(minutes=10)  # 10:37: the link's own 30 minutes and invoice's 10 at once
        service.tick()
        assert service.wait_idle(WAIT)
        assert runner.requests[2].streams == frozenset({"contact", "invoice"})
        assert runner.requests[2].ordered_streams(["tax_rate", "contact", "invoice"]) == \
            ("contact", "invoice")
        clock.set(datetime(2030, 3, 5, 0, 0, tzinfo=UTC))  # midnight: tax_rate too
        service.tick()
        assert service.wait_idle(WAIT)
        last = runner.requests[-1]
        assert last.streams == frozenset({"tax_rate", "contact", "invoice"})
        assert last.ordered_streams(["tax_rate", "contact", "invoice"]) == ()  # all
    finally:
        service.shutdown()


def test_triggers_while_running_coalesce_into_one_follow_up(
        tmp_path: Path, store: StateStore, clock: ManualClock) -> None:
    config = memory_link(tmp_path, streams=["contact", "invoice"]).config()
    runner = Recorder(gated=True)
    service = service_for(config, store, clock, runner)
    try:
        service.tick()
        first = service.trigger("lr", streams=["contact"], requested_by="alice")
        assert first.status is TriggerStatus.STARTED
        assert runner.entered.wait(WAIT)
        second = service.trigger("lr", streams=["invoice"], requested_by="bob",
                                 trigger=Trigger.API)
        assert second.status is TriggerStatus.QUEUED
        clock.advance(minutes=30)
        service.tick()  # the schedule fires while the run goes on
        third = service.submit(RunRequest("lr", streams=frozenset({"invoice"}),
                                          scope=ReadScope(from_key="k5"), requested_by=("bob",)))
        assert third.status is TriggerStatus.COALESCED
        assert third.request.merged_count == 3
        status = service.status("lr")[0]
        assert status["running"]["requested_by"] == ["alice"]
        assert status["queued"]["merged"] == 3
        runner.gate.set()
        assert service.wait_idle(WAIT)
        assert len(runner.requests) == 2  # one run, one follow-up: never two more
        follow_up = runner.requests[1]
        assert follow_up.streams == frozenset()  # the schedule asked for the whole link
        assert follow_up.scope == ReadScope()  # differing scopes: the whole scope
        assert follow_up.requested_by == ("bob", "schedule")
        assert follow_up.trigger is Trigger.API
        assert service.completed("lr") == runner.requests
    finally:
        runner.gate.set()
        service.shutdown()


def test_force_sync_supersedes_a_queued_incremental_run(
        tmp_path: Path, store: StateStore, clock: ManualClock) -> None:
    config = memory_link(tmp_path, streams=["contact", "invoice"]).config()
    runner = Recorder(gated=True)
    service = service_for(config, store, clock, runner)
    try:
        service.tick()
        service.trigger("lr")
        assert runner.entered.wait(WAIT)
        queued = service.trigger("lr", streams=["contact"])
        assert queued.request.mode is RunMode.INCREMENTAL
        forced = service.force_sync("lr", requested_by="admin")
        assert forced.status is TriggerStatus.COALESCED
        assert (forced.request.mode, forced.request.trigger) == (RunMode.FULL, Trigger.FORCE)
        later = service.trigger("lr", streams=["invoice"])  # still one full run
        assert later.request.mode is RunMode.FULL
        runner.gate.set()
        assert service.wait_idle(WAIT)
        assert [(r.mode, r.trigger, r.streams) for r in runner.requests] == [
            (RunMode.INCREMENTAL, Trigger.MANUAL, frozenset()),
            (RunMode.FULL, Trigger.FORCE, frozenset())]
    finally:
        runner.gate.set()
        service.shutdown()


def test_a_link_busy_in_another_process_is_tried_again_later(
        tmp_path: Path, store: StateStore, clock: ManualClock) -> None:
    config = memory_link(tmp_path, link_extra='schedule = "manual"').config()
    runner = Recorder()
    runner.busy_first = 1
    service = SyncService(config, store, clock=clock, runner=runner, busy_retry=30)
    try:
        service.tick()
        service.trigger("lr")
        assert service.wait_idle(WAIT)
        assert runner.requests == []
        assert service.status("lr")[0]["queued"] is not None  # kept, not lost
        clock.advance(seconds=29)
        service.tick()
        assert service.wait_idle(WAIT)
        assert runner.requests == []
        clock.advance(seconds=1)
        service.tick()
        assert service.wait_idle(WAIT)
        assert len(runner.requests) == 1
    finally:
        service.shutdown()
