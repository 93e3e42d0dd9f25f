"""What people do through the API, end to end over real HTTP on memory links: selective
sync, pause / resume, forced resynchronisation (R rows), errors and retry, conflicts,
journal filters, the sync user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.support import MemoryLink, memory_link
from syncline.state.users_store import Role

from .support import Served, serve_api, wait_for


def _finished(api: Served, count: int) -> list[dict[str, Any]]:
    """Wait until ``count`` runs of ``lr`` have finished; the runs, newest first."""
    return wait_for(lambda: (lambda rows: rows if len(rows) >= count and all(
        row["outcome"] != "running" for row in rows) else None)(api.store.runs("lr")),
        f"{count} finished runs")


def _idle(api: Served) -> None:
    wait_for(lambda: api.context.service.wait_idle(0.1), "the service to be idle")


def _sync(api: Served, role: Role = Role.OPERATOR, **body: Any) -> dict[str, Any]:
    before = len(api.store.runs("lr", limit=1000))
    answer = api.client(role).post("/api/links/lr/sync", json=body)
    assert answer.status_code == 202, answer.text
    _finished(api, before + 1)
    _idle(api)
    return api.store.runs("lr")[0]


def test_selective_sync_by_key_range(api: Served, link: MemoryLink) -> None:
    for key in ("c1", "c2", "c3", "c4"):
        link.a.put("contact", key, {"name": key.upper()})
    run = _sync(api, from_key="c2", to_key="c3")
    assert run["outcome"] == "ok" and run["counts"]["contact"]["A"] == 2
    names = sorted(fields["name"] for _, fields, _ in link.b.stream("contact").values())
    assert names == ["C2", "C3"]
    listed = api.client(Role.VIEWER).get("/api/runs", params={"outcome": "ok"}).json()
    assert [row["id"] for row in listed] == [run["id"]] and listed[0]["link"] == "lr"
    assert api.client(Role.VIEWER).get("/api/runs", params={"outcome": "failed"}).json() == []
    assert api.client(Role.VIEWER).get("/api/runs", params={"link": "x"}).status_code == 404
    bad = api.client(Role.OPERATOR).post("/api/links/lr/sync", json={"streams": ["invoice"]})
    assert bad.status_code == 422 and "does not sync invoice" in bad.json()["detail"]


def test_pause_and_resume_a_link(api: Served, link: MemoryLink) -> None:
    operator = api.client(Role.OPERATOR)
    paused = operator.post("/api/links/lr/pause", json={}).json()
    assert paused["paused"] is True and paused["updated_by"] == "operator"
    refused = operator.post("/api/links/lr/sync", json={})
    assert refused.status_code == 409 and "paused" in refused.json()["detail"]
    assert api.context.service.trigger("lr").status.value == "paused"  # the schedule too
    assert api.client(Role.VIEWER).get("/api/links/lr").json()["controls"]["paused"] is True
    assert operator.post("/api/links/lr/resume", json={}).json()["paused"] is False
    link.a.put("contact", "c1", {"name": "Ada"})
    assert _sync(api)["counts"]["contact"]["A"] == 1


def test_forced_resync_writes_r_rows_and_journal_filters(api: Served,
                                                         link: MemoryLink) -> None:
    for key in ("c1", "c2", "c3"):
        link.a.put("contact", key, {"name": key.upper()})
    _sync(api)
    answer = api.client(Role.ADMIN).post("/api/links/lr/force", json={
        "streams": ["contact"], "from_key": "c2", "to_key": "c3", "now": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["marked"] == 2 and answer.json()["from"] == "a"
    runs = _finished(api, 2)
    _idle(api)
    assert runs[0]["mode"] == "forced" and runs[0]["user"] == "admin"
    viewer = api.client(Role.VIEWER)
    forced = viewer.get("/api/links/lr/journal", params={"action": "R"}).json()
    assert sorted(row["a_key"] for row in forced) == ["c2", "c3"]
    assert all(row["run_id"] == runs[0]["id"] for row in forced)
    one = viewer.get("/api/links/lr/journal", params={"action": "R", "key": "c3"}).json()
    assert [row["a_key"] for row in one] == ["c3"]
    created = viewer.get(f"/api/runs/{runs[1]['id']}/journal",
                         params={"action": "A", "stream": "contact"}).json()
    assert len(created) == 3
    assert viewer.get("/api/links/lr/journal", params={"action": "X"}).status_code == 422
    assert viewer.get("/api/links/lr/journal", params={"outcome": "error"}).json() == []


def test_errors_retry_and_warnings(api: Served, link: MemoryLink) -> None:
    link.a.put("contact", "c1", {"name": "Ada"})
    link.a.put("contact", "c2", {"name": "Bob"})
    _sync(api)
    b_keys = sorted(link.b.stream("contact"))
    link.a.put("contact", "c1", {"name": "Ada Lovelace"})
    link.b.fail_keys.add(b_keys[0])
    failed = _sync(api)
    assert failed["outcome"] == "error"
    viewer = api.client(Role.VIEWER)
    groups = viewer.get("/api/links/lr/errors").json()
    assert len(groups) == 1 and groups[0]["count"] == 1 and groups[0]["stream"] == "contact"
    assert "rejected by the memory store" in groups[0]["cause"] + str(groups[0]["documents"])
    errors = viewer.get("/api/links/lr/journal", params={"outcome": "error"}).json()
    assert len(errors) == 1 and errors[0]["run_id"] == failed["id"]
    assert viewer.get("/api/links/lr").json()["pending_items"] == 1
    assert viewer.post("/api/links/lr/retry", json={}).status_code == 403
    link.b.fail_keys.clear()
    retried = api.client(Role.OPERATOR).post("/api/links/lr/retry", json={})
    assert retried.status_code == 202 and retried.json()["retrying"] == 1
    runs = _finished(api, 3)
    _idle(api)
    assert runs[0]["outcome"] == "ok"
    assert viewer.get("/api/links/lr/errors").json() == []
    assert viewer.get("/api/links/lr/warnings").json() == []
    names = sorted(fields["name"] for _, fields, _ in link.b.stream("contact").values())
    assert names == ["Ada Lovelace", "Bob"]


@pytest.fixture
def manual(tmp_path: Path) -> Iterator[tuple[MemoryLink, Served]]:
    link = memory_link(tmp_path, streams=["contact"],
                       link_extra='schedule = "manual"\nconflict = "manual"\n'
                                  'sync_user = "svc"')
    with serve_api(link.config()) as served:
        yield link, served


def test_conflicts_resolved_through_the_api_and_the_sync_user(
        manual: tuple[MemoryLink, Served]) -> None:
    link, api = manual
    link.a.put("contact", "c1", {"name": "Ada"})
    first = _sync(api)
    assert first["user"] == "operator as svc"
    (b_key,) = link.b.stream("contact")
    link.a.put("contact", "c1", {"name": "Ada from a"})
    link.b.put("contact", b_key, {"name": "Ada from b"})
    _sync(api)
    viewer, operator = api.client(Role.VIEWER), api.client(Role.OPERATOR)
    (conflict,) = viewer.get("/api/links/lr/conflicts").json()
    assert viewer.get("/api/links/lr").json()["open_conflicts"] == 1
    assert viewer.get("/api/links/lr").json()["sync_user"] == "svc"
    path = f"/api/links/lr/conflicts/{conflict['id']}/resolve"
    assert viewer.post(path, json={"side": "b"}).status_code == 403
    answer = operator.post(path, json={"side": "b", "run_now": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["winner"] == "right" and answer.json()["resolved_by"] == "operator"
    _finished(api, 3)
    _idle(api)
    assert link.a.stream("contact")["c1"][1]["name"] == "Ada from b"
    assert viewer.get("/api/links/lr/conflicts").json() == []
    assert operator.post(path, json={"side": "a"}).status_code == 404
    scheduled = api.context.service.trigger("lr")  # nobody asked: the sync user's run
    assert scheduled.status.value == "started"
    runs = _finished(api, 4)
    assert runs[0]["user"] == "svc"


def test_sync_all_respects_the_per_link_switch(api: Served, link: MemoryLink) -> None:
    admin = api.client(Role.ADMIN)
    assert admin.get("/api/links/lr").json()["controls"]["sync_all"] is False  # off at first
    answer = admin.post("/api/sync-all").json()
    assert answer == {"started": [], "skipped": {"lr": "Sync All is off for it"}}
    assert admin.put("/api/links/lr/sync-all", json={"enabled": True}).json()[
        "sync_all"] is True
    link.a.put("contact", "c1", {"name": "Ada"})
    answer = admin.post("/api/sync-all").json()
    assert [item["link"] for item in answer["started"]] == ["lr"]
    assert _finished(api, 1)[0]["user"] == "admin"
    admin.put("/api/links/lr/sync-all", json={"enabled": False})
    admin.post("/api/links/lr/pause", json={})
    admin.put("/api/links/lr/sync-all", json={"enabled": True})
    assert admin.post("/api/sync-all").json() == {"started": [], "skipped": {"lr": "paused"}}
    assert httpx.post(f"{api.url}/api/sync-all").status_code == 401


def test_scheduled_runs_are_the_sync_users(tmp_path: Path) -> None:
    link = memory_link(tmp_path, streams=["contact"],
                       link_extra='schedule = "every 1s"\nsync_user = "svc"')
    link.a.put("contact", "c1", {"name": "Ada"})
    with serve_api(link.config()) as api:
        run = wait_for(lambda: next((row for row in api.store.runs("lr")
                                     if row["outcome"] == "ok"), None), "a scheduled run")
        assert run["trigger"] == "schedule" and run["user"] == "svc"
        status = api.client(Role.VIEWER).get("/api/links/lr").json()
        assert status["sync_user"] == "svc" and status["schedule"] == "every 1s"
        assert status["next_run"] is not None


def test_forced_resync_of_the_callers_own_records(api: Served, link: MemoryLink) -> None:
    link.a.put("contact", "c1", {"name": "Ada", "owner": "Admin "})
    link.a.put("contact", "c2", {"name": "Bob", "owner": "operator"})
    link.a.put("contact", "c3", {"name": "Cy"})
    _sync(api)
    admin = api.client(Role.ADMIN)
    both = admin.post("/api/links/lr/force", json={"mine": True, "owner": "x"})
    assert both.status_code == 422
    answer = admin.post("/api/links/lr/force", json={"mine": True})
    assert answer.status_code == 200 and answer.json()["marked"] == 1
    status = api.client(Role.VIEWER).get("/api/links/lr").json()
    assert status["marked"] == 1  # waits for the next run
    run = _sync(api)
    assert run["mode"] == "forced"
    forced = api.client(Role.VIEWER).get("/api/links/lr/journal",
                                         params={"action": "R"}).json()
    assert [row["a_key"] for row in forced] == ["c1"]
