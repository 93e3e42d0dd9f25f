"""A notification names everyone who asked for the run: requests that coalesced (while the
link was busy, in the service) run once, and the notice of that run (a signed webhook to a
real receiver) carries the same request, with all of its requesters in the order they
asked, whether the service's listener or the one way in (:func:`run_link`) notifies it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from service.support import MemoryLink, memory_link
from syncline.errors import EndpointUnavailable
from syncline.notify import Notifier
from syncline.service import (
    RunLock,
    RunRequest,
    SyncService,
    Trigger,
    TriggerStatus,
    coalesce,
    run_link,
)
from syncline.state.store import StateStore

from .support import webhook_receiver

HOOK_SECRET = "coalesced-hook-secret-0d5e"
WAIT = 60.0  # generous bound on a step; never a timing assertion


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _failing_link(folder: Path, url: str) -> MemoryLink:
    """A memory link whose side a cannot be reached (its runs fail), notified by webhook."""
    link = memory_link(folder, link_extra='schedule = "manual"', extra=f"""
[links.lr.notify]
on = ["failed", "error"]
webhook = "{url}"
webhook_secret = "env:TEST_COALESCED_HOOK_SECRET"
""")
    link.a.unavailable = True
    return link


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_COALESCED_HOOK_SECRET", HOOK_SECRET)


def test_a_coalesced_run_is_notified_with_all_its_requesters(tmp_path: Path) -> None:
    with webhook_receiver(HOOK_SECRET) as (url, hooks):
        config = _failing_link(tmp_path, url).config()
        store = StateStore.open(config.resolve_url(config.state.url))
        notifier = Notifier(config, store)
        service = SyncService(config, store, max_workers=1, busy_retry=0.05)
        service.add_listener(notifier)
        held = RunLock(store, "lr", holder="syncline sync by someone on elsewhere")
        held.acquire()
        try:
            service.start()
            service.trigger("lr", requested_by="alice")  # finds the link busy: waits
            service.trigger("lr", requested_by="bob", trigger=Trigger.API)
            third = service.trigger("lr", requested_by="carol")
            assert third.status is TriggerStatus.COALESCED

            def one_waiting() -> bool:
                status = service.status("lr")[0]
                return status["running"] is None and status["queued"] is not None \
                    and status["queued"]["merged"] == 3
            _until(one_waiting, "the three requests to wait as one")
            assert service.status("lr")[0]["queued"]["requested_by"] == [
                "alice", "bob", "carol"]
            assert notifier.runs_seen == 0  # a busy link is no run: nothing told
            held.release()

            def ended() -> bool:
                service.tick()  # starts the waiting request once its retry time came
                return notifier.runs_seen == 1
            _until(ended, "the run to end")
            notifier.flush(WAIT)
            assert len(service.completed("lr")) == 1  # one run for the three
            run = store.runs("lr")[0]
        finally:
            held.release()
            service.shutdown()
            notifier.close()
            store.close()
    assert len(hooks.verified) == 1
    notice = json.loads(hooks.verified[0]["body"])
    assert (notice["event"], notice["run_id"], notice["trigger"]) == (
        "run.failed", run["id"], "api")
    assert notice["requested_by"] == ["alice", "bob", "carol"]
    assert run["user"] == "alice, bob, carol"


def test_the_one_way_in_notifies_the_request_it_ran(tmp_path: Path) -> None:
    """:func:`run_link` (what the CLI calls) notifies with the request it was given: a
    coalesced request's notice lists each requester, not one joined name."""
    with webhook_receiver(HOOK_SECRET) as (url, hooks):
        config = _failing_link(tmp_path, url).config()
        store = StateStore.open(config.resolve_url(config.state.url))
        request = coalesce(RunRequest("lr", requested_by=("alice",)),
                           RunRequest("lr", trigger=Trigger.API, requested_by=("bob",)))
        try:
            with pytest.raises(EndpointUnavailable):
                run_link(config, store, request, holder="test")
            run = store.runs("lr")[0]
        finally:
            store.close()
    assert len(hooks.verified) == 1  # delivered before run_link raised
    notice = json.loads(hooks.verified[0]["body"])
    assert (notice["event"], notice["run_id"], notice["trigger"]) == (
        "run.failed", run["id"], "api")
    assert notice["requested_by"] == ["alice", "bob"]
    assert run["user"] == "alice, bob"
