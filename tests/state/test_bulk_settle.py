"""Settling bulk creates (:mod:`syncline.state.bulk`): the same mapping and journal rows as
one row at a time, on SQLite (JSON statements) and PostgreSQL (COPY)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from syncline.model import Direction
from syncline.state import StateStore
from syncline.state import schema as t
from syncline.state.bulk import CreatedMappings


def _created(count: int, codes: list[str] | None = None,
             snapshots: bool = False) -> CreatedMappings:
    created = CreatedMappings(Direction.A_TO_B, "new on a", snapshots=[] if snapshots else None)
    for number in range(count):
        created.a_keys.append(f"a{number}")
        created.b_keys.append(str(1000 + number))
        created.hashes.append(hashlib.blake2b(str(number).encode(), digest_size=12).digest())
        created.a_versions.append(None if number % 2 else f"v{number}")
        created.b_versions.append(None)
        created.codes.append(codes[number] if codes else "A")
        if created.snapshots is not None:
            created.snapshots.append('{"name": "x"}' if number % 3 else None)
    return created


def _check(store: StateStore, created: CreatedMappings, scope_id: int) -> None:
    with store.engine.connect() as conn:
        mappings = conn.execute(select(
            t.mappings.c.a_key, t.mappings.c.b_key, t.mappings.c.a_hash, t.mappings.c.b_hash,
            t.mappings.c.a_version, t.mappings.c.b_version, t.mappings.c.snapshot,
            t.mappings.c.run_id).where(t.mappings.c.scope_id == scope_id)
            .order_by(t.mappings.c.id)).all()
        journal = conn.execute(select(
            t.journal.c.run_id, t.journal.c.a_key, t.journal.c.b_key, t.journal.c.action,
            t.journal.c.direction, t.journal.c.outcome, t.journal.c.message)
            .where(t.journal.c.scope_id == scope_id).order_by(t.journal.c.id)).all()
    snapshots = created.snapshots or [None] * len(created)
    assert [tuple(row) for row in mappings] == [
        (a, b, h, h, va, vb, s, 7) for a, b, h, va, vb, s in zip(
            created.a_keys, created.b_keys, created.hashes, created.a_versions,
            created.b_versions, snapshots, strict=True)]
    assert [tuple(row) for row in journal] == [
        (9, a, b, code, "a>b", "ok", "new on a")
        for a, b, code in zip(created.a_keys, created.b_keys, created.codes, strict=True)]


@pytest.mark.parametrize("count", [5, 300])
@pytest.mark.parametrize("mixed_codes", [False, True])
def test_sqlite_bulk_settle(tmp_path: Path, count: int, mixed_codes: bool) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    scope_id = store.scope_id("crm-books", "contact")
    other = store.scope_id("crm-books", "organisation")
    store.settle(scope_id=other, run_id=7, created=[_created(3)], journal_run_id=9)
    codes = ["R" if n % 7 == 0 else "A" for n in range(count)] if mixed_codes else None
    created = _created(count, codes, snapshots=mixed_codes)
    store.settle(scope_id=scope_id, run_id=7, created=[created], journal_run_id=9)
    _check(store, created, scope_id)


@pytest.mark.postgres
def test_postgres_bulk_settle(postgres_url: str) -> None:
    store = StateStore.open(postgres_url)
    scope_id = store.scope_id("bulk-settle", "contact")
    created = _created(150, snapshots=True)
    store.settle(scope_id=scope_id, run_id=7, created=[created], journal_run_id=9)
    _check(store, created, scope_id)


def test_the_journal_copy_reads_only_the_new_mappings(tmp_path: Path) -> None:
    """The copy must walk the id range of the batch, not the scope's index: otherwise every
    batch of a first sync reads all mappings made before it (quadratic time)."""
    from syncline.state.bulk import _JOURNAL_COPY

    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    scope_id = store.scope_id("crm-books", "contact")
    store.settle(scope_id=scope_id, run_id=7, created=[_created(300)], journal_run_id=9)
    with store.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {_JOURNAL_COPY}", (9, "A", "a>b", "m", 1, 300, scope_id)))
    assert "INTEGER PRIMARY KEY" in plan and "TEMP B-TREE" not in plan
    assert "INDEX" not in plan.replace("PRIMARY KEY", "")
