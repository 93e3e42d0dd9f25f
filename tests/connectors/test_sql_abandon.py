"""Abandoned batches in the ``sql`` connector's batch log: a batch of a run that lost its
lease, found not applied by the run that took the link over, is logged as abandoned, so
that the stale run's late write of it collides (its transaction rolls back) instead of
doubling. On SQLite files and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.sql_support import build_schema, open_connector
from syncline.connectors.base import WriteBatch, WriteKind, WriteOperation
from syncline.connectors.sql import SqlConnector
from syncline.connectors.sql.batch_log import BatchAbandoned, log_batch
from syncline.errors import RunError


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/crm.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def connector(url: str, tmp_path: Path) -> Iterator[SqlConnector]:
    build_schema(url)
    opened = open_connector(url, tmp_path)
    yield opened
    opened.close()


def _people(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM people")).scalar_one())
    finally:
        engine.dispose()


def _creates(batch_id: str, count: int) -> WriteBatch:
    return WriteBatch(batch_id, "contact", [
        WriteOperation(f"{batch_id}-{n}", WriteKind.CREATE, None,
                       {"name": f"Person {n}", "email": f"{batch_id}.{n}@example.com"})
        for n in range(count)])


def test_an_abandoned_batch_is_refused_when_written_late(connector: SqlConnector,
                                                         url: str) -> None:
    late = _creates("stale-run-batch-7", 3)
    assert connector.abandon(late) is None  # not applied: now logged as abandoned
    assert connector.recover(late) is None
    with pytest.raises(RunError, match="batch stale-run-batch-7 was abandoned by the run "
                                       "that took the link over"):
        connector.write(late)
    assert _people(url) == 0
    assert connector.abandon(late) is None  # asking again changes nothing


def test_a_late_batch_log_insert_collides_and_rolls_the_write_back(url: str,
                                                                   tmp_path: Path) -> None:
    build_schema(url)
    connector = open_connector(url, tmp_path)
    engine = sa.create_engine(url)
    try:
        batch = _creates("stale-run-batch-9", 1)
        sqlite = url.startswith("sqlite")
        if sqlite:  # one writer at a time: the taker abandons before the late write
            assert connector.abandon(batch) is None
        with pytest.raises(BatchAbandoned), engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO people (full_name) VALUES ('late')"))
            if not sqlite:  # the stale writer is mid-transaction when the taker abandons
                assert connector.abandon(batch) is None
            log_batch(conn, batch.batch_id, '{"keys":["1"]}')
        assert _people(url) == 0
    finally:
        engine.dispose()
        connector.close()


def test_an_applied_batch_is_recovered_not_abandoned(connector: SqlConnector,
                                                     url: str) -> None:
    batch = _creates("applied-batch", 2)
    written = connector.write(batch)
    recovered = connector.abandon(batch)
    assert recovered is not None
    assert [r.key for r in recovered] == [r.key for r in written]
    assert _people(url) == 2
