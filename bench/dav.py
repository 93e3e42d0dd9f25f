"""``python -m bench.dav``: syncline and vdirsyncer side by side on the same contact work.

Both tools run as a user runs them, one whole process per sync (start-up and imports count):
``.venv/bin/syncline sync`` and ``vdirsyncer sync``, vdirsyncer installed from PyPI into a
virtualenv of its own (see :mod:`bench.dav_tools`). For each row the table shows the median
seconds of ``--runs`` runs per tool, the row's floor (below) and syncline's time as a
multiple of it (``x floor``), the ratio vdirsyncer / syncline, the row's target and whether
it is met (computed from the figures), records/s and the peak RSS of each process:

(a) first sync of 10,000 realistic vCards, folder -> empty folder      target <= 1.3x floor
(b) re-sync, no change                                                 target <= 1.5x floor
(c) re-sync after 1% of the cards changed on one side                  target <= 1.5x floor
(d) re-sync after 1% of the cards deleted on one side                  target <= 1.5x floor
(e) first upload of 1,000 cards to an empty Radicale address book      target no slower
                                                                       than vdirsyncer
(f) re-sync, no change, with a 10,000-card Radicale address book       target <= 1.5x floor
(g) re-sync after 1% of those cards changed on the server              target <= 1.5x floor

Targets. Each row's target but (e)'s is syncline's median seconds / the floor's seconds
(``x floor``), with start-up counted as the floor counts it (the folder floors of (a)...(d)
are whole processes, start-up included; the server floors of (f), (g) count none); row (e)
is measured against vdirsyncer (``ratio`` = vdirsyncer s / syncline s at least 1). The ratio
to vdirsyncer is shown on every row all the same.

Floors. For each row the table gives the *floor*: the least time any client could take for
the row's work here, the least of ``--runs`` runs of the bare work, measured inside the same
rounds as the tools (so under the same load); and the *best ratio*: vdirsyncer's median
seconds / the floor's, the highest ratio to vdirsyncer any client could reach. A floor
target is attainable when it is at least 1x; a target against vdirsyncer above the best
ratio is not (``attainable NO``; ``met`` then says ``NO (target > best possible)``). How
each floor is measured (see :mod:`bench.dav_floors`):

- start-up floor (part of rows (a)...(d), also shown on its own): a whole process of the
  interpreter syncline runs on (``sys.executable``), timed as the tools are, that only does
  ``import sqlalchemy, pydantic, typer`` (the state store is SQLAlchemy Core; typer needs
  pydantic);
- (a): one such process that, after those imports, lists the source folder, reads the
  cards and writes each to a temporary file put into place in a fresh, empty folder (the
  work of an atomic writer: on Linux an unnamed ``O_TMPFILE`` file linked into place, as
  syncline's vdir connector does, else a named one renamed); the whole process is timed,
  so the floor is the start-up floor plus the copying, the interpreter start counted
  once. It runs first in each round, right after the preparation is synced to disk, and
  its writes are synced before the tools run. Creating 10,000 small files is mostly kernel
  time and can vary by 2x between identical runs, so this floor is the noisiest;
- (b)...(d): one such process that, after the imports, lists both 10,000-card folders with
  ``os.scandir`` and a ``stat`` of every file (copying or deleting the 1% of cards of (c),
  (d) is left out); first in each round;
- (e): the Radicale server taking the ``--upload`` PUTs of a bare HTTP client in the bench
  process into an empty book, one after the other; right after the tools in each round;
- (f): the server answering one RFC 6578 ``sync-collection`` REPORT with the previous
  answer's sync-token, asked by a bare HTTP client in the bench process: the issue asks a
  no-change re-sync to send that REPORT. For comparison the notes under the table also
  give one PROPFIND (Depth 0) of the book's ``CS:getctag``, found unchanged, measured in
  the same rounds: the least a client that may skip the REPORT would need;
- (g): the server answering that REPORT after the 1% change, plus the
  ``addressbook-multiget`` of the changed hrefs (the ctag would only add a request).

The server floors (e)...(g) count no process start-up (a client that stays running pays
none), and every floor leaves out what a real client must add (configuration, state,
checks): each is a lower bound: no client gets below 1x floor. A floor's figure is the least of
its runs (a lower bound: its slow runs say nothing about what is possible), from as few
runs as the tools and under the same noise: an ``x floor`` within about 20% of a target
settles nothing; raise ``--runs`` for such a row.

Rows (e)...(g) need the ``carddav`` connector and Radicale; without them they are reported
as skipped with the reason. Every measured sync is checked (the other side holds what it
should), so a tool cannot look fast by doing less.

Options: ``--cards N`` (default 10,000), ``--upload N`` (default 1,000), ``--runs N``
(default 3), ``--rows abcdefg`` (which rows), ``--keep DIR`` (work there and keep it), and
``--json FILE`` (also write the results as JSON).

Where the programs come from. syncline is the ``syncline`` console script of the
environment running the benchmark (``make bench`` uses ``.venv``). vdirsyncer is installed
from PyPI, on first use, into a virtualenv of its own: ``$SYNCLINE_BENCH_CACHE/vdirsyncer-venv``
(default ``~/.cache/syncline-bench/vdirsyncer-venv``; set ``SYNCLINE_BENCH_CACHE=/tmp/...`` for
a throw-away one). It is not a test or bench extra of syncline: vdirsyncer pins its own
versions of click, requests and aiohttp, which must not change what syncline is measured
with, and a cached virtualenv is not reinstalled on every run. The first version of 0.21,
0.20, 0.19 that installs is used (the issue measured 0.21); the table names it. Radicale is
``python -m radicale`` of syncline's environment (a test dependency), run as a subprocess
on 127.0.0.1 with htpasswd authentication (see :mod:`bench.dav_radicale`).

Measuring on a shared machine: the table's header gives the load average at the start and
the end; ratios are only comparable between runs made under similar load.

Usage: ``nice -n 10 .venv/bin/python -m bench.dav`` (about a quarter of an hour, most of it
Radicale taking the uploads of row (e)).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.dav_folders import FolderBench
from bench.dav_radicale import RadicaleBench
from bench.dav_rows import Row, render_table
from bench.dav_tools import (
    ToolFailed,
    child_environment,
    prepare_syncline,
    syncline_binary,
    vdirsyncer_binary,
)

__all__ = ["main"]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dav", description=__doc__.split(
        "\n", 1)[0])
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--upload", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", default="abcdefg")
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    work = options.keep or Path(tempfile.mkdtemp(prefix="syncline-bench-dav-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        syncline = syncline_binary()
        vdirsyncer, version = vdirsyncer_binary()
        prepare_syncline()
        environment = child_environment()
        _log(f"syncline: {syncline}; vdirsyncer {version}: {vdirsyncer}; work in {work}")
        rows: list[Row] = []
        if set(options.rows) & set("abcd"):
            folders = FolderBench(work / "folders", options.cards, options.runs,
                                  syncline=syncline, vdirsyncer=vdirsyncer,
                                  environment=environment, log=_log)
            rows += [row for row in folders.rows() if row.key in options.rows]
        if set(options.rows) & set("efg"):
            server = RadicaleBench(work / "radicale", options.cards, options.upload,
                                   options.runs, syncline=syncline, vdirsyncer=vdirsyncer,
                                   environment=environment, log=_log)
            rows += [row for row in server.rows(options.rows) if row.key in options.rows]
    except ToolFailed as error:
        _log(f"benchmark failed: {error}")
        return 1
    finally:
        if options.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nsyncline vs vdirsyncer {version}, {options.cards:,} vCards; load average "
          f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
          f"({os.cpu_count()} CPUs)\n")
    print(render_table(rows, options.runs))
    if options.json is not None:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps({"vdirsyncer": version, "runs": options.runs,
                                            "rows": [row.to_json() for row in rows]},
                                           indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
