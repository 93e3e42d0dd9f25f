"""``syncline`` with one more connector type, ``gated``: a memory connector whose reads
wait until a gate file exists, so that a test can signal ``syncline serve`` while a run
is going on. Run as ``python slow_serve.py serve --config ...``.

The connector's settings: ``gate`` (the file to wait for) and ``started`` (a file it
creates when a read begins), besides the memory connector's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from syncline import connectors
from syncline.connectors.base import ReadScope
from syncline.connectors.memory import MemoryConnector
from syncline.model import Record


class GatedConnector(MemoryConnector):
    """See the module docstring."""

    type_name = "gated"

    def read_all(self, stream: str, scope: ReadScope) -> Iterator[list[Record]]:
        Path(self.settings["started"]).touch()
        gate = Path(self.settings["gate"])
        while not gate.exists():  # a slow system: the run goes on until the test opens it
            time.sleep(0.05)
        yield from super().read_all(stream, scope)


if __name__ == "__main__":
    connectors._BUILT_IN["gated"] = "__main__:GatedConnector"
    from syncline.cli.main import main

    main()
