"""The PostgreSQL state store at bulk speed (:mod:`syncline.state.pg_bulk`), end to end.

- A sync of a few hundred records (creates both ways, first pairings, updates, deletes on
  both sides, write errors kept pending and later cleared, and a pairing the mappings table
  refuses) writes exactly the state rows the row-at-a-time path wrote: the row path is
  the store with COPY and arrays replaced by ``executemany`` (what it sent before).
- The bulk run sends no multi-row ``executemany`` to the state store (no per-row round
  trips on the hot path).
- An incremental run's look-ups of mappings, and a full run's look-ups of digests by the
  keys it listed, with 20,000 mappings in the store (after ANALYZE), are served by
  indexes: each is EXPLAINed on PostgreSQL, and a ``Seq Scan on mappings`` fails the test.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import and_, bindparam, create_engine, delete, event, insert, select
from sqlalchemy.engine import Connection

from syncline.connectors.base import ReadScope, WriteBatch, WriteKind, WriteResult
from syncline.engine import RunMode, RunRequest, RunSummary
from syncline.model import Direction
from syncline.state import schema
from syncline.state import store as store_module
from syncline.state.bulk import CreatedMappings

from .syncharness import Harness, HarnessConnector, make_harness

T0 = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
PAIRED_B_KEY = "books-1"
"""A b key the first sync pairs: the duplicating connector answers a create with it."""


class DuplicatingConnector(HarnessConnector):
    """Answers the create of a record named ``Dup …`` with a key paired already (as a
    faulty endpoint might): the mappings table refuses that pairing."""

    def write(self, batch: WriteBatch) -> list[WriteResult]:
        results = super().write(batch)
        names = {operation.token: (operation.fields or {}).get("name", "")
                 for operation in batch.operations if operation.kind is WriteKind.CREATE}
        return [dataclasses.replace(result, key=PAIRED_B_KEY)
                if str(names.get(result.token, "")).startswith("Dup") and result.ok
                else result for result in results]


def _contact(name: str, email: str) -> dict[str, Any]:
    return {"name": name, "email": email, "phone": None}


def _sync(h: Harness, mode: RunMode = RunMode.INCREMENTAL) -> RunSummary:
    request = RunRequest(h.link, mode=mode, streams=frozenset(),
                         scope=ReadScope(), dry_run=False, allow_mass_delete=False)
    summary = h.engine(connector=DuplicatingConnector).run(request)
    h.runs.append(summary)
    return summary


def _scenario(h: Harness) -> list[dict[str, int]]:
    """Three runs over a few hundred records (see the module docstring); their counts."""
    for number in range(300):
        h.a.put("contact", f"p{number}", _contact(f"Person {number}", f"p{number}@x.org"),
                when=T0)
    for number in range(40):  # ten of them pair with a record of a by email
        email = f"p{number}@x.org" if number < 10 else f"c{number}@y.org"
        h.b.put("contact", f"c{number}", _contact(f"Ünïcode {number} ✓", email), when=T0)
    counts = [_sync(h).streams["contact"].to_json()]
    pairs = h.pairs()
    for number in range(20, 70):
        h.a.put("contact", f"p{number}", _contact(f"Changed {number}", f"p{number}@x.org"),
                when=T0)
    for number in range(10, 20):
        h.b.put("contact", f"c{number}", _contact(f"Changed c{number}", f"c{number}@y.org"),
                when=T0)
    for number in range(250, 260):
        h.a.remove("contact", f"p{number}")
    for number in range(30, 35):
        h.b.remove("contact", f"c{number}")
    h.b.fail_keys.update(pairs[f"p{number}"] for number in range(20, 25))
    counts.append(_sync(h).streams["contact"].to_json())
    h.b.fail_keys.clear()
    h.a.put("contact", "dup", _contact("Dup of a paired key", "dup@x.org"), when=T0)
    counts.append(_sync(h).streams["contact"].to_json())
    return counts


def _state(h: Harness) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the tables a settle writes (ids and times left out: they differ)."""
    m, j = schema.mappings, schema.journal
    queries = {
        "mappings": select(m.c.scope_id, m.c.a_key, m.c.b_key, m.c.a_hash, m.c.b_hash,
                           m.c.a_version, m.c.b_version, m.c.snapshot, m.c.run_id)
        .order_by(m.c.a_key),
        "journal": select(*[column for column in j.c if column.name != "id"])
        .order_by(j.c.id),
        "pending": select(schema.pending).order_by(schema.pending.c.side,
                                                   schema.pending.c.key),
        "pending_causes": select(schema.pending_causes).order_by(
            schema.pending_causes.c.side, schema.pending_causes.c.key,
            schema.pending_causes.c.position),
        "intents": select(schema.intents.c.batch_id, schema.intents.c.target),
    }
    with h.store.engine.connect() as connection:
        return {name: [tuple(row) for row in connection.execute(query)]
                for name, query in queries.items()}


def _row_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the store's COPY and array statements by ``executemany``, one row each."""
    rows_of = store_module._execute_rows

    def copy_rows(connection: Connection, table: str, columns: Sequence[str],
                  rows: Sequence[tuple[Any, ...]]) -> None:
        rows_of(connection, insert(schema.metadata.tables[table]), columns, list(rows))

    def update_by_id(connection: Connection, table: str, columns: Sequence[str],
                     rows: Sequence[tuple[Any, ...]]) -> None:
        rows_of(connection, store_module._MAPPING_UPDATE, store_module._MAPPING_UPDATE_NAMES,
                rows)

    def delete_ids(connection: Connection, table: str, ids: Sequence[int]) -> None:
        target = schema.metadata.tables[table]
        rows_of(connection, delete(target).where(target.c.id == bindparam("k_id")),
                ("k_id",), [(value,) for value in ids])

    def delete_keys(connection: Connection, table: str, columns: Sequence[str],
                    types: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        target = schema.metadata.tables[table]
        rows_of(connection, delete(target).where(and_(*(
            target.c[column] == bindparam(f"k_{column}") for column in columns))),
            [f"k_{column}" for column in columns], rows)

    for name, replacement in (("copy_rows", copy_rows), ("update_by_id", update_by_id),
                              ("delete_ids", delete_ids), ("delete_keys", delete_keys)):
        monkeypatch.setattr(store_module, name, replacement)


ManyLog = list[tuple[str, int]]


def _log_executemany(h: Harness) -> ManyLog:
    """(statement, parameter sets) of every ``executemany`` the store sends from now on."""
    sent: ManyLog = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if executemany:
            sent.append((statement, len(parameters)))

    event.listen(h.store.engine, "before_cursor_execute", record)
    return sent


@pytest.fixture
def harness_on(tmp_path: Path) -> Iterator[Callable[[str], Harness]]:
    made: list[Harness] = []

    def make(url: str) -> Harness:
        made.append(make_harness(tmp_path, state_url=url, batch_size=50))
        return made[-1]

    yield make
    for harness in made:
        harness.store.close()


@pytest.mark.postgres
def test_bulk_settles_write_what_the_row_path_wrote(
        harness_on: Callable[[str], Harness], postgres_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bulk = harness_on(postgres_url)
    bulk_sent = _log_executemany(bulk)
    bulk_counts = _scenario(bulk)
    bulk_state = _state(bulk)
    bulk.store.close()
    _wipe(postgres_url)

    with monkeypatch.context() as patched:
        _row_path(patched)
        rows = harness_on(postgres_url)
        rows_sent = _log_executemany(rows)
        row_counts = _scenario(rows)
        row_state = _state(rows)

    assert bulk_counts == row_counts
    first, second, third = bulk_counts
    assert first["A"] == 320 and first["M"] == 10
    assert second["M"] == 55 and second["D"] == 15 and second["errors"] == 5
    assert third["A"] == 1 and third["M"] == 5
    for table, expected in row_state.items():
        assert bulk_state[table] == expected, table
    journal = bulk_state["journal"]
    refused = [row for row in journal if row[6] == "error" and "was not recorded" in str(row[7])]
    assert [(row[2], row[3]) for row in refused] == [("dup", PAIRED_B_KEY)]
    assert len(bulk_state["pending"]) == 0 and any(row[6] == "error" for row in journal)
    assert bulk_state["intents"] == []
    assert len(bulk_state["mappings"]) > 300
    # the row path sends rows one round trip each; the bulk path only the refused
    # pairing's retry, one row in a savepoint at a time
    assert max(count for _, count in rows_sent) > 50
    assert not any(statement.startswith("COPY") for statement, _ in rows_sent)
    assert {statement.split(" (")[0] for statement, _ in bulk_sent
            if statement.startswith("COPY")} >= {"COPY mappings", "COPY journal", "COPY pending"}
    assert all(count == 1 for statement, count in bulk_sent
               if not statement.startswith("COPY")), [
        (statement[:60], count) for statement, count in bulk_sent if count > 1]


def _wipe(url: str) -> None:
    """Drop every table of the database at ``url`` (the next store opened there starts
    empty, its ids from 1)."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


def _seed_mappings(h: Harness, count: int) -> None:
    """``count`` mappings of records no endpoint holds (old pairings), in the contact scope."""
    created = CreatedMappings(Direction.A_TO_B, "seeded")
    for number in range(count):
        created.a_keys.append(f"old-a-{number:06d}")
        created.b_keys.append(f"old-b-{number:06d}")
        created.hashes.append(hashlib.blake2b(str(number).encode(), digest_size=16).digest())
        created.a_versions.append("1")
        created.b_versions.append("1")
        created.codes.append("A")
    h.store.settle(scope_id=h.scope_id(), run_id=1, created=[created])
    with h.store.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")


class Lookup(NamedTuple):
    """A SELECT of mappings a run sent, and its plan as EXPLAINed when it was sent."""

    statement: str
    plan: str


def _mapping_lookups(h: Harness, mode: RunMode,
                     url: str) -> tuple[RunSummary, list[Lookup]]:
    """Run a sync in ``mode``; its summary and the SELECTs of mappings it sent, each
    EXPLAINed (on a connection of its own to ``url``) when it was sent: a full run's
    deletions change the table afterwards."""
    looked_up: list[Lookup] = []
    explainer = create_engine(url)

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM mappings" in statement:
            with explainer.connect() as connection:
                plan = "\n".join(row[0] for row in connection.exec_driver_sql(
                    f"EXPLAIN {statement}", parameters))
            looked_up.append(Lookup(statement, plan))

    event.listen(h.store.engine, "before_cursor_execute", record)
    try:
        summary = _sync(h, mode)
    finally:
        event.remove(h.store.engine, "before_cursor_execute", record)
        explainer.dispose()
    return summary, looked_up


def _by_key(looked_up: list[Lookup], column: str) -> list[Lookup]:
    """The look-ups of mappings by a list of keys on ``column`` (``IN`` or ``= ANY``)."""
    return [lookup for lookup in looked_up if f"mappings.{column} IN" in lookup.statement
            or f"mappings.{column} = ANY" in lookup.statement]


def _assert_indexed(looked_up: list[Lookup]) -> None:
    """None of the plans scans ``mappings`` sequentially, and both key indexes serve
    some."""
    for lookup in looked_up:
        assert "Seq Scan on mappings" not in lookup.plan, f"{lookup.statement}\n{lookup.plan}"
    assert any("ix_mappings_a" in lookup.plan for lookup in looked_up), looked_up
    assert any("ix_mappings_b" in lookup.plan for lookup in looked_up), looked_up


def _changed_both_sides(h: Harness, seeded: int = 20_000) -> None:
    """60 synced records, ``seeded`` more mappings (analysed), then 10 records changed on
    a, 5 on b and one new on a."""
    for number in range(60):
        h.a.put("contact", f"p{number}", _contact(f"Person {number}", f"p{number}@x.org"),
                when=T0)
    _sync(h)
    _seed_mappings(h, seeded)
    pairs = h.pairs()
    for number in range(10):
        h.a.put("contact", f"p{number}", _contact(f"Changed {number}", f"p{number}@x.org"),
                when=T0)
    for number in range(10, 15):
        h.b.put("contact", pairs[f"p{number}"],
                _contact(f"Changed on b {number}", f"p{number}@x.org"), when=T0)
    h.a.put("contact", "new", _contact("New", "new@x.org"), when=T0)


@pytest.mark.postgres
def test_an_incremental_run_looks_mappings_up_by_index(
        harness_on: Callable[[str], Harness], postgres_url: str) -> None:
    h = harness_on(postgres_url)
    _changed_both_sides(h)
    summary, looked_up = _mapping_lookups(h, RunMode.INCREMENTAL, postgres_url)
    counts = summary.streams["contact"].to_json()
    assert counts["M"] == 15 and counts["A"] == 1 and counts["D"] == 0
    assert _by_key(looked_up, "a_key") and _by_key(looked_up, "b_key"), looked_up
    _assert_indexed(looked_up)


@pytest.mark.postgres
def test_a_full_run_looks_mappings_up_by_index(
        harness_on: Callable[[str], Harness], postgres_url: str) -> None:
    """A full run (Force Sync) compares each listed record with its mapping's digest,
    looked up by the listed keys: by index, never by a sequential scan of mappings. (The
    20,000 seeded mappings of records no side lists are deletions: their look-up at the
    end reads most of the table, where a scan is the right plan.)"""
    h = harness_on(postgres_url)
    _changed_both_sides(h)
    summary, looked_up = _mapping_lookups(h, RunMode.FULL, postgres_url)
    counts = summary.streams["contact"].to_json()
    assert counts["M"] == 15 and counts["A"] == 1, counts
    digests = [lookup for lookup in looked_up
               if "snapshot" not in lookup.statement.split("FROM")[0]]
    by_a, by_b = _by_key(digests, "a_key"), _by_key(digests, "b_key")
    assert by_a and by_b, looked_up
    _assert_indexed(by_a + by_b)
