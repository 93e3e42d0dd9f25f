"""One measured step of the benchmark, run in a process of its own:
``python -m bench.sync_step FOLDER setup|sync|full`` prints the run summary as JSON (``full``:
a full run, the Force Sync of ``syncline sync --full``). With ``BENCH_PROFILE=PREFIX`` in the
environment, each sync step is run under cProfile and its profile written to
``PREFIX-ACTION-PID.prof`` (for ``python -m pstats``); the step's timings then include the
profiler's overhead."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> None:
    from syncline.config import load_config
    from syncline.engine import RunMode, RunRequest, SyncEngine, open_endpoint
    from syncline.state import StateStore

    folder, action = Path(sys.argv[1]), sys.argv[2]
    config = load_config(folder / "syncline.toml")
    if action == "setup":
        for name in ("crm", "books"):
            connector = open_endpoint(config, name)
            connector.open()
            connector.setup(["contact"])
            connector.close()
        print("{}")
        return
    store = StateStore.open(config.resolve_url(config.state.url))
    mode = RunMode.FULL if action == "full" else RunMode.INCREMENTAL
    summary = SyncEngine(config, store).run(RunRequest("crm-books", mode)).to_json()
    summary["peak_rss_kb"] = _peak_rss_kb()
    print(json.dumps(summary))


def _peak_rss_kb() -> int | None:
    """This process's peak resident memory since it started (Linux ``VmHWM``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


if __name__ == "__main__":
    _prefix = os.environ.get("BENCH_PROFILE")
    if _prefix and sys.argv[2:3] != ["setup"]:
        import cProfile

        cProfile.run("main()", f"{_prefix}-{sys.argv[2]}-{os.getpid()}.prof")
    else:
        main()
