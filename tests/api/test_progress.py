"""Progress of a real run streamed as server-sent events: a snapshot first, then
run_started, stream_started, progress (records read so far, growing), stream_finished and
run_finished with the run's id and counts, the same the run's record then shows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.support import MemoryLink, memory_link
from syncline.connectors.base import Connector, WriteBatch, WriteResult
from syncline.connectors.memory import MemoryConnector
from syncline.state.users_store import Role

from .support import Served, read_events, serve_api, wait_for

RECORDS = 1200


@pytest.fixture
def paged(tmp_path: Path) -> Iterator[tuple[MemoryLink, Served]]:
    link = memory_link(tmp_path, streams=["contact"],
                       link_extra='schedule = "manual"\nbatch_size = 100')
    with serve_api(link.config()) as served:
        yield link, served


def test_sse_progress_of_a_real_run(paged: tuple[MemoryLink, Served]) -> None:
    link, api = paged
    for number in range(RECORDS):
        link.a.put("contact", f"c{number:05}", {"name": f"Person {number}",
                                                "email": f"p{number}@example.com"})
    viewer = api.client(Role.VIEWER)
    with viewer.stream("GET", "/api/links/lr/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        first = read_events(lines, "snapshot")
        assert first == [{"event": "snapshot", "data": {"lr": None}}]
        started = api.client(Role.OPERATOR).post("/api/links/lr/sync", json={})
        assert started.status_code == 202
        events = read_events(lines, "run_finished")
    kinds = [event["event"] for event in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.index("stream_started") < kinds.index("progress") \
        < kinds.index("stream_finished")
    assert events[0]["data"]["requested_by"] == ["operator"]
    assert all(event["data"]["link"] == "lr" for event in events)
    done = [event["data"]["done"] for event in events if event["event"] == "progress"]
    assert len(done) >= 2 and done == sorted(done) and done[-1] >= RECORDS
    finished = events[-1]["data"]
    assert finished["outcome"] == "ok" and finished["counts"]["contact"]["A"] == RECORDS
    run = api.client(Role.VIEWER).get(f"/api/runs/{finished['run_id']}").json()
    assert run["outcome"] == "ok" and run["counts"]["contact"]["A"] == RECORDS
    assert len(link.b.stream("contact")) == RECORDS


class _Gated(MemoryConnector):
    """A memory connector whose first write waits until the test opens the gate."""

    gate = threading.Event()
    waiting = threading.Event()

    def write(self, batch: WriteBatch) -> list[WriteResult]:
        self.waiting.set()
        assert self.gate.wait(60), "the test never opened the gate"
        return super().write(batch)


def test_status_shows_the_progress_of_the_run_going_on(tmp_path: Path) -> None:
    link = memory_link(tmp_path, streams=["contact"],
                       link_extra='schedule = "manual"\nbatch_size = 100')
    config = link.config()
    _Gated.gate.clear()
    _Gated.waiting.clear()

    def factory(name: str) -> Connector:
        endpoint = config.endpoints[name]
        cls = _Gated if name == "right" else MemoryConnector
        return cls(name, endpoint.settings, config.base_dir)

    for number in range(RECORDS):
        link.a.put("contact", f"c{number:05}", {"name": f"P{number}"})
    with serve_api(config, factory=factory) as api:
        assert httpx.get(f"{api.url}/api/events").status_code == 401
        assert httpx.get(f"{api.url}/api/links/lr/events").status_code == 401
        assert api.client(Role.VIEWER).get("/api/links/nope/events").status_code == 404
        viewer = api.client(Role.VIEWER)
        try:
            assert api.client(Role.OPERATOR).post("/api/links/lr/sync",
                                                  json={}).status_code == 202
            assert _Gated.waiting.wait(60)
            status = viewer.get("/api/links/lr").json()
            assert status["running"]["requested_by"] == ["operator"]
            assert status["progress"]["requested_by"] == ["operator"]
            contact = status["progress"]["streams"]["contact"]
            assert contact["total"] == RECORDS and not contact["finished"]
            again = api.client(Role.OPERATOR).post("/api/links/lr/sync", json={}).json()
            assert again["status"] == "queued"  # one run per link: the next one waits
            with viewer.stream("GET", "/api/events") as stream:  # joining while it runs
                lines = stream.iter_lines()
                snapshot = read_events(lines, "snapshot")[0]["data"]["lr"]
                assert snapshot["streams"]["contact"]["total"] == RECORDS
                assert snapshot["requested_by"] == ["operator"]
                _Gated.gate.set()
                assert read_events(lines, "run_finished")[-1]["data"]["outcome"] == "ok"
        finally:
            _Gated.gate.set()
        after = wait_for(lambda: (lambda found: found if found["last_outcome"] == "ok"
                                  and found["running"] is None and found["queued"] is None
                                  else None)(viewer.get("/api/links/lr").json()),
                         "the status after the runs")
        assert after["progress"] is None and after["last_synced_at"] is not None
        assert after["last_duration_s"] is not None
        assert len(link.b.stream("contact")) == RECORDS


def test_sse_progress_counts_records_written(paged: tuple[MemoryLink, Served]) -> None:
    link, api = paged
    for number in range(RECORDS):
        link.a.put("contact", f"c{number:05}", {"name": f"Person {number}",
                                                "email": f"p{number}@example.com"})
    with api.client(Role.VIEWER).stream("GET", "/api/links/lr/events") as stream:
        lines = stream.iter_lines()
        read_events(lines, "snapshot")
        assert api.client(Role.OPERATOR).post("/api/links/lr/sync", json={}).status_code \
            == 202
        events = read_events(lines, "run_finished")
    writes = [(event["data"]["written"], event["data"]["to_write"]) for event in events
              if event["event"] == "progress" and event["data"].get("to_write")]
    assert writes, events
    assert [done for done, _ in writes] == sorted(done for done, _ in writes)
    assert all(done <= total for done, total in writes)
    assert writes[-1] == (RECORDS, RECORDS)
    finished = [event["data"] for event in events if event["event"] == "stream_finished"]
    assert finished[-1]["written"] == RECORDS and finished[-1]["write_rate"] is not None
