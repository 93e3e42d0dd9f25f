"""The state store: its Alembic migration against ``state/schema.py``, and every kind of row
it keeps (scopes, cursors, mappings, intents, journal, pending, conflicts, runs), on SQLite
and on PostgreSQL (the ``postgres_url`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, insert, inspect, select

from syncline.errors import StateError, StateUnavailable
from syncline.journal import PendingItem
from syncline.journal import journal_row as build_journal_row
from syncline.model import ActionCode, Direction, Outcome
from syncline.plan_types import MappingRow
from syncline.state import JournalRow, PendingIntent, StateStore, opening, schema

MIGRATIONS = opening.MIGRATIONS
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'syncline-state.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(url: str) -> Iterator[StateStore]:
    opened = StateStore.open(url)
    yield opened
    opened.close()


def head_revision() -> str:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def assert_declared_schema(url: str) -> None:
    """The database at ``url`` holds exactly the schema of ``state/schema.py`` and Alembic's
    version table, at the newest revision."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, schema.metadata)
            version = connection.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalar()
        assert differences == []
        assert version == head_revision() == opening.SCHEMA_REVISION
        tables = set(inspect(engine).get_table_names())
        assert tables == {table.name for table in schema.metadata.sorted_tables} | \
            {"alembic_version"}
    finally:
        engine.dispose()


def migrate_with_alembic(url: str, revision: str = "head") -> None:
    """Run the migrations on the database at ``url`` up to ``revision`` (as opening an older
    database does), without the store."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def sqlite_definitions(path: Path) -> dict[str, str]:
    """Every table and index of a SQLite file, by name, as SQLite stores its definition."""
    with sqlite3.connect(path) as connection:
        return dict(connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall())


def test_migrations_create_exactly_the_declared_schema(url: str) -> None:
    migrate_with_alembic(url)
    assert_declared_schema(url)


def test_an_empty_database_gets_the_declared_schema_without_alembic(url: str) -> None:
    code = ("import sys; from syncline.state import StateStore; "
            f"StateStore.open({url!r}).close(); "
            "print(sorted(name for name in sys.modules if name.split('.')[0] in "
            "('alembic', 'mako')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
    assert_declared_schema(url)


def test_a_created_sqlite_file_matches_a_migrated_one_statement_for_statement(
        tmp_path: Path) -> None:
    StateStore.open(f"sqlite:///{tmp_path / 'created.db'}").close()
    migrate_with_alembic(f"sqlite:///{tmp_path / 'migrated.db'}")
    created = sqlite_definitions(tmp_path / "created.db")
    assert created == sqlite_definitions(tmp_path / "migrated.db")
    assert "AUTOINCREMENT" in created["force_marks"]


def test_a_database_created_by_another_process_meanwhile_is_taken_as_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes opening a new database at once both find it empty; the one whose
    transaction fails takes the schema the other created."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore.open(url).close()  # the other process
    seen_empty = SimpleNamespace(get_table_names=lambda: [])
    monkeypatch.setattr(opening, "inspect", lambda _connection: seen_empty)
    monkeypatch.setattr(opening, "revision", lambda _engine: None)
    engine = create_engine(url)
    try:
        with pytest.raises(StateError, match="cannot be opened"):
            opening._create_when_empty(engine)  # the schema it found is not ours: an error
        monkeypatch.undo()
        monkeypatch.setattr(opening, "inspect", lambda _connection: seen_empty)
        assert opening._create_when_empty(engine) is True
    finally:
        engine.dispose()
    assert_declared_schema(url)


def test_an_older_database_is_upgraded_by_the_migrations_and_keeps_its_rows(url: str) -> None:
    migrate_with_alembic(url, "0003")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(schema.scopes).values(link="l", stream="contact"))
    finally:
        engine.dispose()
    store = StateStore.open(url)
    try:
        assert store.scope_id("l", "contact") == 1
    finally:
        store.close()
    assert_declared_schema(url)


def test_open_creates_the_folder_of_a_sqlite_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "state.db"
    StateStore.open(f"sqlite:///{target}").close()
    assert target.exists()


def test_opening_again_keeps_the_data(url: str) -> None:
    first = StateStore.open(url)
    scope = first.scope_id("l", "contact")
    first.set_cursor(scope, "a", "42")
    first.close()
    second = StateStore.open(url)
    try:
        assert second.scope_id("l", "contact") == scope
        assert second.cursor(scope, "a") == "42"
    finally:
        second.close()


def test_unusable_urls_are_state_errors(tmp_path: Path) -> None:
    with pytest.raises(StateError):
        StateStore.open("nosuchdialect://user@host/db")
    with pytest.raises(StateUnavailable, match="is unreachable: connection refused") as met:
        StateStore.open("postgresql+psycopg://nobody:secret@127.0.0.1:9/none"
                         "?connect_timeout=2")
    assert "secret" not in str(met.value) and "nobody:***@127.0.0.1:9" in str(met.value)


def test_sqlite_file_that_cannot_be_created_is_a_state_error(tmp_path: Path) -> None:
    """Documented: StateError when the database cannot be reached (not a bare OSError)."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StateError):
        StateStore.open(f"sqlite:///{blocker / 'state.db'}")


def test_state_error_hides_the_password() -> None:
    with pytest.raises(StateError) as caught:
        StateStore.open("postgresql+psycopg://nobody:hunter2@127.0.0.1:9/none"
                        "?connect_timeout=2")
    assert "hunter2" not in str(caught.value)


# -- scopes and cursors ---------------------------------------------------------------------------
def test_scopes_and_cursors(store: StateStore) -> None:
    contact = store.scope_id("l", "contact")
    assert store.scope_id("l", "contact") == contact
    invoice = store.scope_id("l", "invoice")
    other = store.scope_id("m", "contact")
    assert len({contact, invoice, other}) == 3
    assert store.cursor(contact, "a") is None
    store.set_cursor(contact, "a", "10")
    store.set_cursor(contact, "b", "token-xyz")
    store.set_cursor(contact, "a", "11")
    assert (store.cursor(contact, "a"), store.cursor(contact, "b")) == ("11", "token-xyz")
    assert store.cursor(invoice, "a") is None
    store.set_cursor(contact, "b", None)
    assert store.cursor(contact, "b") is None


# -- mappings, journal, pending, intents (settle) --------------------------------------------------
def mapping(number: int, snapshot: dict[str, str] | None = None) -> MappingRow:
    return MappingRow(None, f"a{number}", f"b{number}", bytes([number]) * 12,
                      bytes([number + 1]) * 12, f"av{number}", f"bv{number}", snapshot)


def test_mappings_round_trip(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    snapshot = {"name": "'Ann'", "phone": "None"}
    store.settle(scope_id=scope, run_id=1,
                 new_mappings=[mapping(1, snapshot), mapping(2), mapping(3)],
                 new_mapping_rows=[(scope, "a4", "b4", b"\x04" * 12, None, None, "bv4",
                                    None, 1)])
    assert store.count_mappings(scope) == 4
    assert store.count_mappings(store.scope_id("l", "invoice")) == 0
    by_a = store.mappings_for(scope, "a", ["a1", "a2", "a4", "missing"])
    assert set(by_a) == {"a1", "a2", "a4"}
    first = by_a["a1"]
    assert (first.a_key, first.b_key, first.a_version, first.b_version) == \
        ("a1", "b1", "av1", "bv1")
    assert first.a_hash == b"\x01" * 12 and first.b_hash == b"\x02" * 12
    assert isinstance(first.a_hash, bytes)
    assert first.snapshot == snapshot
    assert by_a["a2"].snapshot is None
    assert by_a["a4"].b_hash is None and by_a["a4"].a_version is None
    by_b = store.mappings_for(scope, "b", ["b3"])
    assert by_b["b3"].a_key == "a3"

    changed = MappingRow(first.id, "a1", "b1-new", b"\x09" * 12, b"\x09" * 12, "av9", "bv9",
                         {"name": "'Annie'"})
    store.settle(scope_id=scope, run_id=2, changed_mappings=[changed],
                 removed_mapping_ids=[by_a["a2"].id or 0])
    after = store.mappings_for(scope, "a", ["a1", "a2"])
    assert set(after) == {"a1"}
    assert after["a1"] == changed
    assert store.count_mappings(scope) == 3


def test_iter_mappings_pages_through_everything(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    store.settle(scope_id=scope, run_id=1, new_mappings=[mapping(n) for n in range(1, 12)])
    store.settle(scope_id=store.scope_id("l", "invoice"), run_id=1, new_mappings=[mapping(50)])
    pages = list(store.iter_mappings(scope, page=4))
    assert [len(page) for page in pages] == [4, 4, 3]
    keys = [row.a_key for page in pages for row in page]
    assert sorted(keys) == sorted(f"a{n}" for n in range(1, 12))
    ids = [row.id or 0 for page in pages for row in page]
    assert ids == sorted(ids)


def test_many_keys_are_looked_up_in_pages(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    rows = [MappingRow(None, f"key{n:05d}", f"other{n:05d}", None, None) for n in range(2500)]
    store.settle(scope_id=scope, run_id=1, new_mappings=rows)
    found = store.mappings_for(scope, "a", [f"key{n:05d}" for n in range(0, 2500, 1)])
    assert len(found) == 2500


def test_mapped_keys_are_unique_per_side(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    store.settle(scope_id=scope, run_id=1, new_mappings=[mapping(1)])
    store.write_intent(PendingIntent("batch-2", 2, scope, "b", {"ops": []}))
    # a second pairing of a1 is refused; the rest of the settle goes through, so that the
    # batch's intent is not recovered (and refused again) by every later run
    store.settle(scope_id=scope, run_id=2, batch_ids=["batch-2"],
                 new_mappings=[MappingRow(None, "a1", "b-other", None, None), mapping(3)],
                 journal_rows=[journal_row(2, scope, "M")])
    assert store.count_mappings(scope) == 2
    assert store.mappings_for(scope, "a", ["a1"])["a1"].b_key == "b1"
    assert store.mappings_for(scope, "a", ["a3"])["a3"].b_key == "b3"
    assert store.pending_intents(scope) == []
    [refused] = store.journal("l", outcome="error")
    assert (refused["a_key"], refused["b_key"], refused["run_id"]) == ("a1", "b-other", 2)
    assert "a:a1 with b:b-other was not recorded" in refused["message"]
    assert len(store.journal("l", run_id=2)) == 2  # the batch's own journal row too


def journal_row(run_id: int, scope: int, action: str, outcome: str = "ok",
                message: str | None = None, direction: str = "a>b") -> JournalRow:
    return build_journal_row(run_id, scope, f"a-{action}", f"b-{action}", ActionCode(action),
                             Direction(direction), Outcome(outcome), message)


def test_journal_round_trip_and_filters(store: StateStore) -> None:
    contact = store.scope_id("l", "contact")
    invoice = store.scope_id("l", "invoice")
    other_link = store.scope_id("m", "contact")
    store.settle(scope_id=contact, run_id=1, journal_rows=[
        journal_row(1, contact, "A"), journal_row(1, contact, "M", "error", "rejected"),
        journal_row(1, contact, "D", direction="b>a")])
    store.settle(scope_id=invoice, run_id=2, journal_rows=[journal_row(2, invoice, "R")])
    store.settle(scope_id=other_link, run_id=3, journal_rows=[journal_row(3, other_link, "A")])

    rows = store.journal("l")
    assert [row["action"] for row in rows] == ["R", "D", "M", "A"]  # newest first
    assert {row["stream"] for row in rows} == {"contact", "invoice"}
    error = store.journal("l", outcome="error")
    assert len(error) == 1
    assert (error[0]["a_key"], error[0]["b_key"], error[0]["message"]) == \
        ("a-M", "b-M", "rejected")
    assert [row["action"] for row in store.journal("l", run_id=1)] == ["D", "M", "A"]
    assert [row["direction"] for row in store.journal("l", action="D")] == ["b>a"]
    assert [row["action"] for row in store.journal("l", stream="invoice")] == ["R"]
    assert len(store.journal("l", limit=2)) == 2
    assert len(store.journal("m")) == 1


def test_pending_items_count_attempts_and_clear(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    store.settle(scope_id=scope, run_id=1, pending_add=[PendingItem("a", "k1", "first error"),
                                                        PendingItem("b", "k2", "x" * 5000)])
    assert store.pending_keys(scope, "a") == ["k1"]
    assert store.pending_keys(scope, "b") == ["k2"]
    store.settle(scope_id=scope, run_id=2, pending_add=[PendingItem("a", "k1", "second error")])
    items = {(item["side"], item["key"]): item for item in store.pending_items("l")}
    k1 = items[("a", "k1")]
    assert (k1["attempts"], k1["first_run"], k1["last_run"], k1["message"], k1["stream"]) == \
        (2, 1, 2, "second error", "contact")
    assert len(items[("b", "k2")]["message"]) <= 2000
    store.settle(scope_id=scope, run_id=3, pending_remove=[("a", "k1")])
    assert store.pending_keys(scope, "a") == []
    assert store.pending_keys(scope, "b") == ["k2"]
    assert store.pending_items("other-link") == []


def test_intents_are_kept_until_settled(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    payload = {"ops": [["b", "create", "a1", None, None, "00ff", None, "1", None, None, "A",
                        False, "new on a"]]}
    store.write_intent(PendingIntent("batch-1", 7, scope, "b", payload))
    store.write_intent(PendingIntent("batch-2", 7, scope, "a", {"ops": []}))
    store.write_intent(PendingIntent("batch-3", 7, store.scope_id("l", "invoice"), "a", {}))
    found = store.pending_intents(scope)
    assert [intent.batch_id for intent in found] == ["batch-1", "batch-2"]
    assert found[0] == PendingIntent("batch-1", 7, scope, "b", payload)
    store.settle(scope_id=scope, run_id=7, batch_ids=["batch-1"],
                 new_mappings=[MappingRow(None, "a1", "b-new", b"\x00" * 12, None)],
                 journal_rows=[journal_row(7, scope, "A")])
    assert [intent.batch_id for intent in store.pending_intents(scope)] == ["batch-2"]
    assert store.count_mappings(scope) == 1


def test_settle_is_one_transaction(store: StateStore) -> None:
    """If any part of a settle fails, none of it is kept (the intent stays for recovery)."""
    scope = store.scope_id("l", "contact")
    store.settle(scope_id=scope, run_id=1, new_mappings=[mapping(1)])
    store.write_intent(PendingIntent("batch-x", 2, scope, "b", {"ops": []}))
    broken = JournalRow(2, scope, "a9", "b9", None, "a>b", "ok", None)  # type: ignore[arg-type]
    with pytest.raises(Exception, match=r"(?i)null"):
        store.settle(scope_id=scope, run_id=2, batch_ids=["batch-x"],
                     journal_rows=[journal_row(2, scope, "A"), broken],
                     pending_add=[PendingItem("a", "k", "m")],
                     new_mappings=[mapping(5), mapping(6)])
    assert [intent.batch_id for intent in store.pending_intents(scope)] == ["batch-x"]
    assert store.journal("l") == []
    assert store.pending_keys(scope, "a") == []
    assert store.count_mappings(scope) == 1


# -- conflicts -------------------------------------------------------------------------------------
def test_conflicts_are_held_refreshed_resolved_and_closed(store: StateStore) -> None:
    scope = store.scope_id("l", "contact")
    first = store.hold_conflict(scope_id=scope, run_id=1, a_key="a1", b_key="b1",
                                a_fields={"name": "A", "total": 1},
                                b_fields={"name": "B", "total": 2},
                                base={"name": "'Base'"})
    again = store.hold_conflict(scope_id=scope, run_id=2, a_key="a1", b_key="b1",
                                a_fields={"name": "A2"}, b_fields=None, base=None)
    assert again == first
    other = store.hold_conflict(scope_id=scope, run_id=2, a_key="a2", b_key="b2",
                                a_fields=None, b_fields={"name": "B"}, base=None)
    assert other != first
    (row, second) = store.conflicts("l")
    assert (row["id"], row["stream"], row["status"], row["detected_run"]) == \
        (first, "contact", "open", 2)
    assert row["a_fields"] == {"name": "A2"}
    assert row["b_fields"] == {"name": "B", "total": 2}  # a side given as None is kept
    assert row["base_fields"] == {"name": "'Base'"}
    assert second["a_fields"] is None
    assert store.open_conflict_keys(scope) == frozenset({"a1", "a2"})

    store.resolve_conflict(first, {"side": "b"}, "alice")
    assert [c["id"] for c in store.conflicts("l")] == [other]
    (resolved,) = store.conflicts("l", status="resolved")
    assert (resolved["resolution"], resolved["resolved_by"]) == ({"side": "b"}, "alice")
    assert resolved["resolved_at"] is not None
    assert store.open_conflict_keys(scope) == frozenset({"a2"})
    store.close_conflict(first)
    assert store.conflicts("l", status="resolved") == []
    assert [c["status"] for c in store.conflicts("l", status=None)] == ["applied", "open"]
    assert store.conflicts("l", status=None, conflict_id=other)[0]["a_key"] == "a2"
    assert store.conflicts("other-link") == []


# -- runs ------------------------------------------------------------------------------------------
def start(store: StateStore, link: str = "l", *, at: datetime = T0, dry_run: bool = False,
          user: str | None = "bob") -> int:
    return store.start_run(link=link, trigger="manual", mode="incremental",
                           scope={"streams": ["contact"], "since": T0}, user=user,
                           dry_run=dry_run, started_at=at)


def test_runs_round_trip(store: StateStore) -> None:
    first = start(store)
    (running,) = store.runs("l")
    assert (running["id"], running["outcome"], running["user"], running["trigger"]) == \
        (first, "running", "bob", "manual")
    assert running["scope"]["streams"] == ["contact"]
    assert running["host"] == socket.gethostname()
    assert running["finished_at"] is None and running["counts"] == {}
    counts = {"contact": {"A": 2, "M": 1, "D": 0, "R": 0, "errors": 0}}
    store.finish_run(first, outcome="ok", finished_at=T0 + timedelta(seconds=3),
                     duration_s=3.0, counts=counts, message=None)
    second = start(store, at=T0 + timedelta(minutes=1))
    store.finish_run(second, outcome="error", finished_at=T0 + timedelta(minutes=2),
                     duration_s=60.0, counts={}, message="1 item failed")
    start(store, "m")

    rows = store.runs("l")
    assert [row["id"] for row in rows] == [second, first]  # newest first
    done = store.runs(run_id=first)[0]
    assert (done["outcome"], done["counts"], done["duration_s"]) == ("ok", counts, 3.0)
    assert rows[0]["message"] == "1 item failed"
    assert len(store.runs()) == 3
    assert len(store.runs(limit=1)) == 1


def test_last_synced_at_ignores_failed_and_running_runs(store: StateStore) -> None:
    assert store.last_synced_at("l") is None
    ok = start(store)
    store.finish_run(ok, outcome="warning", finished_at=T0 + timedelta(seconds=5),
                     duration_s=5, counts={}, message=None)
    failed = start(store, at=T0 + timedelta(hours=1))
    store.finish_run(failed, outcome="failed", finished_at=T0 + timedelta(hours=1, seconds=1),
                     duration_s=1, counts={}, message="unreachable")
    start(store, at=T0 + timedelta(hours=2))
    last = store.last_synced_at("l")
    assert last == T0 + timedelta(seconds=5)
    assert last is not None and last.tzinfo is not None


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def add_running_run(store: StateStore, link: str, host: str, pid: int) -> int:
    with store.engine.begin() as connection:
        result = connection.execute(insert(schema.runs).values(
            link=link, trigger="schedule", mode="incremental", scope="{}", user=None,
            started_at=T0, outcome="running", dry_run=False, host=host, pid=pid))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def outcome_of(store: StateStore, run_id: int) -> tuple[str, str | None]:
    with store.engine.connect() as connection:
        row = connection.execute(select(schema.runs.c.outcome, schema.runs.c.message)
                                 .where(schema.runs.c.id == run_id)).one()
    return str(row.outcome), row.message


def test_abandoned_running_runs_are_marked_failed(store: StateStore) -> None:
    here = socket.gethostname()
    abandoned = add_running_run(store, "l", here, dead_pid())
    alive = add_running_run(store, "l", here, 1)  # pid 1 never ends
    elsewhere = add_running_run(store, "l", "some-other-host", dead_pid())
    other_link = add_running_run(store, "m", here, dead_pid())

    start(store, "l")

    outcome, message = outcome_of(store, abandoned)
    assert outcome == "failed"
    assert message is not None and "interrupted" in message
    assert store.runs(run_id=abandoned)[0]["finished_at"] is not None
    assert outcome_of(store, alive)[0] == "running"
    assert outcome_of(store, elsewhere)[0] == "running"  # cannot tell: left alone
    assert outcome_of(store, other_link)[0] == "running"  # another link's business
