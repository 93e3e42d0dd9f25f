"""A real ``syncline sync`` process posting invoices to the Xero SANDBOX, killed with SIGKILL
while its write requests are in flight, then started again: every invoice ends in Xero
exactly once (the engine's intents, the connector's recorded requests and Xero's idempotency
keys together), and the order system's invoices all end mapped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from engine.rules_support import Line, Order
from sandbox.xero_posting_support import LINK, build_xero_world
from sandbox.xero_support import running_sandbox
from syncline.sandbox.xero import Limits
from syncline.state.store import StateStore

SYNCLINE = str(Path(sys.executable).with_name("syncline"))
ORDERS = 120


def test_a_killed_post_resumes_without_doubles_or_loss(tmp_path: Path) -> None:
    orders = [Order(f"INV-{7000 + n}", 1 + n % 3, [Line("WIDGET-01", Decimal(1 + n % 4))])
              for n in range(ORDERS)]
    with running_sandbox(limits=Limits(scale=600.0), latency=0.15) as (xero, server):
        world = build_xero_world(tmp_path, xero, server.url, orders=orders, batch_size=4)
        world.store.close()
        command = [SYNCLINE, "--config", str(tmp_path / "syncline.toml"), "sync", LINK]

        def posted() -> int:
            return sum(1 for entry in xero.store.log_entries()
                       if entry["path"].endswith("/Invoices") and entry["method"] == "POST"
                       and entry["status"] == 200)

        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if posted() >= 8:
                    os.kill(process.pid, signal.SIGKILL)
                    break
                time.sleep(0.01)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"
        killed_at = len(world.invoices())
        assert 0 < killed_at < ORDERS, killed_at

        outputs = []
        for _ in range(3):  # resume; what was never sent goes as pending with the next run
            result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                    check=False)
            outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, outputs
        numbers = Counter(invoice["InvoiceNumber"] for invoice in world.xero("Invoices"))
        assert sorted(numbers) == sorted(order.number for order in orders)
        assert set(numbers.values()) == {1}, [n for n, c in numbers.items() if c > 1]
        # requests answered before the kill were not applied a second time
        keys = Counter(entry["idempotency_key"] for entry in xero.store.log_entries()
                       if entry["status"] == 200 and not entry["replayed"]
                       and entry["idempotency_key"])
        assert set(keys.values()) == {1}
        world.store = StateStore.open(world.config.resolve_url(world.config.state.url))
        assert world.store.pending_items(LINK) == []
        quiet = world.sync()
        assert quiet.streams["invoice"].A == 0 and quiet.streams["invoice"].errors == 0
        assert len(world.xero("Invoices")) == ORDERS
        world.close()
