"""``python -m bench.sql`` still runs on each database: started as a user starts it, at a
small size (1,000 rows, one run), its table is checked for every step with a number for
each ratio and a computed "met", and its end state for b holding exactly a's rows (the
benchmark checks that itself after (d) and (e) and exits 1 otherwise). Small sizes say
nothing about speed; these tests keep the benchmark from breaking unnoticed.

PostgreSQL and MariaDB are the local servers (127.0.0.1:5432 and :3306); the benchmark
makes and drops its own databases there. When a server cannot be reached the test is
skipped, except on CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["(a) first sync a → empty b", "(b) re-sync, no change",
         "(c) re-sync, 100 changed on a", "(d) re-sync, 100 changed on each side, 5 conflicts",
         "(e) Force Sync, no change"]


def _reachable(port: int, server: str) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
    except OSError as error:
        message = f"{server} not reachable on 127.0.0.1:{port}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def run_sql_bench(tmp_path: Path, *arguments: str) -> list[list[str]]:
    """The table rows (cells) that ``python -m bench.sql`` prints for 1,000 rows.

    Raises:
        AssertionError: the benchmark failed (its output is in the message).
    """
    done = subprocess.run([sys.executable, "-m", "bench.sql", "--records", "1000",
                           "--changes", "100", "--conflicts", "5", "--runs", "1",
                           "--keep", str(tmp_path / "work"), *arguments],
                          cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"bench.sql failed:\n{done.stdout}\n{done.stderr}"
    assert re.search(r"load average \d+\.\d\d at the start, \d+\.\d\d at the end",
                     done.stdout)
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in done.stdout.splitlines() if line.startswith("| (")]
    assert [row[0] for row in rows] == STEPS
    for name, _records, run, process, floor, ratio, target, met, rss in rows:
        assert float(run) >= 0 and float(process) > 0 and float(floor) > 0, name
        assert re.fullmatch(r"\d+\.\dx", ratio), (name, ratio)
        assert met in ("yes", "NO", "-") and (met == "-") == (target == "-"), name
        assert float(rss.replace(",", "")) > 0, name
    assert rows[0][1] == "1,000" and rows[2][1] == "100"
    return rows


def _equal_ends(tmp_path: Path) -> None:
    """The kept SQLite files: b holds exactly a's rows (with b's own keys)."""
    import sqlite3

    from bench.sql_data import COLUMNS

    found = []
    for side in ("a", "b"):
        db = sqlite3.connect(tmp_path / "work" / f"{side}.db")
        found.append(sorted(db.execute(f"SELECT {', '.join(COLUMNS)} FROM {side}"),
                            key=repr))
        db.close()
    assert len(found[0]) == 1000 and found[0] == found[1]
    changed = [row for row in found[1] if row[4].startswith(("+44 161", "+44 113"))]
    assert len(changed) == 100 + 100  # (c) and (d) reached b; a won the 5 conflicts
    assert sum(row[4].startswith("+44 117") for row in found[0]) == 100 - 5  # b's reached a


def test_the_sql_bench_runs_on_sqlite(tmp_path: Path) -> None:
    rows = run_sql_bench(tmp_path, "--db", "sqlite")
    assert rows[0][6] == "≤ 5x floor"
    _equal_ends(tmp_path)


@pytest.mark.postgres
def test_the_sql_bench_runs_on_postgresql_with_a_postgresql_state_store(
        tmp_path: Path) -> None:
    _reachable(5432, "PostgreSQL")
    run_sql_bench(tmp_path, "--db", "postgresql", "--state", "postgresql")


@pytest.mark.mariadb
def test_the_sql_bench_runs_on_mariadb_with_uuid_keys(tmp_path: Path) -> None:
    _reachable(3306, "MariaDB")
    run_sql_bench(tmp_path, "--db", "mariadb", "--key", "uuid")


def test_the_end_state_check_fails_when_b_lacks_a_row(tmp_path: Path) -> None:
    import sqlite3

    from bench.sql import check_same_rows
    from bench.sql_data import COLUMNS
    from bench.sql_servers import SqliteDatabase

    database = SqliteDatabase(tmp_path, "int")
    database.create(10)
    with pytest.raises(SystemExit, match="after the test, b does not hold exactly a's rows"):
        check_same_rows(database, "the test")
    columns = ", ".join(COLUMNS)
    db = sqlite3.connect(tmp_path / "b.db")
    db.execute(f"ATTACH DATABASE '{tmp_path / 'a.db'}' AS source")
    db.execute(f"INSERT INTO b ({columns}) SELECT {columns} FROM source.a WHERE id > 1")
    db.commit()
    with pytest.raises(SystemExit):
        check_same_rows(database, "the test")
    db.execute(f"INSERT INTO b ({columns}) SELECT {columns} FROM source.a WHERE id = 1")
    db.commit()
    db.close()
    check_same_rows(database, "the test")
