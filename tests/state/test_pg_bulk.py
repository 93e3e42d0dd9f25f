"""The PostgreSQL state store's bulk writes (:mod:`syncline.state.pg_bulk`), settle by
settle: NULLs, unicode and COPY's special characters come back as they were written; a
pairing refused inside a COPY falls back to one row at a time; a fenced settle by a stale
lease writes nothing; the secrets a store scrubs are scrubbed from COPYed rows too."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from syncline.errors import ErrorCause, LeaseLost, ValidationFailed
from syncline.journal import JournalRow, journal_row, pending_item
from syncline.model import ActionCode, Direction, Outcome
from syncline.plan_types import MappingRow
from syncline.redaction import redact_store
from syncline.state import schema as t
from syncline.state.bulk import CreatedMappings
from syncline.state.store import StateStore

from .test_fencing import _TakenOver

pytestmark = pytest.mark.postgres

ODD = ["plain", "ünïcødé ✓ 😀", "tab\there", "new\nline", "back\\slash", "\\N", "",
       "quote'\"", "ключ", "a,b;c|d"]
"""Texts COPY's text format must escape (tab, newline, backslash, a literal ``\\N``)."""


@pytest.fixture
def store(postgres_url: str) -> Iterator[StateStore]:
    opened = StateStore.open(postgres_url)
    yield opened
    opened.close()


def _digest(number: int) -> bytes:
    return hashlib.blake2b(str(number).encode(), digest_size=16).digest()


def _rows(store: StateStore, table: sa.Table, *order: sa.ColumnElement[object]
          ) -> list[tuple[object, ...]]:
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(table).order_by(*order))]


def _count(store: StateStore, table: sa.Table) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_nulls_unicode_and_copy_escapes_come_back_as_written(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    created = CreatedMappings(Direction.B_TO_A, "créé ✓\tavec\\tab", snapshots=[])
    for number, text in enumerate(ODD):
        created.a_keys.append(f"a-{text}")
        created.b_keys.append(f"b-{text}")
        created.hashes.append(_digest(number))
        created.a_versions.append(None if number % 2 else text)
        created.b_versions.append(text if number % 3 else None)
        created.codes.append("A" if number % 2 else "R")
        assert created.snapshots is not None
        created.snapshots.append(None if number % 4 == 0 else f'{{"name": "{number}✓"}}')
    journal = [journal_row(3, scope, f"a-{text}" if number % 2 else None,
                           None if number % 3 == 0 else f"b-{text}", ActionCode.MODIFY,
                           Direction.A_TO_B, Outcome.ERROR if number % 2 else Outcome.OK,
                           None if number % 5 == 0 else text,
                           ErrorCause("required", text, None) if number % 2 else None)
               for number, text in enumerate(ODD)]
    pending = [pending_item("a", f"p-{text}", ValidationFailed(
        f"refusé: {text}", causes=(ErrorCause("format", text, text or None),
                                   ErrorCause("required", None, None))), "contact")
        for text in ODD]
    new = [MappingRow(None, f"n-{text}", f"m-{text}", None, _digest(number), text or None,
                      None, {"note": text}) for number, text in enumerate(ODD)]
    store.settle(scope_id=scope, run_id=3, created=[created], journal_rows=journal,
                 pending_add=pending, new_mappings=new, journal_run_id=4)

    mappings = {row.a_key: row for page in store.iter_mappings(scope) for row in page}
    assert len(mappings) == 2 * len(ODD)
    for number, text in enumerate(ODD):
        row = mappings[f"a-{text}"]
        assert (row.b_key, row.a_hash, row.b_hash, row.a_version, row.b_version) == (
            f"b-{text}", _digest(number), _digest(number),
            None if number % 2 else text, text if number % 3 else None)
        assert row.snapshot == (None if number % 4 == 0 else {"name": f"{number}✓"})
        plain = mappings[f"n-{text}"]
        assert (plain.b_key, plain.a_hash, plain.b_hash, plain.a_version, plain.snapshot) \
            == (f"m-{text}", None, _digest(number), text or None, {"note": text})
    stored = [row[1:] for row in _rows(store, t.journal, t.journal.c.id)]
    expected_created = [(4, scope, a, b, code, "b>a", "ok", "créé ✓\tavec\\tab", None, None,
                         None) for a, b, code in zip(created.a_keys, created.b_keys,
                                                      created.codes, strict=True)]
    assert stored == expected_created + [tuple(row) for row in journal]
    assert [row[2:4] for row in _rows(store, t.pending, t.pending.c.key)] == sorted(
        (f"p-{text}", f"refusé: {text}") for text in ODD)
    causes = _rows(store, t.pending_causes, t.pending_causes.c.key,
                   t.pending_causes.c.position)
    assert sorted(row[2:7] for row in causes) == sorted(
        [(f"p-{text}", 0, "format", text, text or None) for text in ODD]
        + [(f"p-{text}", 1, "required", None, None) for text in ODD])


def test_updates_and_deletes_in_bulk_and_a_second_failure_counts_an_attempt(
        store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    store.settle(scope_id=scope, run_id=1, new_mappings=[
        MappingRow(None, f"a{n}", f"b{n}", _digest(n), _digest(n), "1", "1")
        for n in range(500)], pending_add=[
        pending_item("b", f"b{n}", ValidationFailed("first"), "contact") for n in range(5)])
    found = store.mappings_for(scope, "a", [f"a{n}" for n in range(500)])
    changed = [MappingRow(found[f"a{n}"].id, f"a{n}", f"b{n}-ü", _digest(n + 1), None, None,
                          "2", {"n": n}) for n in range(0, 400, 2)]
    removed = [int(found[f"a{n}"].id or 0) for n in range(1, 400, 2)]
    store.settle(scope_id=scope, run_id=2, changed_mappings=changed,
                 removed_mapping_ids=removed,
                 pending_add=[pending_item("b", "b0", ValidationFailed("again"), "contact")],
                 pending_remove=[("b", "b1"), ("b", "b2"), ("a", "b3")])
    after = {row.a_key: row for page in store.iter_mappings(scope) for row in page}
    assert len(after) == 300
    for n in range(0, 400, 2):
        assert after[f"a{n}"] == MappingRow(found[f"a{n}"].id, f"a{n}", f"b{n}-ü",
                                            _digest(n + 1), None, None, "2", {"n": n})
    assert after["a401"].b_key == "b401" and "a1" not in after
    assert [row[2:7] for row in _rows(store, t.pending, t.pending.c.key)] == [
        ("b0", "again", 2, 1, 2), ("b3", "first", 1, 1, 1), ("b4", "first", 1, 1, 1)]


def test_a_pairing_refused_inside_a_copy_is_settled_row_by_row(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    store.settle(scope_id=scope, run_id=1, new_mappings=[
        MappingRow(None, "a-old", "b-taken", None, None)])
    created = CreatedMappings(Direction.A_TO_B, "new on a")
    for n in range(200):
        created.a_keys.append(f"a{n}")
        created.b_keys.append("b-taken" if n == 150 else f"b{n}")
        created.hashes.append(_digest(n))
        created.a_versions.append(None)
        created.b_versions.append(None)
        created.codes.append("A")
    store.settle(scope_id=scope, run_id=2, created=[created])
    assert store.count_mappings(scope) == 200  # a-old and 199 new
    [refused] = store.journal("l", outcome="error")
    assert (refused["a_key"], refused["b_key"]) == ("a150", "b-taken")
    assert "a:a150 with b:b-taken was not recorded" in refused["message"]
    assert "COPY" not in refused["message"]
    assert len(store.journal("l", run_id=2, limit=None)) == 200


def test_a_stale_lease_writes_nothing_through_copy(store: StateStore) -> None:
    case = _TakenOver(store)
    scope = case.scope_id
    tables = (t.mappings, t.journal, t.pending, t.pending_causes, t.intents)
    before = {table.name: _count(store, table) for table in tables}
    created = CreatedMappings(Direction.A_TO_B, "created")
    for n in range(1000):
        created.a_keys.append(f"a{n}")
        created.b_keys.append(f"b{n}")
        created.hashes.append(_digest(n))
        created.a_versions.append(None)
        created.b_versions.append(None)
        created.codes.append("A")
    with pytest.raises(LeaseLost):
        case.stale.settle(
            scope_id=scope, run_id=case.stale_run, created=[created],
            new_mappings=[MappingRow(None, f"x{n}", f"y{n}", None, None) for n in range(300)],
            journal_rows=[JournalRow(case.stale_run, scope, f"x{n}", f"y{n}", "A", "a>b",
                                     "ok", "created") for n in range(300)],
            pending_add=[pending_item("a", f"z{n}", ValidationFailed("no"), "contact")
                         for n in range(50)])
    assert {table.name: _count(store, table) for table in tables} == before
    case.taker.settle(scope_id=scope, run_id=case.taker_run, created=[created])
    assert _count(store, t.mappings) == before["mappings"] + 1000


def test_copied_rows_are_scrubbed_of_secrets(store: StateStore) -> None:
    secret = "s3cret-Token-77"
    redact_store(store, [secret])
    scope = store.scope_id("l", "contact")
    store.settle(scope_id=scope, run_id=1, journal_rows=[
        journal_row(1, scope, f"a{n}", None, ActionCode.CREATE, Direction.A_TO_B,
                    Outcome.ERROR, f"refused with key {secret}") for n in range(20)],
        pending_add=[pending_item("a", "a1", ValidationFailed(f"key {secret} refused"),
                                  "contact")])
    with store.engine.connect() as connection:
        texts = [str(row) for table in (t.journal, t.pending)
                 for row in connection.execute(select(table))]
    assert len(texts) == 21
    assert not any(secret in text for text in texts), texts
