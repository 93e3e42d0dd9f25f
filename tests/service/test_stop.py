"""A service stopped with ``cancel_runs`` asks the runs going on to stop: a run stops after the
write in flight, settles what it wrote (no intent left), is recorded as interrupted, and
the next run writes the rest exactly once."""

from __future__ import annotations

import threading
from pathlib import Path

from syncline.connectors.base import Connector, WriteBatch, WriteResult
from syncline.connectors.memory import MemoryConnector
from syncline.engine import RunOutcome, RunRequest, SyncEngine
from syncline.service import SyncService
from syncline.state.store import StateStore

from .support import memory_link

RECORDS = 1000
BATCH = 100


class _Gated(MemoryConnector):
    """A memory connector whose first write waits until the test opens the gate."""

    gate = threading.Event()
    waiting = threading.Event()

    def write(self, batch: WriteBatch) -> list[WriteResult]:
        self.waiting.set()
        assert self.gate.wait(60), "the test never opened the gate"
        return super().write(batch)


def test_shutting_down_stops_the_run_after_the_write_in_flight(tmp_path: Path) -> None:
    link = memory_link(tmp_path, link_extra=f'schedule = "manual"\nbatch_size = {BATCH}')
    config = link.config()
    for number in range(RECORDS):
        link.a.put("contact", f"c{number:05}", {"name": f"P{number}"})
    _Gated.gate.clear()
    _Gated.waiting.clear()

    def gated(name: str) -> Connector:
        endpoint = config.endpoints[name]
        cls = _Gated if name == "right" else MemoryConnector
        return cls(name, endpoint.settings, config.base_dir)

    store = StateStore.open(config.resolve_url(config.state.url))
    try:
        service = SyncService(config, store, factory=gated)
        service.trigger("lr")
        service.tick()
        try:
            assert _Gated.waiting.wait(60)
            service.stop(cancel_runs=True)  # while the first batch is being written
        finally:
            _Gated.gate.set()
        assert service.wait_idle(60)
        service.shutdown()
        (last,) = store.runs("lr", limit=1)
        assert last["outcome"] == "failed"
        assert "interrupted (the service is shutting down)" in last["message"]
        written = len(link.b.stream("contact"))
        assert written == BATCH  # the write in flight finished; no other was sent
        scope = store.scope_id("lr", "contact")
        assert store.count_mappings(scope) == written
        assert store.pending_intents(scope) == []
        summary = SyncEngine(config, store).run(RunRequest("lr"))
        assert summary.outcome is RunOutcome.OK
        created = summary.streams["contact"].A
        assert created == RECORDS - written
        assert len(link.b.stream("contact")) == RECORDS
        assert store.count_mappings(scope) == RECORDS
    finally:
        store.close()
