"""The one run-request shape: what a request is recorded as done by, how two requests
coalesce, and what the service refuses to queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncline.errors import UsageError
from syncline.service import (
    ReadScope,
    RunMode,
    RunRequest,
    SyncService,
    Trigger,
    TriggerStatus,
    coalesce,
)
from syncline.state.store import StateStore

from .support import memory_link

T0 = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(f"sqlite:///{tmp_path}/state.db")
    yield opened
    opened.close()


def test_the_user_a_run_is_recorded_as() -> None:
    assert RunRequest("lr").user is None
    assert RunRequest("lr", requested_by=("alice", "bob")).user == "alice, bob"
    assert RunRequest("lr", requested_by=("alice", "schedule"), run_as="sync").user == \
        "alice as sync"
    assert RunRequest("lr", requested_by=("schedule",), run_as="sync").user == "sync"


def test_coalescing_keeps_every_requester_and_the_stronger_wishes() -> None:
    first = RunRequest("lr", streams=frozenset({"contact"}), scope=ReadScope(from_key="k"),
                       requested_by=("alice",), requested_at=T0)
    second = RunRequest("lr", RunMode.FULL, frozenset({"invoice"}), ReadScope(from_key="k"),
                        Trigger.API, ("bob", "alice"), allow_mass_delete=True)
    merged = coalesce(first, second)
    assert merged == RunRequest("lr", RunMode.FULL, frozenset({"contact", "invoice"}),
                                ReadScope(from_key="k"), Trigger.API, ("alice", "bob"),
                                allow_mass_delete=True, requested_at=T0, merged_count=2)
    assert coalesce(merged, RunRequest("lr")).streams == frozenset()  # the whole link
    with pytest.raises(ValueError, match="requests of links 'lr' and 'other' do not"):
        coalesce(first, RunRequest("other"))


def test_the_service_queues_no_dry_run_and_no_unknown_stream(tmp_path: Path,
                                                             store: StateStore) -> None:
    config = memory_link(tmp_path, link_extra='schedule = "manual"').config()
    service = SyncService(config, store, runner=lambda request: pytest.fail("ran"))
    try:
        with pytest.raises(UsageError, match="the service does not queue dry runs"):
            service.submit(RunRequest("lr", dry_run=True))
        with pytest.raises(UsageError, match="link 'lr' does not sync invoice; its streams"):
            service.submit(RunRequest("lr", streams=frozenset({"invoice"})))
        queued = service.submit(RunRequest("lr", requested_by=("alice",)))
        assert queued.status is TriggerStatus.STARTED  # would start once the service does
        assert queued.request.requested_at is not None  # stamped when it was made
    finally:
        service.shutdown()


def test_the_service_package_names_the_words_of_a_run() -> None:
    """Every public name of :mod:`syncline.service` resolves (the faces import the run's
    words from there), and the request is the engine's own type, not a copy."""
    import syncline.service as service
    from syncline.connectors.base import ReadScope as EngineScope
    from syncline.engine.options import RunRequest as EngineRequest

    for name in service.__all__:
        assert getattr(service, name) is not None, name
    assert service.RunRequest is EngineRequest and service.ReadScope is EngineScope
