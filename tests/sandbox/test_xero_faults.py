"""The order system posting to the Xero SANDBOX through a fault-injecting proxy
(``connectors.fault_proxy``): transient failures are retried within the run's budget, writes
whose answers were lost after Xero committed them are settled by their idempotency keys
(never written twice, never a false conflict or a rewrite), a 500 from ``/connections`` is
reported as the server failing, not as refused credentials, and after the faults stop one
more sync journals nothing. Backoffs are short (the endpoint's ``retries`` settings);
everything runs on 127.0.0.1."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.fault_proxy import FaultyProxy
from engine.rules_support import Line, Order
from sandbox.xero_posting_support import XeroWorld, build_xero_world
from sandbox.xero_support import running_sandbox
from syncline.config import load_config
from syncline.engine import RunOutcome
from syncline.errors import AuthenticationFailed, EndpointUnavailable
from syncline.sandbox.xero import Limits

ORDERS = [Order(f"INV-{8000 + n}", 1 + n % 3, [Line("WIDGET-01", Decimal(1 + n % 4))])
          for n in range(24)]


def _retries(world: XeroWorld, setting: str) -> None:
    """Give the books endpoint the ``retries`` table ``setting`` (TOML inline table)."""
    path = world.folder / "syncline.toml"
    text = re.sub(r"retries = \{[^}]*\}\n\n", "", path.read_text(encoding="utf-8"))
    path.write_text(text.replace("[links.crm-books]\n", f"retries = {setting}\n\n"
                                 "[links.crm-books]\n", 1), encoding="utf-8")
    world.config = load_config(path)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[XeroWorld, FaultyProxy]]:
    with running_sandbox(limits=Limits(scale=600.0)) as (xero, server), \
            FaultyProxy(server.url) as proxy:
        proxy.retry_after, proxy.stall = 0.1, 1.0
        made = build_xero_world(tmp_path, xero, proxy.url.rstrip("/"), orders=ORDERS,
                                batch_size=4)
        _retries(made, "{ retries = 200, max_wait = 30, backoff = 0.01, max_backoff = 0.1 }")
        yield made, proxy
        made.close()


def _invoice_writes(method: str, path: str) -> bool:
    return method in ("PUT", "POST") and "/Invoices" in path


def _settled(world: XeroWorld, proxy: FaultyProxy) -> None:
    """The faults stop; one more sync journals nothing, every order is one invoice, and no
    idempotency key was applied twice."""
    proxy.calm()
    quiet = world.sync()
    assert quiet.outcome is RunOutcome.OK, quiet.messages
    assert world.store.journal("crm-books", run_id=quiet.run_id) == []
    numbers = Counter(invoice["InvoiceNumber"] for invoice in world.xero("Invoices"))
    assert sorted(numbers) == sorted(order.number for order in ORDERS)
    assert set(numbers.values()) == {1}
    applied = Counter(entry["idempotency_key"] for entry in world.sandbox.store.log_entries()
                      if entry["status"] == 200 and not entry["replayed"]
                      and entry["idempotency_key"])
    assert set(applied.values()) <= {1}


def _counts(summary: Any) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counts in summary.streams.values():
        total.update(counts.to_json())
    return dict(total)


@pytest.mark.parametrize("fault", ["500-after", "drop-after", "500", "503", "429", "drop",
                                   "truncate"])
def test_lost_and_refused_writes_are_retried_with_their_keys(
        world: tuple[XeroWorld, FaultyProxy], fault: str) -> None:
    books, proxy = world
    proxy.inject(*[fault] * 4, when=_invoice_writes)
    first = books.sync()
    assert first.outcome in (RunOutcome.OK, RunOutcome.WARNING), first.messages
    assert len(proxy.faulted) == 4
    assert len(ORDERS) == first.streams["invoice"].A
    # an edit in the order system goes as an update whose answers are lost too
    books.execute("UPDATE order_lines SET description = 'Widgets (blue)' WHERE order_id IN "
                  "(SELECT order_id FROM orders WHERE order_no IN ('INV-8001', 'INV-8002'))")
    proxy.inject(fault, when=_invoice_writes)
    second = books.sync()
    assert second.outcome in (RunOutcome.OK, RunOutcome.WARNING), second.messages
    counts = _counts(second)
    assert (counts["M"], counts["conflicts"], counts["errors"]) == (2, 0, 0), counts
    _settled(books, proxy)


def test_answers_lost_beyond_the_budget_cause_no_conflict_and_no_rewrite(
        world: tuple[XeroWorld, FaultyProxy]) -> None:
    """No retries at all: the first run fails on a write Xero applied (its answer lost),
    with the real cause; the next clean run settles it from its idempotency key, and
    journals no conflict and no rewrite."""
    books, proxy = world
    _retries(books, "{ attempts = 1 }")
    proxy.inject("500-after", when=_invoice_writes)
    with pytest.raises(EndpointUnavailable) as raised:
        books.sync()
    assert "the server failed (500 Internal Server Error)" in str(raised.value)
    assert "credentials" not in str(raised.value)
    recovered = books.sync()
    assert recovered.outcome in (RunOutcome.OK, RunOutcome.WARNING), recovered.messages
    counts = _counts(recovered)
    assert (counts["M"], counts["R"], counts["conflicts"]) == (0, 0, 0), counts
    assert not [row for row in books.store.journal("crm-books", limit=None)
                if "conflict" in str(row.get("message") or "")]
    # the same for updates: applied, the answer lost, the run ends; the next one settles
    books.execute("UPDATE order_lines SET description = 'Widgets (green)' WHERE order_id <= 8")
    proxy.inject("500-after", when=_invoice_writes)
    with pytest.raises(EndpointUnavailable):
        books.sync()
    recovered = books.sync()
    assert recovered.outcome in (RunOutcome.OK, RunOutcome.WARNING), recovered.messages
    counts = _counts(recovered)
    assert (counts["R"], counts["conflicts"]) == (0, 0), counts
    _settled(books, proxy)


def test_a_fault_rate_is_survived_and_the_end_is_exact(
        world: tuple[XeroWorld, FaultyProxy]) -> None:
    books, proxy = world
    proxy.chaos(0.12, ("500", "502", "503", "504", "429", "drop", "500-after", "drop-after",
                       "truncate"), seed=14)
    summary = books.sync()
    assert summary.outcome in (RunOutcome.OK, RunOutcome.WARNING), summary.messages
    books.execute("UPDATE order_lines SET description = 'Widgets (red)' WHERE order_id <= 6")
    summary = books.sync()
    assert summary.outcome in (RunOutcome.OK, RunOutcome.WARNING), summary.messages
    assert _counts(summary)["conflicts"] == 0
    assert len(proxy.faulted) >= 3
    _settled(books, proxy)


def _connections(method: str, path: str) -> bool:
    return path.startswith("/connections")


def test_a_failing_connections_call_is_the_server_failing_not_our_credentials(
        world: tuple[XeroWorld, FaultyProxy]) -> None:
    books, proxy = world
    proxy.inject("500", when=_connections)  # once: retried, the run goes on
    assert books.sync().outcome in (RunOutcome.OK, RunOutcome.WARNING)
    _retries(books, "{ attempts = 2, backoff = 0.01 }")
    proxy.inject(*["500"] * 3, when=_connections)
    with pytest.raises(EndpointUnavailable) as raised:
        books.sync()
    message = str(raised.value)
    assert not isinstance(raised.value, AuthenticationFailed)
    assert "the server failed (500 Internal Server Error) answering GET /connections" \
        in message, message
    assert "credentials" not in message
    _settled(books, proxy)
