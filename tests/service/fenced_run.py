"""One run of a link under its run lock with a chosen lease time, as a process:
``python fenced_run.py CONFIG LINK TTL``.

Prints ``ran RUN_ID OUTCOME`` and exits 0 when the run ends; on a run error prints the
error's message on stderr and exits with its exit code (3 for LeaseLost).
"""

from __future__ import annotations

import logging
import sys

from syncline.config import load_config
from syncline.errors import RunError
from syncline.service import RunRequest, run_link
from syncline.service.lock import holder_text
from syncline.state.store import StateStore


def main() -> None:
    path, link, ttl = sys.argv[1], sys.argv[2], float(sys.argv[3])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    config = load_config(path)
    store = StateStore.open(config.resolve_url(config.state.url))
    try:
        summary = run_link(config, store, RunRequest(link),
                           holder=holder_text("fenced_run.py", None), ttl=ttl, notify=False)
    except RunError as error:
        print(f"run error: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)
    finally:
        store.close()
    print(f"ran {summary.run_id} {summary.outcome.value}", flush=True)


if __name__ == "__main__":
    main()
