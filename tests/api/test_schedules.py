"""Changing a link's schedule through the API (admin): checked, applied to the running
scheduler at once, saved to the configuration file so that it outlives a restart."""

from __future__ import annotations

import tomllib
from datetime import datetime

from service.support import MemoryLink
from syncline.config import load_config
from syncline.state.users_store import Role

from .support import Served


def test_a_new_schedule_runs_at_once_and_is_saved(api: Served, link: MemoryLink) -> None:
    admin = api.client(Role.ADMIN)
    before = api.client(Role.VIEWER).get("/api/links/lr/schedule").json()
    assert before["schedule"] == "manual"
    assert [job["next_due"] for job in before["jobs"]] == [None]  # manual: never by itself
    answer = admin.put("/api/links/lr/schedule", json={
        "schedule": "every 15m", "on_startup": True, "overrides": {"contact": "daily"}})
    assert answer.status_code == 200, answer.text
    changed = answer.json()
    assert changed["saved"] is True and changed["not_saved_because"] is None
    assert changed["schedule"] == "every 15m" and changed["overrides"] == {"contact": "daily"}
    # the link's only stream has its own schedule: one job, due within a day
    assert [job["streams"] for job in changed["jobs"]] == [["contact"]]
    due = datetime.fromisoformat(changed["jobs"][0]["next_due"])
    assert due > datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    saved = tomllib.loads(link.path.read_text(encoding="utf-8"))["links"]["lr"]
    assert saved["schedule"] == "every 15m" and saved["on_startup"] is True
    assert saved["schedules"] == {"contact": "daily"}
    reloaded = load_config(link.path).link("lr")  # what the next start of the service reads
    assert (reloaded.schedule, reloaded.on_startup, dict(reloaded.schedules)) == \
        ("every 15m", True, {"contact": "daily"})
    assert api.client(Role.VIEWER).get("/api/links/lr/schedule").json()["jobs"] == \
        changed["jobs"]


def test_a_schedule_that_is_not_one_changes_nothing(api: Served, link: MemoryLink) -> None:
    text = link.path.read_text(encoding="utf-8")
    answer = api.client(Role.ADMIN).put("/api/links/lr/schedule",
                                        json={"schedule": "every fortnight"})
    assert answer.status_code == 422 and "every fortnight" in answer.json()["detail"]
    wrong_stream = api.client(Role.ADMIN).put(
        "/api/links/lr/schedule", json={"schedule": "daily", "overrides": {"invoice": "daily"}})
    assert wrong_stream.status_code == 422 and "invoice" in wrong_stream.json()["detail"]
    assert link.path.read_text(encoding="utf-8") == text
    assert api.client(Role.VIEWER).get("/api/links/lr/schedule").json()["schedule"] == "manual"
