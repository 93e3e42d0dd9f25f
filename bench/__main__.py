"""``python -m bench`` (or ``make bench``): the core sync benchmark.

1,000,000 contacts, SQLite → SQLite, in one run:

(a) first sync; (b) re-sync with no change; (c) re-sync after 1,000 changes on side a;
(d) the same rows copied by a plain ``executemany`` in one transaction (the floor).

Each sync step runs as its own process (``python -m bench.sync_step``), so its peak RSS is
its own. (a) and (d) run ``--runs`` times (default 3; (a) from the same empty databases
each time) and the table shows the median; the header gives the load average at the start
and the end, as runs are only comparable under similar load. Options: ``--records N``
(default 1,000,000), ``--changes N`` (default 1,000), ``--keep DIR`` to keep the databases.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.steps import run_step

CONFIG = """\
[state]
url = "sqlite:///state.db"

[endpoints.crm]
connector = "sql"
url = "sqlite:///crm.db"
[endpoints.crm.streams.contact]
table = "people"
key = "person_id"
fields = {{ name = "full_name", email = "email_address", phone = "phone" }}

[endpoints.books]
connector = "sql"
url = "sqlite:///books.db"
[endpoints.books.streams.contact]
table = "customers"
key = "cust_no"
fields = {{ name = "name", email = "email", phone = "tel" }}

[links.crm-books]
a = "crm"
b = "books"
streams = ["contact"]
direction = "both"
conflict = "newest"
match = {{ contact = ["email"] }}
{batch_size}"""


@dataclass
class Step:
    """One row of the table. ``seconds`` is the run's own duration (what the targets
    measure); ``process_seconds`` the whole process, start-up and imports included."""

    name: str
    records: int
    seconds: float
    process_seconds: float | None
    peak_rss_mb: float | None
    target: str
    met: bool | None


def _people(count: int) -> Iterator[tuple[int, str, str, str]]:
    """Realistic contact rows, generated lazily (the parent process stays small, so the
    forked steps' memory is their own)."""
    first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken",
             "Margaret", "Niklaus", "Radia", "Tim", "Hedy", "John", "Katherine", "Linus"]
    last = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
            "Hamilton", "Wirth", "Perlman", "Berners-Lee", "Lamarr", "Backus", "Johnson"]
    return ((number, f"{first[number % 16]} {last[number % 15]}",
             f"{first[number % 16].lower()}.{number}@example.com",
             f"+44 20 7946 {number % 10_000_000:07d}")
            for number in range(1, count + 1))


def build(folder: Path, count: int, batch_size: int | None) -> None:
    """Create crm.db with ``count`` people, an empty books.db and syncline.toml (with the
    link's ``batch_size`` when given; by default the connectors' preference)."""
    crm = sqlite3.connect(folder / "crm.db")
    crm.execute("CREATE TABLE people (person_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL,"
                " email_address TEXT, phone TEXT)")
    crm.executemany("INSERT INTO people VALUES (?, ?, ?, ?)", _people(count))
    crm.commit()
    crm.close()
    books = sqlite3.connect(folder / "books.db")
    books.execute("CREATE TABLE customers (cust_no INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                  " email TEXT, tel TEXT)")
    books.commit()
    books.close()
    setting = f"batch_size = {batch_size}\n" if batch_size is not None else ""
    (folder / "syncline.toml").write_text(CONFIG.format(batch_size=setting))


def change_side_a(folder: Path, count: int, changes: int) -> None:
    crm = sqlite3.connect(folder / "crm.db")
    step = max(1, count // changes)
    crm.executemany("UPDATE people SET phone = ? WHERE person_id = ?",
                    [(f"+44 161 496 {n:04d}", n) for n in range(1, count + 1, step)][:changes])
    crm.commit()
    crm.close()


def first_sync(folder: Path, records: int, fresh: bool) -> tuple[float, float, float]:
    """One first sync (a): run seconds, process seconds and peak RSS in MB. With ``fresh``,
    books.db and the state store go back to how the first run found them first.

    Raises:
        SystemExit: the sync did not create every record.
    """
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            (folder / f"state.db{suffix}").unlink(missing_ok=True)
            (folder / f"books.db{suffix}").unlink(missing_ok=True)
        shutil.copy(folder / "books.empty.db", folder / "books.db")
    else:
        shutil.copy(folder / "books.db", folder / "books.empty.db")
    process, rss, summary = run_step(folder, "sync")
    created = summary["streams"]["contact"]["A"]  # type: ignore[index]
    if created != records:
        raise SystemExit(f"first sync created {created} records, not {records}")
    return float(summary["duration_s"]), process, rss or 0.0  # type: ignore[arg-type]


def floor(folder: Path) -> float:
    """The same rows copied by one executemany in one transaction (read included)."""
    target = folder / "floor.db"
    target.unlink(missing_ok=True)
    books = sqlite3.connect(target)
    books.execute("CREATE TABLE customers (cust_no INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                  " email TEXT, tel TEXT)")
    books.commit()
    started = time.perf_counter()
    crm = sqlite3.connect(folder / "crm.db")
    rows = crm.execute("SELECT full_name, email_address, phone FROM people").fetchall()
    books.executemany("INSERT INTO customers (name, email, tel) VALUES (?, ?, ?)", rows)
    books.commit()
    seconds = time.perf_counter() - started
    crm.close()
    books.close()
    return seconds


def table(steps: list[Step]) -> str:
    lines = ["| step | records | run s | process s | records/s | peak RSS MB | target | met |",
             "|---|---:|---:|---:|---:|---:|---|---|"]
    for step in steps:
        rate = f"{step.records / step.seconds:,.0f}" if step.seconds else "-"
        rss = f"{step.peak_rss_mb:,.0f}" if step.peak_rss_mb is not None else "-"
        met = "-" if step.met is None else ("yes" if step.met else "NO")
        process = f"{step.process_seconds:.2f}" if step.process_seconds is not None else "-"
        lines.append(f"| {step.name} | {step.records:,} | {step.seconds:.2f} | {process} | "
                     f"{rate} | {rss} | {step.target} | {met} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="the link's batch_size (default: the connectors' preference)")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of (a) and (d); the table shows the median")
    options = parser.parse_args()
    folder = options.keep or Path(tempfile.mkdtemp(prefix="syncline-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("crm.db", "books.db", "books.empty.db", "state.db", "floor.db"):
        for suffix in ("", "-wal", "-shm"):
            (folder / f"{name}{suffix}").unlink(missing_ok=True)
    try:
        print(f"building {options.records:,} contacts in {folder} ...", file=sys.stderr)
        build(folder, options.records, options.batch_size)
        run_step(folder, "setup")
        load_before = os.getloadavg()[0]
        floor_seconds = statistics.median(floor(folder) for _ in range(options.runs))
        firsts = [first_sync(folder, options.records, fresh=number > 0)
                  for number in range(options.runs)]
        first = statistics.median(run[0] for run in firsts)
        first_process = statistics.median(run[1] for run in firsts)
        first_rss = max(run[2] for run in firsts)  # the RSS target holds for every run
        again_process, again_rss, summary = run_step(folder, "sync")
        again = float(summary["duration_s"])  # type: ignore[arg-type]
        change_side_a(folder, options.records, options.changes)
        changed_process, changed_rss, summary = run_step(folder, "sync")
        changed = float(summary["duration_s"])  # type: ignore[arg-type]
        modified = summary["streams"]["contact"]["M"]  # type: ignore[index]
        if modified != options.changes:
            raise SystemExit(f"re-sync modified {modified} records, not {options.changes}")
        steps = [
            Step("(a) first sync", options.records, first, first_process, first_rss,
                 f"<= 4x floor ({4 * floor_seconds:.1f} s), RSS < 400 MB",
                 first <= 4 * floor_seconds and (first_rss or 0) < 400),
            Step("(b) re-sync, no change", options.records, again, again_process, again_rss,
                 "< 0.5 s", again < 0.5),
            Step(f"(c) re-sync, {options.changes:,} changed on a", options.changes, changed,
                 changed_process, changed_rss, "< 2 s", changed < 2.0),
            Step("(d) floor: one executemany", options.records, floor_seconds, None, None,
                 "-", None),
        ]
        print(f"load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the "
              f"end; (a) and (d): median of {options.runs} runs, peak RSS of (a): the largest")
        print(table(steps))
        print(f"\nfirst sync / floor = {first / floor_seconds:.2f}x "
              f"(runs of (a): {', '.join(f'{run[0]:.2f}' for run in firsts)} s)")
    finally:
        if options.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
