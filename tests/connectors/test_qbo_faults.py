"""A memory CRM kept in step with a QBO SANDBOX company reached through a fault-injecting
proxy (``connectors.fault_proxy``): failures are retried within the run's budget with the
same ``requestid``, so answers lost after QBO applied a batch are answered again instead of
applied twice; a fault rate is survived; a spent budget names the real cause; and after the
faults stop one more sync journals nothing and each record exists once. Backoffs are short
(the endpoint's ``retries`` settings); everything runs on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from connectors.fault_proxy import FaultyProxy
from sandbox.qbo_server import Books, active, running_sandbox
from syncline.engine import RunOutcome
from syncline.errors import EndpointUnavailable
from syncline.sandbox.qbo import Limits

CONTACT_FIELDS = ["name", "email", "phone", "notes"]
QUICK = {"retries": 200, "max_wait": 30, "backoff": 0.01, "max_backoff": 0.1}


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCLINE_SECRET_KEY", Fernet.generate_key().decode())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Any, FaultyProxy]]:
    made: list[Books] = []
    with running_sandbox(Limits(per_minute=10_000, concurrent=10)) as server, \
            FaultyProxy(server.base_url) as proxy:
        proxy.retry_after, proxy.stall = 0.1, 1.0

        def make(retries: dict[str, Any] = QUICK) -> Books:
            books = Books(server, tmp_path / uuid.uuid4().hex, streams={
                "contact": CONTACT_FIELDS, "invoice": ["number", "contact", "date", "lines"]},
                qbo={"base_url": proxy.url.rstrip("/"), "batch_size": 3, "concurrent": 2,
                     "timeout": 0.8, "retries": retries},
                match={"contact": ["email"]})
            made.append(books)
            return books

        yield make, proxy
        for books in made:
            books.close()


def _fill(books: Books, invoices: int = 9) -> None:
    for n in range(4):
        books.crm.put("contact", f"c{n}", {"name": f"Client {n}", "email": f"c{n}@x.com",
                                           "phone": None, "notes": None})
    for n in range(invoices):
        books.crm.put("invoice", f"o{n}", {
            "number": f"SO-{n:03d}", "contact": f"c{n % 4}", "date": date(2026, 11, 2),
            "lines": [{"description": "Consulting", "item": "13",
                       "quantity": Decimal(1 + n % 3), "unit_price": Decimal(100),
                       "line_amount": Decimal(100 * (1 + n % 3))}]})


def _batches(method: str, path: str) -> bool:
    return method == "POST" and "/batch" in path


def _settled(books: Books, proxy: FaultyProxy, invoices: int = 9) -> None:
    """The faults stop; one more sync journals nothing and every record exists once."""
    proxy.calm()
    quiet = books.sync()
    assert quiet.outcome is RunOutcome.OK, quiet.messages
    assert books.store.journal("l", run_id=quiet.run_id) == []
    numbers = Counter(invoice["DocNumber"] for invoice in active(books.company, "Invoice"))
    assert sorted(numbers) == [f"SO-{n:03d}" for n in range(invoices)]
    assert set(numbers.values()) == {1}
    emails = Counter(customer["PrimaryEmailAddr"]["Address"]
                     for customer in active(books.company, "Customer"))
    assert sorted(emails) == [f"c{n}@x.com" for n in range(4)]
    assert set(emails.values()) == {1}


def _counts(summary: Any) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counts in summary.streams.values():
        total.update(counts.to_json())
    return dict(total)


@pytest.mark.parametrize("fault", ["500-after", "drop-after", "stall", "500", "503", "429",
                                   "429-date", "drop", "truncate"])
def test_batches_whose_answer_was_lost_or_refused_go_once(world: Any, fault: str) -> None:
    make, proxy = world
    books = make()
    _fill(books)
    proxy.inject(*[fault] * 3, when=_batches)
    first = books.sync()
    assert first.outcome is RunOutcome.OK, first.messages
    assert len(proxy.faulted) == 3
    books.crm.put("contact", "c1", {"name": "Client One", "email": "c1@x.com",
                                    "phone": "+44 1", "notes": None})
    proxy.inject(fault, when=_batches)
    second = books.sync()
    assert second.outcome is RunOutcome.OK, second.messages
    counts = _counts(second)
    assert (counts["M"], counts["conflicts"], counts["errors"]) == (1, 0, 0), counts
    _settled(books, proxy)


def test_a_fault_rate_is_survived_and_the_end_is_exact(world: Any) -> None:
    make, proxy = world
    books = make()
    _fill(books, invoices=12)
    proxy.chaos(0.15, ("500", "502", "503", "504", "429", "drop", "500-after", "drop-after",
                       "truncate"), seed=14)
    assert books.sync().outcome is RunOutcome.OK
    for n in range(3):
        books.crm.put("contact", f"c{n}", {"name": f"Client {n} Ltd", "email": f"c{n}@x.com",
                                           "phone": None, "notes": f"round {n}"})
        summary = books.sync()
        assert summary.outcome is RunOutcome.OK, summary.messages
        assert _counts(summary)["conflicts"] == 0
    assert len(proxy.faulted) >= 3
    _settled(books, proxy, invoices=12)


def test_a_spent_budget_names_the_real_cause_and_the_next_run_settles(world: Any) -> None:
    make, proxy = world
    books = make({"retries": 2, "backoff": 0.01})
    _fill(books)
    proxy.inject(*["429"] * 6)
    with pytest.raises(EndpointUnavailable) as raised:
        books.sync()
    message = str(raised.value)
    assert "kept asking us to slow down (429 Too Many Requests)" in message, message
    assert "retry budget (2 retries" in message, message
    proxy.calm()
    proxy.inject(*["500-after"] * 6, when=_batches)
    with pytest.raises(EndpointUnavailable) as raised:
        books.sync()  # a batch applied, its answer lost, the budget spent
    assert "the server failed (500 Internal Server Error)" in str(raised.value)
    proxy.calm()
    recovered = books.sync()
    assert recovered.outcome is RunOutcome.OK, recovered.messages
    counts = _counts(recovered)
    assert (counts["M"], counts["R"], counts["conflicts"]) == (0, 0, 0), counts
    _settled(books, proxy)
