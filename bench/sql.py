"""``python -m bench.sql``: syncline between two tables of one database kind, each step
side by side with its floor (the same work done by a plain client) in the same run.

``--db postgresql|mariadb|sqlite``: table ``a`` with ``--records`` rows (ten text columns,
see ``bench.sql_data``) and an empty table ``b``, each in a database of its own that the
benchmark creates and drops (on the servers: ``syncline_bench_<random>_a`` / ``_b``; no
other database is touched), linked by a syncline config (``crm`` = a, ``books`` = b,
``conflict = "a-wins"``). ``--key int`` (default) uses the database's usual integer key,
``--key uuid`` its ``uuid`` type. ``--state sqlite|postgresql`` chooses the state store
(a file in the work folder, or a private database on the PostgreSQL server).

Steps (each sync is a process of its own, ``python -m bench.sync_step``; its peak RSS is
its own):

(a) first sync a → empty b; floor: PostgreSQL ``COPY (SELECT …) TO STDOUT`` piped into
    ``COPY … FROM STDIN``, MariaDB the faster of multi-row INSERTs and LOAD DATA LOCAL
    INFILE, SQLite one ``executemany``. ``--runs`` runs of both from the same empty b (and
    a new state store); the table shows the medians. Target: ≤ 5x the floor.
(b) re-sync with no change; floor: the start-up floor, a process that only imports the
    libraries syncline's design requires and the floor's driver (``import sqlalchemy,
    pydantic, typer, psycopg``; as ``bench.dav`` defines it, plus the driver). Target: the
    step's process ends ≤ 0.5 s after that.
(c) re-sync after ``--changes`` rows changed on a; floor: those updates made by a plain
    client. Target: ≤ 2 s.
(d) re-sync after ``--changes`` rows changed on each side, ``--conflicts`` of them the same
    rows (a wins); floor: the updates on both sides by a plain client. No target.
(e) Force Sync (a full run, ``syncline sync --full``) with nothing changed; floor: reading
    both tables with a plain client. Target: ≤ 3x the floor.

"run s" is the run's own duration (its summary's ``duration_s``), "process s" the whole
step process; the ratio is run s ÷ floor s, for (b) process s ÷ start-up floor. After (a)
the created count is checked, after (c) the modified count, after (d) and (e) that b holds
exactly a's rows; a wrong result stops the benchmark with exit 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.sql_data import COLUMNS, change_plan, email
from bench.sql_postgres import DEFAULT_SERVER as POSTGRES_SERVER
from bench.sql_postgres import PostgresDatabase, PostgresServer
from bench.sql_report import Step, render
from bench.sql_servers import BenchDatabase, SqliteDatabase
from bench.steps import run_step, startup_seconds

__all__ = ["STARTUP_IMPORTS", "Bench", "check_same_rows", "config_text", "main"]

STARTUP_IMPORTS = "import sqlalchemy, pydantic, typer"
"""The start-up floor's imports before the driver: the libraries syncline's design requires."""

_ENDPOINT = """
[endpoints.{name}]
connector = "sql"
url = "{url}"
[endpoints.{name}.streams.contact]
table = "{table}"
key = "id"
fields = {{ {fields} }}
"""

_LINK = """
[links.crm-books]
a = "crm"
b = "books"
streams = ["contact"]
direction = "both"
conflict = "a-wins"
match = { contact = ["email"] }
"""


def config_text(database: BenchDatabase, state_url: str) -> str:
    """The syncline config linking ``a`` (endpoint ``crm``) and ``b`` (``books``)."""
    fields = ", ".join(f'{column} = "{column}"' for column in COLUMNS)
    return (f'[state]\nurl = "{state_url}"\n'
            + _ENDPOINT.format(name="crm", url=database.url("a"), table="a", fields=fields)
            + _ENDPOINT.format(name="books", url=database.url("b"), table="b", fields=fields)
            + _LINK)


def check_same_rows(database: BenchDatabase, after: str) -> None:
    """Check that b holds exactly a's rows (their :data:`COLUMNS`; keys differ).

    Raises:
        SystemExit: it does not (``after`` names the step in the message).
    """
    if database.contents("a") != database.contents("b"):
        raise SystemExit(f"after {after}, b does not hold exactly a's rows")


class Bench:
    """One benchmark run: the databases, the state store and the steps (see the module
    docstring)."""

    def __init__(self, options: argparse.Namespace, folder: Path) -> None:
        self.options = options
        self.folder = folder
        needs_server = options.db == "postgresql" or options.state == "postgresql"
        self.postgres = PostgresServer(options.postgres) if needs_server else None
        self.database = self._database()

    def _database(self) -> BenchDatabase:
        if self.options.db == "postgresql":
            assert self.postgres is not None
            return PostgresDatabase(self.folder, self.options.key, self.postgres)
        if self.options.db == "mariadb":
            from bench.sql_mariadb import MariadbDatabase

            return MariadbDatabase(self.folder, self.options.key, self.options.mariadb)
        return SqliteDatabase(self.folder, self.options.key)

    def _state_url(self) -> str:
        if self.postgres is not None and self.options.state == "postgresql":
            return self.postgres.sqlalchemy_url("state")
        return f"sqlite:///{self.folder / 'state.db'}"

    def _fresh_state(self) -> None:
        if self.postgres is not None and self.options.state == "postgresql":
            self.postgres.create_database("state")
        for suffix in ("", "-wal", "-shm"):
            (self.folder / f"state.db{suffix}").unlink(missing_ok=True)

    def _sync(self, action: str = "sync") -> tuple[float, float, float, dict[str, Any]]:
        """One sync step: run seconds, process seconds, peak RSS MB and its stream counts."""
        process, rss, summary = run_step(self.folder, action)
        counts: dict[str, Any] = summary["streams"]["contact"]  # type: ignore[index]
        if summary.get("outcome") not in ("ok", "success", "warning", "warnings"):
            print(f"note: the {action} step's outcome is {summary.get('outcome')}: "
                  f"{summary.get('messages')}", file=sys.stderr)
        return float(summary["duration_s"]), process, rss or 0.0, counts  # type: ignore[arg-type]

    def _check(self, what: str, found: int, expected: int) -> None:
        if found != expected:
            raise SystemExit(f"{what}: {found:,}, not {expected:,}")

    def first_syncs(self) -> tuple[Step, str]:
        """(a), ``--runs`` times from an empty b and a new state store, and its floor."""
        options = self.options
        floors = [self.database.copy_floor() for _ in range(options.runs)]
        runs: list[tuple[float, float, float]] = []
        for number in range(options.runs):
            if number:
                self.database.reset_b()
            self._fresh_state()
            run_step(self.folder, "setup")
            seconds, process, rss, counts = self._sync()
            self._check("first sync created", counts["A"], options.records)
            runs.append((seconds, process, rss))
        floor = statistics.median(seconds for seconds, _ in floors)
        step = Step("(a) first sync a → empty b", options.records,
                    statistics.median(run[0] for run in runs),
                    statistics.median(run[1] for run in runs), floor,
                    max(run[2] for run in runs), "≤ 5x floor", 5.0, None)
        return step, f"(a) floor: {floors[0][1]}"

    def resyncs(self) -> list[Step]:
        """(b) to (e) and their floors (see the module docstring)."""
        options, database = self.options, self.database
        startup = startup_seconds(f"{STARTUP_IMPORTS}, {database.driver}")
        seconds, process, rss, counts = self._sync()
        self._check("no-change re-sync wrote", counts["A"] + counts["M"] + counts["D"], 0)
        steps = [Step("(b) re-sync, no change", options.records, seconds, process, startup,
                      rss, "≤ start-up + 0.5 s", None, 0.5)]
        plan = change_plan(options.records, options.changes, options.conflicts)
        keys_a = database.keys_by_email("a")
        floor = database.set_phones("a", [(keys_a[email(number)], f"+44 161 496 {number:07d}")
                                          for number in plan.only_a])
        seconds, process, rss, counts = self._sync()
        self._check("re-sync after changes on a modified", counts["M"], options.changes)
        steps.append(Step(f"(c) re-sync, {options.changes:,} changed on a", options.changes,
                          seconds, process, floor, rss, "≤ 2 s", None, None, limit=2.0))
        keys_b = database.keys_by_email("b")
        floor = database.set_phones("a", [(keys_a[email(number)], f"+44 113 496 {number:07d}")
                                          for number in plan.both_a])
        floor += database.set_phones("b", [(keys_b[email(number)],
                                            f"+44 117 496 {number:07d}")
                                           for number in plan.both_b])
        seconds, process, rss, counts = self._sync()
        self._check("re-sync after changes on both sides modified", counts["M"],
                    2 * options.changes - plan.conflicts)
        check_same_rows(self.database, "(d)")
        steps.append(Step(f"(d) re-sync, {options.changes:,} changed on each side, "
                          f"{plan.conflicts:,} conflicts", 2 * options.changes, seconds,
                          process, floor, rss, "-", None, None))
        floor = statistics.median(database.read_floor() for _ in range(options.runs))
        seconds, process, rss, counts = self._sync("full")
        self._check("Force Sync with nothing changed wrote",
                    counts["A"] + counts["M"] + counts["D"], 0)
        check_same_rows(self.database, "(e)")
        steps.append(Step("(e) Force Sync, no change", 2 * options.records, seconds, process,
                          floor, rss, "≤ 3x floor", 3.0, None))
        return steps

    def run(self) -> str:
        """Build, measure every step, and return the report (header, table, floors).

        Raises:
            SystemExit: a step failed or gave a wrong result.
        """
        options = self.options
        print(f"building {options.records:,} rows on {options.db} in {self.folder} ...",
              file=sys.stderr)
        self.database.create(options.records)
        (self.folder / "syncline.toml").write_text(config_text(self.database,
                                                               self._state_url()))
        load_before = os.getloadavg()[0]
        first, floor_note = self.first_syncs()
        steps = [first, *self.resyncs()]
        header = (f"bench.sql: {options.db} → {options.db}, {options.records:,} rows, key "
                  f"{options.key}, state store {options.state}; load average "
                  f"{load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; (a) "
                  f"and its floor: median of {options.runs} run(s)")
        floors = (f"{floor_note}; (b) floor: a process running "
                  f"'{STARTUP_IMPORTS}, {self.database.driver}'; "
                  f"(c), (d) floors: the same updates by a plain client; (e) floor: reading "
                  f"both tables with a plain client")
        return f"{header}\n\n{render(steps)}\n\n{floors}"

    def close(self) -> None:
        """Drop every database this run made on a server (the work folder, SQLite files
        included, is the caller's: ``--keep`` keeps them)."""
        if not isinstance(self.database, SqliteDatabase):
            self.database.drop()
        if self.postgres is not None:
            self.postgres.drop_all()


def main(arguments: list[str] | None = None) -> None:
    """Parse the options, run the benchmark, print its report."""
    parser = argparse.ArgumentParser(prog="python -m bench.sql", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("postgresql", "mariadb", "sqlite"), required=True)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--state", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--key", choices=("int", "uuid"), default="int")
    parser.add_argument("--runs", type=int, default=1,
                        help="runs of (a) and the floors; the table shows the median")
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--conflicts", type=int, default=100)
    parser.add_argument("--keep", type=Path, default=None,
                        help="work folder to keep (config, SQLite files); servers' databases "
                             "are dropped all the same")
    parser.add_argument("--postgres", default=POSTGRES_SERVER,
                        help=f"PostgreSQL server URL without a database ({POSTGRES_SERVER})")
    parser.add_argument("--mariadb", default="mysql+pymysql://root@127.0.0.1:3306",
                        help="MariaDB server URL without a database")
    options = parser.parse_args(arguments)
    folder = options.keep or Path(tempfile.mkdtemp(prefix="syncline-bench-sql-"))
    folder.mkdir(parents=True, exist_ok=True)
    bench = Bench(options, folder)
    try:
        print(bench.run())
    finally:
        bench.close()
        if options.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
