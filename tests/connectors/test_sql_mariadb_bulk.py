"""The bulk writes of the ``sql`` connector on MariaDB (:mod:`syncline.connectors.sql.
mariadb_writes`), on the local server: multi-row inserts sized to the packet limit, updates
through a temporary table, every key type, the per-item fallback of a refused batch, a crash
inside a batch, and the bulk and row paths ending in the same state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.sql_support import batch, create_op, delete_op, update_op
from syncline.connectors.base import CreateRows, WriteBatch
from syncline.connectors.sql import SqlConnector, bulk_create, mariadb_writes

pytestmark = pytest.mark.mariadb

MEGABYTE_TEXT = "é" * 300_000 + "😀" * 100_000 + "x" * 100_000  # 1.1 MB of utf8mb4
FIELDS = {"name": "full_name", "email": "email_address", "notes": "notes"}


@pytest.fixture
def app(mariadb_url: str) -> Iterator[sa.Engine]:
    """A plain engine, as the user's application has, with the tables of these tests."""
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE people (person_id INT AUTO_INCREMENT PRIMARY KEY, full_name "
            "VARCHAR(200), email_address VARCHAR(200) UNIQUE, notes LONGTEXT, modified_at "
            "DATETIME(6)) CHARSET utf8mb4")
        conn.exec_driver_sql(
            "CREATE TABLE uuid_people (person_uuid UUID PRIMARY KEY, full_name VARCHAR(200), "
            "email_address VARCHAR(200) UNIQUE, notes LONGTEXT) CHARSET utf8mb4")
        conn.exec_driver_sql(
            "CREATE TABLE coded_people (code VARCHAR(40) PRIMARY KEY, full_name VARCHAR(200), "
            "email_address VARCHAR(200) UNIQUE, notes LONGTEXT) CHARSET utf8mb4")
    yield engine
    engine.dispose()


def _settings(url: str, table: str = "people", key: str = "person_id",
              fields: dict[str, str] | None = None) -> dict[str, Any]:
    stream: dict[str, Any] = {"table": table, "key": key, "fields": fields or FIELDS}
    if table == "people":
        stream["updated"] = "modified_at"
    return {"url": url, "page_size": 100, "streams": {"contact": stream}}


def _connector(url: str, base: Path, **kwargs: Any) -> SqlConnector:
    connector = SqlConnector("crm", _settings(url, **kwargs), base)
    connector.open()
    connector.setup(["contact"])
    return connector


def _rows(app: sa.Engine, table: str = "people", key: str = "person_id") \
        -> dict[str, tuple[Any, ...]]:
    with app.connect() as conn:
        found = conn.exec_driver_sql(
            f"SELECT {key}, full_name, email_address, notes FROM {table}").all()
    return {str(row[0]): tuple(row[1:]) for row in found}


def _fields(n: int, tag: str = "") -> dict[str, Any]:
    return {"name": None if n % 5 == 0 else f"Person {n}{tag} 😀 ünï",
            "email": None if n % 3 == 0 else f"p{n}{tag}@example.com",
            "notes": None if n % 4 == 0 else f"note {n}{tag} 100% \\ ' \" `"}


def _write_ok(connector: SqlConnector, write: WriteBatch) -> list[str]:
    results = connector.write(write)
    assert [r.error for r in results if r.error is not None] == []
    return [str(r.key) for r in results]


def _changes_logged(app: sa.Engine) -> int:
    with app.connect() as conn:
        return int(conn.exec_driver_sql("SELECT COUNT(*) FROM syncline_changes").scalar_one())


def test_creates_updates_and_deletes_in_bulk(app: sa.Engine, mariadb_url: str,
                                             tmp_path: Path) -> None:
    connector = _connector(mariadb_url, tmp_path)
    count = 3 * mariadb_writes.BULK_MIN_ROWS
    created = batch("contact", *[create_op(_fields(n)) for n in range(count)])
    keys = _write_ok(connector, created)
    assert _rows(app) == {key: (_fields(n)["name"], _fields(n)["email"], _fields(n)["notes"])
                          for n, key in enumerate(keys)}
    assert [int(key) for key in keys] == sorted(int(key) for key in keys)

    updated = {key: _fields(n + 1, "u") for n, key in enumerate(keys)}
    _write_ok(connector, batch("contact", *[update_op(k, f) for k, f in updated.items()]))
    assert _rows(app) == {key: (f["name"], f["email"], f["notes"])
                          for key, f in updated.items()}

    gone = keys[::2]
    _write_ok(connector, batch("contact", *[delete_op(key) for key in gone]))
    assert set(_rows(app)) == set(keys) - set(gone)
    assert _changes_logged(app) == 0  # syncline's own writes are not captured
    with app.connect() as conn:
        stamped = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM people WHERE modified_at IS NULL").scalar_one()
        logged = conn.exec_driver_sql("SELECT COUNT(*) FROM syncline_batches").scalar_one()
    assert stamped == 0
    assert logged == 3


def test_megabyte_texts_are_split_across_packets(app: sa.Engine, mariadb_url: str,
                                                 tmp_path: Path) -> None:
    with app.connect() as conn:
        packet = int(conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one())
    count = max(mariadb_writes.BULK_MIN_ROWS, packet // len(MEGABYTE_TEXT.encode()) + 2)
    connector = _connector(mariadb_url, tmp_path)
    fields = [{"name": f"Big {n}", "email": f"big{n}@example.com",
               "notes": MEGABYTE_TEXT + str(n)} for n in range(count)]
    keys = _write_ok(connector, batch("contact", *[create_op(f) for f in fields]))
    found = _rows(app)
    assert [found[key][2] for key in keys] == [f["notes"] for f in fields]
    _write_ok(connector, batch("contact", *[update_op(key, {"notes": "small " + key})
                                            for key in keys]))
    assert [_rows(app)[key][2] for key in keys] == ["small " + key for key in keys]


def test_statements_stay_below_the_packet_limit() -> None:
    rows = [f"('{n}{'😀' * n}')" for n in range(50)]
    statements = mariadb_writes._statements("INSERT INTO t (a) VALUES ", rows, 4096 + 400)
    assert len(statements) > 1
    assert all(len(s.encode()) <= 400 or s.count("),(") == 0 for s in statements)
    joined = ",".join(s.removeprefix("INSERT INTO t (a) VALUES ") for s in statements)
    assert joined == ",".join(rows)


@pytest.mark.parametrize(("table", "key", "fields"), [
    ("uuid_people", "person_uuid", FIELDS),
    ("coded_people", "code", {**FIELDS, "title": "code"}),
])
def test_every_key_type(app: sa.Engine, mariadb_url: str, tmp_path: Path, table: str,
                        key: str, fields: dict[str, str]) -> None:
    connector = _connector(mariadb_url, tmp_path, table=table, key=key, fields=fields)
    count = 2 * mariadb_writes.BULK_MIN_ROWS
    wanted = [{**_fields(n), "email": f"k{n}@example.com", "title": f"C-{n:03d}"}
              for n in range(count)]
    if "title" not in fields:
        wanted = [{k: v for k, v in f.items() if k != "title"} for f in wanted]
    keys = _write_ok(connector, batch("contact", *[create_op(f) for f in wanted]))
    found = _rows(app, table, key)
    assert {found[k][1] for k in keys} == {f["email"] for f in wanted}
    assert [found[k][1] for k in keys] == [f["email"] for f in wanted]  # keys in order
    if "title" in fields:
        assert keys == [f["title"] for f in wanted]
    _write_ok(connector, batch("contact", *[update_op(k, {"name": f"renamed {k}"})
                                            for k in keys]))
    assert [_rows(app, table, key)[k][0] for k in keys] == [f"renamed {k}" for k in keys]
    _write_ok(connector, batch("contact", *[delete_op(k) for k in keys[1:]]))
    assert list(_rows(app, table, key)) == [keys[0]]


@pytest.mark.parametrize(("table", "key"), [("people", "person_id"),
                                          ("uuid_people", "person_uuid")])
def test_create_rows_go_column_by_column(app: sa.Engine, mariadb_url: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, table: str,
                                         key: str) -> None:
    lane: list[int] = []
    real = bulk_create.insert_columns

    def counted(*args: Any) -> list[str] | None:
        keys = real(*args)
        lane.append(-1 if keys is None else len(keys))
        return keys

    monkeypatch.setattr(bulk_create, "insert_columns", counted)
    connector = _connector(mariadb_url, tmp_path, table=table, key=key)
    count = 3 * mariadb_writes.BULK_MIN_ROWS
    rows = [_fields(n) for n in range(count)]
    creates = CreateRows.from_rows("batch-rows", "contact", rows)
    keys = connector.write_creates(creates).keys
    assert lane == [count]
    found = _rows(app, table, key)
    assert [found[str(k)] for k in keys] == [(r["name"], r["email"], r["notes"]) for r in rows]
    recovered = connector.recover(creates.as_write_batch())
    assert recovered is not None
    assert [r.key for r in recovered] == keys
    assert _changes_logged(app) == 0

    refused = [{**_fields(n + count), "email": f"new{n}@example.com"} for n in range(count)]
    refused[4]["email"] = rows[1]["email"]
    results = connector.write_creates(CreateRows.from_rows("batch-refused", "contact",
                                                           refused))
    assert lane == [count]  # refused as a whole: the lane wrote nothing
    assert list(results.errors) == [4]  # and the general path names the row
    assert str(rows[1]["email"]) in str(results.errors[4])
    assert len(_rows(app, table, key)) == 2 * count - 1


def test_updates_without_the_temporary_table_privilege(app: sa.Engine, mariadb_url: str,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _connector(mariadb_url, tmp_path).close()  # the bookkeeping tables, made by root
    tried: list[str] = []
    real = mariadb_writes._execute

    def counted(conn: sa.Connection, statement: str) -> Any:
        if statement.startswith("CREATE TEMPORARY"):
            tried.append(statement)
        return real(conn, statement)

    monkeypatch.setattr(mariadb_writes, "_execute", counted)
    database = mariadb_url.rsplit("/", 1)[1]
    user = f"limited_{database[-12:]}"
    with app.begin() as conn:
        conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY 'pw-{user}'")
        conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON {database}.* "
                             f"TO '{user}'@'%%'")
    try:
        connector = SqlConnector("crm", _settings(mariadb_url.replace(
            "root@", f"{user}:pw-{user}@")), tmp_path)
        connector.open()
        count = 2 * mariadb_writes.BULK_MIN_ROWS
        keys = _write_ok(connector, batch("contact", *[create_op(_fields(n))
                                                       for n in range(count)]))
        for round_ in range(2):
            _write_ok(connector, batch("contact", *[
                update_op(k, {"name": f"round {round_} {k}"}) for k in keys]))
            assert [_rows(app)[k][0] for k in keys] == [f"round {round_} {k}" for k in keys]
        with app.connect() as conn:
            logged = conn.exec_driver_sql("SELECT COUNT(*) FROM syncline_batches").scalar()
        assert logged == 3
        assert len(tried) == 1  # refused once, then not tried again on that connection
    finally:
        with app.begin() as conn:
            conn.exec_driver_sql(f"DROP USER '{user}'@'%%'")


@pytest.mark.parametrize(("table", "key", "fields"), [
    ("people", "person_id", FIELDS),
    ("uuid_people", "person_uuid", FIELDS),
    ("coded_people", "code", {**FIELDS, "title": "code"}),
])
def test_missing_rows_are_named_in_a_bulk_batch(app: sa.Engine, mariadb_url: str,
                                                tmp_path: Path, table: str, key: str,
                                                fields: dict[str, str]) -> None:
    connector = _connector(mariadb_url, tmp_path, table=table, key=key, fields=fields)
    count = 2 * mariadb_writes.BULK_MIN_ROWS
    keys = _write_ok(connector, batch("contact", *[
        create_op({"name": f"P{n}", "title": f"C-{n}"} if "title" in fields
                  else {"name": f"P{n}"}) for n in range(count)]))
    with app.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {table} WHERE {key} IN (:a, :b)"),
                     {"a": keys[2], "b": keys[7]})
    results = connector.write(batch("contact", *[update_op(k, {"name": f"Q{n}"})
                                                 for n, k in enumerate(keys)]))
    assert [n for n, r in enumerate(results) if r.error is not None] == [2, 7]
    assert f"no row with {key}={keys[2]} in {table}" in str(results[2].error)
    assert {row[0] for row in _rows(app, table, key).values()} == {
        f"Q{n}" for n in range(count) if n not in (2, 7)}
    results = connector.write(batch("contact", *[delete_op(k) for k in keys]))
    assert [n for n, r in enumerate(results) if r.error is not None] == [2, 7]
    assert _rows(app, table, key) == {}


def test_a_refused_batch_falls_back_per_item(app: sa.Engine, mariadb_url: str,
                                             tmp_path: Path) -> None:
    connector = _connector(mariadb_url, tmp_path)
    count = 2 * mariadb_writes.BULK_MIN_ROWS
    taken = _write_ok(connector, batch("contact", create_op({"email": "taken@example.com"})))
    wanted = [{"name": f"P{n}", "email": f"p{n}@example.com"} for n in range(count)]
    wanted[5]["email"] = "taken@example.com"
    results = connector.write(batch("contact", *[create_op(f) for f in wanted]))
    failed = [(n, r.error) for n, r in enumerate(results) if r.error is not None]
    assert [n for n, _ in failed] == [5]
    assert "taken@example.com" in str(failed[0][1])
    assert len(_rows(app)) == count  # the others, and the row that held the address

    keys = [str(r.key) for r in results if r.error is None]
    changes = [update_op(k, {"name": f"Q{n}"}) for n, k in enumerate(keys)]
    changes[3] = update_op(keys[3], {"email": "taken@example.com", "name": "Q3"})
    results = connector.write(batch("contact", *changes))
    assert [n for n, r in enumerate(results) if r.error is not None] == [3]
    assert "taken@example.com" in str(results[3].error)
    found = _rows(app)
    assert [found[k][0] for k in keys] == [f"Q{n}" if n != 3 else "P3"
                                           for n in range(len(keys))]
    assert found[keys[3]][1] != "taken@example.com"
    assert found[taken[0]][1] == "taken@example.com"


_CRASH = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from connectors.sql_support import batch, create_op, update_op
    from syncline.connectors.sql import SqlConnector, mariadb_writes
    real = mariadb_writes._execute
    def slow(conn, statement):
        result = real(conn, statement)
        if statement.replace("`", "").startswith(("INSERT INTO people ", "UPDATE people ")):
            print("written", flush=True)
            time.sleep(60)
        return result
    mariadb_writes._execute = slow
    settings = {"url": sys.argv[1], "page_size": 100, "streams": {"contact": {
        "table": "people", "key": "person_id", "updated": "modified_at",
        "fields": {"name": "full_name", "email": "email_address", "notes": "notes"}}}}
    connector = SqlConnector("crm", settings, Path(sys.argv[2]))
    connector.open()
    if len(sys.argv) > 4:
        connector.write(batch("contact", *[update_op(k, {"name": "changed"})
                                           for k in sys.argv[4].split(",")]))
    else:
        connector.write(batch("contact", *[create_op({"name": f"P{n}"}) for n in range(40)]))
""")


def _killed_in_batch(url: str, base: Path, *keys: str) -> None:
    tests = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, "-c", _CRASH, url, str(base), str(tests),
                                *([",".join(keys)] if keys else [])],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "written"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_a_crash_inside_a_batch_leaves_nothing_of_it(app: sa.Engine, mariadb_url: str,
                                                     tmp_path: Path) -> None:
    connector = _connector(mariadb_url, tmp_path)
    _killed_in_batch(mariadb_url, tmp_path)
    assert _rows(app) == {}
    keys = _write_ok(connector, batch("contact", *[create_op({"name": f"P{n}"})
                                                   for n in range(40)]))
    _killed_in_batch(mariadb_url, tmp_path, *keys)
    assert {row[0] for row in _rows(app).values()} == {f"P{n}" for n in range(40)}
    with app.connect() as conn:
        logged = conn.exec_driver_sql("SELECT COUNT(*) FROM syncline_batches").scalar_one()
    assert logged == 1


_TEXT = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",)),
                                     max_size=12))


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_TEXT, min_size=1, max_size=20),
       changes=st.lists(st.tuples(st.integers(0, 19), _TEXT, st.booleans()), max_size=20),
       deleted=st.sets(st.integers(0, 19), max_size=8))
def test_bulk_and_row_paths_end_alike(app: sa.Engine, mariadb_url: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      names: list[str | None],
                                      changes: list[tuple[int, str | None, bool]],
                                      deleted: set[int]) -> None:
    connector = SqlConnector("crm", _settings(mariadb_url), tmp_path)
    connector.open()
    ends = []
    for threshold in (1, 10**9):
        monkeypatch.setattr(mariadb_writes, "BULK_MIN_ROWS", threshold)
        with app.begin() as conn:
            conn.exec_driver_sql("TRUNCATE TABLE people")
        keys = _write_ok(connector, batch("contact", *[
            create_op({"name": name, "email": f"e{n}@example.com", "notes": name})
            for n, name in enumerate(names)]))
        _write_ok(connector, batch("contact", *[
            update_op(keys[n % len(keys)], {"name": text, **({"notes": text} if both else {})})
            for n, text, both in changes]))
        _write_ok(connector, batch("contact", *[delete_op(keys[n % len(keys)])
                                                for n in sorted(deleted)]))
        ends.append(_rows(app))
    assert ends[0] == ends[1]
