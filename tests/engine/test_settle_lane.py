"""The applier's write and settle threads (:mod:`syncline.engine.settle_lane`): create jobs
settle in order, and a failing job leaves nothing half-recorded behind it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syncline.connectors.base import CreatedRows, CreateRows
from syncline.connectors.memory import MemoryConnector, shared_store
from syncline.engine.bulk_creates import CreateJob, expand_columns
from syncline.engine.settle_lane import SettleLane
from syncline.errors import EndpointUnavailable
from syncline.model import Side
from syncline.state import StateStore
from syncline.state import schema as t


class FailingMemory(MemoryConnector):
    """A memory endpoint whose connection drops while one chosen batch is written."""

    failing_batch = "fail"

    def write_creates(self, batch: CreateRows) -> CreatedRows:
        if batch.batch_id == self.failing_batch:
            raise EndpointUnavailable(self.endpoint, "connection reset while writing")
        return super().write_creates(batch)


def _job(batch_id: str, scope_id: int, first: int, count: int = 50) -> CreateJob:
    keys = [f"a{number}" for number in range(first, first + count)]
    return CreateJob(
        batch_id=batch_id, stream="contact", run_id=1, scope_id=scope_id, source=Side.A,
        message="new on a", keys=keys,
        hashes=[hashlib.blake2b(key.encode(), digest_size=12).digest() for key in keys],
        versions=[None] * count, codes=["A"] * count, names=("email", "name"),
        columns=[[f"{key}@example.com" for key in keys], [f"Contact {key}" for key in keys]],
        tokens=None)


def _setup(tmp_path: Path, name: str,
           connector_class: type[MemoryConnector] = MemoryConnector) \
        -> tuple[StateStore, int, MemoryConnector]:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    scope_id = store.scope_id("a-b", "contact")
    connector = connector_class("b", {"name": name, "streams": {"contact": {}}}, tmp_path)
    connector.open()
    return store, scope_id, connector


def _count(store: StateStore, table: object) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_create_jobs_settle_in_submission_order(tmp_path: Path, depth: int) -> None:
    store, scope_id, connector = _setup(tmp_path, f"lane-order-{depth}")
    lane = SettleLane(depth=depth)
    outcomes = []
    for number in range(6):
        outcomes += lane.submit_create(_job(f"b{number}", scope_id, number * 50), store,
                                       connector)
        assert len(outcomes) >= number + 1 - depth  # never more than `depth` in flight
    outcomes += lane.close()
    assert [outcome.tally for outcome in outcomes] == [{"A": 50}] * 6
    assert _count(store, t.mappings) == 300 and _count(store, t.journal) == 300
    assert store.pending_intents(scope_id) == []
    assert len(shared_store(f"lane-order-{depth}").stream("contact")) == 300
    with store.engine.connect() as connection:
        a_keys = connection.execute(select(t.mappings.c.a_key).order_by(t.mappings.c.id)).all()
    assert [row.a_key for row in a_keys] == [f"a{number}" for number in range(300)]


def test_plain_settle_work_waits_for_the_jobs_in_flight(tmp_path: Path) -> None:
    store, scope_id, connector = _setup(tmp_path, "lane-plain")
    lane = SettleLane(depth=2)
    lane.submit_create(_job("b0", scope_id, 0), store, connector)
    lane.submit_create(_job("b1", scope_id, 50), store, connector)
    seen: list[int] = []
    outcomes = lane.submit(lambda: seen.append(_count(store, t.mappings)))
    lane.close()
    assert len(outcomes) == 2 and seen == [100]


def test_a_failing_job_abandons_the_jobs_behind_it_without_losing_any(
        tmp_path: Path) -> None:
    store, scope_id, connector = _setup(tmp_path, "lane-fail", FailingMemory)
    lane = SettleLane(depth=2)
    lane.submit_create(_job("ok", scope_id, 0), store, connector)
    lane.submit_create(_job("fail", scope_id, 50), store, connector)
    collected = lane.submit_create(_job("behind", scope_id, 100), store, connector)
    with pytest.raises(EndpointUnavailable, match="connection reset"):
        lane.drain()
    late = lane.close()
    assert [outcome.tally for outcome in collected] == [{"A": 50}]  # "ok"
    intents = {intent.batch_id: intent for intent in store.pending_intents(scope_id)}
    assert "fail" in intents and "ok" not in intents  # the failed batch waits for recovery
    with store.engine.connect() as connection:
        mapped = {row.b_key for row in connection.execute(select(t.mappings.c.b_key))}
    written_behind = [key for key in shared_store("lane-fail").stream("contact")
                      if key not in mapped]
    # "behind" was cancelled before its intent, or after its intent and before its write,
    # or written and left to recovery, or written and settled: then its outcome comes from
    # close(), so the run counts it
    if "behind" in intents:
        hashes, versions, codes = expand_columns(intents["behind"].payload["creates"])
        assert len(hashes) == 50 and codes == ["A"] * 50 and versions == [None] * 50
        assert len(written_behind) in (0, 50) and late == [] and len(mapped) == 50
    elif late:
        assert [outcome.tally for outcome in late] == [{"A": 50}]
        assert written_behind == [] and len(mapped) == 100
    else:
        assert written_behind == [] and len(mapped) == 50
    assert _count(store, t.journal) == len(mapped)


@pytest.mark.parametrize("mixed", [False, True])
def test_intents_keep_their_columns_small_and_whole(mixed: bool) -> None:
    job = _job("b0", 1, 0, count=5)
    if mixed:
        job.codes[2], job.versions[3], job.hashes[4] = "R", "v7", b"\x01\x02"
    creates = job.intent().payload["creates"]
    if not mixed:
        assert creates["codes"] == "A" and creates["versions"] is None
        assert isinstance(creates["hashes"], str) and creates["hash_width"] == 12
    hashes, versions, codes = expand_columns(creates)
    assert hashes == [digest.hex() for digest in job.hashes]
    assert versions == job.versions and codes == job.codes
