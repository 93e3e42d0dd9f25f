"""A process that holds a link's run lock until told: ``python hold_lock.py URL LINK``.

Prints ``held`` once it holds the lock, then waits for a line on stdin; on ``release`` it
releases the lock, prints ``released`` and exits; on ``die`` it ends at once without
releasing (as a crashed process would).
"""

from __future__ import annotations

import os
import sys

from syncline.service.lock import RunLock, holder_text
from syncline.state.store import StateStore


def main() -> None:
    url, link = sys.argv[1], sys.argv[2]
    store = StateStore.open(url)
    lock = RunLock(store, link, holder=holder_text("hold_lock.py", "tester"), ttl=600)
    lock.acquire()
    print("held", flush=True)
    command = sys.stdin.readline().strip()
    if command == "die":
        os._exit(9)
    lock.release()
    store.close()
    print("released", flush=True)


if __name__ == "__main__":
    main()
