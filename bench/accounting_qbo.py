"""``python -m bench.accounting_qbo``: post invoices to the QuickBooks Online SANDBOX.

A memory "order system" holding one customer and N invoices (default 5,000) is synced by the
engine to the QBO sandbox, started as its own process by ``syncline sandbox qbo`` with QBO's
limits (500 requests per minute, 10 at once) on a clock sped up by ``--rate-scale`` (a
"minute" lasts ``60 / scale`` seconds). The connector posts through the batch endpoint,
30 invoices per request, up to 10 requests at once.

Reported: invoices per (simulated) minute against the ceiling the limits allow
(requests per minute x 30; a run of a few minutes can pass it a little, as a sliding window
grants its first minute's budget at once), the share of the request budget used (requests
answered / (windows the run touched x requests per minute)), and every HTTP 429 with whether
the next try of the same request came at least the ``Retry-After`` it asked for later (from
the sandbox's own request log, ``GET /_sandbox/requests``).

Why 40 requests per minute by default: 5,000 invoices take only 167 batch requests, fewer
than QBO's general 500 per minute, so at 500 the limit never binds and the run measures the
sandbox's own speed. Intuit's batch guideline is 40 batch requests per minute; with it the
run spans several windows and the figure says how close the connector gets to the limit.
``--per-minute 500 --rate-scale 60`` shows the other regime.

Options: ``--invoices N``, ``--rate-scale S`` (default 12: a minute lasts 5 s),
``--per-minute N`` (default 40), ``--concurrent N`` (default 10), ``--json`` (one JSON
line instead of the table).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from syncline.config import parse_config
from syncline.connectors.memory import shared_store
from syncline.engine import RunRequest, SyncEngine
from syncline.sandbox import free_port
from syncline.state.store import StateStore

BATCH = 30


def start_sandbox(port: int, scale: float, per_minute: int, concurrent: int
                  ) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start ``syncline sandbox qbo`` and read what it prints (realm, client, token)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from syncline.cli.main import main; main()", "sandbox", "qbo",
         "--port", str(port), "--rate-scale", str(scale), "--per-minute", str(per_minute),
         "--concurrent", str(concurrent)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    found: dict[str, str] = {}
    for line in process.stdout:
        name, _, value = line.strip().partition("=")
        if value:
            found[name.strip()] = value.strip().split()[0]
        if "limits" in found:
            break
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process, found
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the QBO sandbox did not start")


def check_waits(records: list[dict[str, Any]]) -> tuple[int, int]:
    """(429 answers, those whose next try of the same request came too early)."""
    throttled = [r for r in records if r["status"] == 429]
    early = 0
    for refused in throttled:
        later = [r for r in records if r["request_id"] == refused["request_id"]
                 and r["arrived"] > refused["arrived"]]
        if not later or later[0]["arrived"] - refused["arrived"] \
                < refused["retry_after"] - 0.001:
            early += 1
    return len(throttled), early


def run(invoices: int, scale: float, per_minute: int, concurrent: int) -> dict[str, Any]:
    os.environ.setdefault("SYNCLINE_SECRET_KEY", Fernet.generate_key().decode())
    port = free_port()
    process, printed = start_sandbox(port, scale, per_minute, concurrent)
    minute = 60.0 / scale
    try:
        with tempfile.TemporaryDirectory(prefix="bench-qbo-") as folder:
            crm_name = f"bench-crm-{uuid.uuid4().hex}"
            crm = shared_store(crm_name)
            crm.put("contact", "buyer", {"name": "Buyer Ltd", "email": "buyer@example.com"})
            for n in range(invoices):
                crm.put("invoice", f"o{n}", {
                    "number": f"SO-{n:06d}", "contact": "buyer", "date": date(2026, 11, 2),
                    "lines": [{"description": "Consulting", "item": "13",
                               "quantity": Decimal(1 + n % 4), "unit_price": Decimal(100),
                               "line_amount": Decimal(100 * (1 + n % 4))}]})
            base = f"http://127.0.0.1:{port}"
            raw = {"endpoints": {
                "crm": {"connector": "memory", "name": crm_name, "streams": {
                    "contact": {"fields": ["name", "email"]},
                    "invoice": {"fields": ["number", "contact", "date", "lines"]}}},
                "books": {"connector": "qbo", "realm_id": printed["realm_id"],
                          "client_id": printed["client_id"],
                          "client_secret": printed["client_secret"],
                          "refresh_token": printed["refresh_token"], "base_url": base,
                          "token_url": f"{base}/oauth2/v1/tokens/bearer",
                          "streams": ["contact", "invoice"],
                          "requests_per_minute": per_minute, "concurrent": concurrent,
                          "minute_seconds": minute, "vault": f"{folder}/vault.json",
                          "state_dir": f"{folder}/qbo"}},
                "links": {"post": {"a": "crm", "b": "books", "streams": ["contact", "invoice"],
                                   "direction": "a-to-b", "match": {"contact": ["email"]}}}}
            config = parse_config(raw, base_dir=Path(folder))
            store = StateStore.open(f"sqlite:///{folder}/state.db")
            started = time.perf_counter()
            summary = SyncEngine(config, store).run(RunRequest("post"))
            seconds = time.perf_counter() - started
            store.close()
        log = httpx.get(f"{base}/_sandbox/requests").json()["requests"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    api = [r for r in log if "/v3/company/" in r["path"]]
    batches = sorted(r["arrived"] for r in api
                     if r["path"].endswith("/batch") and r["status"] == 200)
    throttled, early = check_waits(api)
    posted = summary.streams["invoice"].A
    ceiling = per_minute * BATCH
    admitted = [r for r in api if r["status"] != 429]
    span = (admitted[-1]["arrived"] - admitted[0]["arrived"]) if admitted else 0.0
    windows = math.floor(span / minute) + 1
    rate = posted / (seconds / minute)
    return {"invoices": invoices, "posted": posted,
            "errors": summary.streams["invoice"].errors, "seconds": round(seconds, 2),
            "minute_seconds": round(minute, 3),
            "simulated_minutes": round(seconds / minute, 3),
            "invoices_per_minute": round(rate), "ceiling_per_minute": ceiling,
            "share_of_ceiling": round(rate / ceiling, 3),
            "request_budget_used": round(len(admitted) / (windows * per_minute), 3),
            "requests": len(api), "batch_requests": len(batches), "http_429": throttled,
            "429_followed_too_early": early, "per_minute": per_minute,
            "concurrent": concurrent, "rate_scale": scale}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=5000)
    parser.add_argument("--rate-scale", type=float, default=12.0)
    parser.add_argument("--per-minute", type=int, default=40)
    parser.add_argument("--concurrent", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    result = run(options.invoices, options.rate_scale, options.per_minute, options.concurrent)
    if options.json:
        print(json.dumps(result))
        return
    print("QuickBooks Online SANDBOX: posting invoices through batch")
    for name, value in result.items():
        print(f"  {name:24} {value}")


if __name__ == "__main__":
    main()
