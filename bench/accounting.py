"""``python -m bench.accounting``: post invoices to the Xero SANDBOX through the xero connector.

The sandbox is started as its own process (``syncline sandbox xero``) with Xero's limits per
organisation (60 calls a minute, 5 at once, 5000 a day) on a clock sped up by
``--rate-scale`` (a "minute" lasts ``60 / scale`` seconds). A memory "order system" holding
one customer and N invoices (default 5,000) is synced by the engine to the sandbox through
the xero connector (authorised through the sandbox's OAuth flow), which sends
``--batch-size`` invoices per request (default 50, Xero's recommendation) and keeps to the
limits with its own client-side limiter (told the same time scale).

Reported (times from the sandbox's own request log, ``GET /sandbox/log``, first call to
last): invoices per simulated minute against the ceiling the limits allow (calls per minute
x batch size); the least time the limits allow for the calls made (a sliding window lets the
first minute's calls go at once, so a run of a minute or two can pass the per-minute
ceiling: ``limit_efficiency`` = that least time / the time taken is the fair figure there);
and every 429, with whether the next try of the same call (same idempotency key) came at
least the ``Retry-After`` it asked for later. (With calls in flight at once, those already
on their way when a 429 comes back may be answered 429 too; the client holds back every
further call of the tenant for the wait, and retries each refused call after it.)

``--per-minute N`` sets the server's limit (and the client's): with 10, 5,000 invoices span
ten windows and the per-minute figure is meaningful. ``--client-per-minute N`` tells the
client a looser limit than the server's, to watch 429 + Retry-After handling under load.
Options: ``--invoices N``, ``--rate-scale S`` (default 2: a minute lasts 30 s; at much
higher scales the sandbox's own work per call, compressed with the clock, rather than the
limits decides the time), ``--batch-size N``, ``--client-concurrent N`` (requests the client
keeps in flight, default 5 as Xero allows), ``--json``.
"""

from __future__ import annotations

import argparse
import json
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
from syncline.connectors.xero import XeroConnector
from syncline.engine import RunRequest, SyncEngine
from syncline.sandbox import free_port
from syncline.state.store import StateStore

PER_MINUTE = 60


def start_sandbox(port: int, scale: float, per_minute: int) -> subprocess.Popen[str]:
    """Start ``syncline sandbox xero`` on ``port`` and wait until it answers."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from syncline.cli.main import main; main()", "sandbox", "xero",
         "--port", str(port), "--rate-scale", str(scale), "--per-minute", str(per_minute)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/sandbox", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the Xero sandbox did not start")


def authorize(url: str, folder: Path, settings: dict[str, Any]) -> None:
    """Store a token for the endpoint through the sandbox's OAuth flow (what
    ``syncline auth books --follow`` does)."""
    connector = XeroConnector("books", settings, folder)
    authorization, state = connector.tokens.authorization_url()
    redirect = httpx.get(authorization, follow_redirects=False)
    connector.tokens.complete(redirect.headers["location"], state=state)
    connector.close()


def run(invoices: int, scale: float, batch_size: int, per_minute: int,
        client_per_minute: int, client_concurrent: int = 5) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_sandbox(port, scale, per_minute)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-xero-") as name:
            folder = Path(name)
            (folder / "secret.key").write_bytes(Fernet.generate_key())
            books = {"client_id": "sandbox-client", "client_secret": "sandbox-secret",
                     "sandbox_url": url, "tenant": "Sandbox Company A (UK)",
                     "key_file": str(folder / "secret.key"),
                     "redirect_uri": "http://localhost/callback", "batch_size": batch_size,
                     "streams": ["contact", "invoice"],
                     "limits": {"time_scale": scale, "per_minute": client_per_minute,
                                "concurrent": client_concurrent}}
            authorize(url, folder, books)
            crm_name = f"bench-crm-{uuid.uuid4().hex}"
            crm = shared_store(crm_name)
            crm.put("contact", "buyer", {"name": "Bench Customer", "email": "ap@bench.example"})
            for n in range(invoices):
                crm.put("invoice", f"o{n}", {
                    "number": f"B-{n:05d}", "contact": "buyer", "status": "AUTHORISED",
                    "date": date(2026, 11, 1 + n % 28),
                    "lines": [{"description": f"line {n}", "quantity": Decimal(1 + n % 4),
                               "unit_price": Decimal("19.99"), "ledger_account": "200",
                               "tax_rate": "OUTPUT2"}]})
            config = parse_config({"endpoints": {
                "crm": {"connector": "memory", "name": crm_name, "streams": {
                    "contact": {"fields": ["name", "email"]},
                    "invoice": {"fields": ["number", "contact", "date", "status", "lines"]}}},
                "books": {"connector": "xero", **books}},
                "links": {"post": {"a": "crm", "b": "books",
                                   "streams": ["contact", "invoice"],
                                   "direction": "a-to-b"}}}, base_dir=folder)
            store = StateStore.open(f"sqlite:///{folder}/state.db")
            summary = SyncEngine(config, store).run(RunRequest("post"))
            store.close()
            counts = summary.streams["invoice"]
            if invoices != counts.A or counts.errors:
                raise SystemExit(f"not every invoice went: {summary.to_json()}")
        log = httpx.get(f"{url}/sandbox/log", timeout=30).json()
    finally:
        process.terminate()
        process.wait(timeout=10)
    tenant_log = [entry for entry in log if entry["tenant"]]
    late = 0
    for index, entry in enumerate(tenant_log):
        if entry["status"] == 429:
            retry = _next_try(tenant_log, index)
            if retry is None or retry["arrived"] < entry["finished"] + entry["retry_after"]:
                late += 1
    answered = [entry for entry in tenant_log if entry["status"] != 429]
    minute = 60.0 / scale
    elapsed = tenant_log[-1]["finished"] - tenant_log[0]["arrived"]
    simulated_minutes = elapsed / minute
    # a sliding window lets calls 1..P go at once, P+1..2P one minute later, and so on
    minimum_minutes = (len(answered) - 1) // per_minute
    ceiling = per_minute * batch_size
    rate = invoices / simulated_minutes
    return {"invoices": invoices, "batch_size": batch_size, "per_minute": per_minute,
            "client_per_minute": client_per_minute, "client_concurrent": client_concurrent,
            "rate_scale": scale,
            "seconds": round(elapsed, 2), "simulated_minutes": round(simulated_minutes, 3),
            "invoices_per_minute": round(rate), "ceiling_per_minute": ceiling,
            "share_of_ceiling": round(rate / ceiling, 3),
            "calls_answered": len(answered),
            "minimum_minutes_the_limits_allow": minimum_minutes,
            "limit_efficiency": round(minimum_minutes / simulated_minutes, 3)
            if minimum_minutes else None,
            "http_429": sum(e["status"] == 429 for e in tenant_log),
            "http_429_without_requested_wait": late}


def _next_try(log: list[dict[str, Any]], index: int) -> dict[str, Any] | None:
    """The next try of the call answered 429 at ``log[index]``: the next call with the same
    idempotency key (writes), or the same method and path (reads)."""
    refused = log[index]
    for entry in log[index + 1:]:
        if refused["idempotency_key"]:
            if entry["idempotency_key"] == refused["idempotency_key"]:
                return entry
        elif (entry["method"], entry["path"]) == (refused["method"], refused["path"]):
            return entry
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=5000)
    parser.add_argument("--rate-scale", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--per-minute", type=int, default=PER_MINUTE)
    parser.add_argument("--client-per-minute", type=int, default=None)
    parser.add_argument("--client-concurrent", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    figures = run(arguments.invoices, arguments.rate_scale, arguments.batch_size,
                  arguments.per_minute, arguments.client_per_minute or arguments.per_minute,
                  arguments.client_concurrent)
    if arguments.json:
        print(json.dumps(figures))
        return
    for name, value in figures.items():
        print(f"{name:36} {value}")


if __name__ == "__main__":
    main()
