"""One measured step of the benchmark, run in a process of its own:
``python -m bench.sync_step FOLDER setup|sync`` prints the run summary as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    from syncline.config import load_config
    from syncline.engine import RunRequest, SyncEngine, open_endpoint
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
    summary = SyncEngine(config, store).run(RunRequest("crm-books")).to_json()
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
    main()
