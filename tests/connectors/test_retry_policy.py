"""The retry policy of remote connectors (``syncline.connectors.retry``): Retry-After in
both forms, the settings table, the per-run budget and what a spent budget says."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from syncline.connectors.retry import (
    RetriesSpent,
    RetryPolicy,
    Transient,
    budget_for,
    parse_policy,
    retry_after,
    send_with_retries,
    transient_answer,
)
from syncline.errors import ConfigError, RunCancelled
from syncline.run_context import RunContext


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 12, 7, 19, 0, 0, tzinfo=UTC)
    assert retry_after("3") == 3.0
    assert retry_after("0.25") == 0.25
    assert retry_after("Mon, 07 Dec 2026 19:00:30 GMT", now) == 30.0
    assert retry_after("Mon, 07 Dec 2026 18:00:00 GMT", now) == 0.0  # already past
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_answers_name_their_cause() -> None:
    failed = transient_answer(500, "Internal Server Error", {}, "GET /connections")
    assert failed is not None and failed.ambiguous
    assert failed.cause == "the server failed (500 Internal Server Error) answering " \
        "GET /connections"
    limited = transient_answer(429, None, {"Retry-After": "2"}, "PUT /x")
    assert limited is not None and limited.wait == 2.0 and not limited.ambiguous
    assert "429 Too Many Requests" in limited.cause
    assert transient_answer(404, "Not Found", {}, "GET /x") is None


def test_the_settings_table_is_checked() -> None:
    assert parse_policy(None, "k") == RetryPolicy()
    assert parse_policy({"retries": 3, "backoff": 0.01}, "k") == RetryPolicy(retries=3,
                                                                            backoff=0.01)
    with pytest.raises(ConfigError, match=r"endpoints.b.retries.tries: unknown setting"):
        parse_policy({"tries": 3}, "endpoints.b.retries")
    with pytest.raises(ConfigError, match=r"retries.attempts: must be a number from 1"):
        parse_policy({"attempts": 0}, "endpoints.b.retries")
    with pytest.raises(ConfigError, match="must be a table"):
        parse_policy(5, "endpoints.b.retries")


def test_the_budget_is_per_run_and_a_spent_one_says_so() -> None:
    policy = RetryPolicy(retries=2, backoff=0.001, max_backoff=0.002)
    context = RunContext()
    tries: list[int] = []

    def failing() -> None:
        tries.append(1)
        raise Transient("the server failed (503 Service Unavailable) answering GET /x",
                        status=503, wait=0.001)

    with pytest.raises(RetriesSpent, match="retry budget \\(2 retries") as raised:
        send_with_retries(failing, endpoint="books", context=context, policy=policy)
    assert len(tries) == 3 and not raised.value.ambiguous
    assert budget_for(context, "books", policy).retries == 2
    tries.clear()
    with pytest.raises(RetriesSpent):  # the same run: nothing left, no retry
        send_with_retries(failing, endpoint="books", context=context, policy=policy)
    assert len(tries) == 1
    tries.clear()
    with pytest.raises(RetriesSpent):  # a new run has a new budget
        send_with_retries(failing, endpoint="books", context=RunContext(), policy=policy)
    assert len(tries) == 3


def test_an_ambiguous_write_without_idempotency_is_not_repeated() -> None:
    tries: list[int] = []

    def lost() -> None:
        tries.append(1)
        raise Transient("the connection broke during POST /x")

    with pytest.raises(RetriesSpent, match="not sent again") as raised:
        send_with_retries(lost, endpoint="books", context=RunContext(),
                          policy=RetryPolicy(backoff=0.001), idempotent=False)
    assert tries == [1] and raised.value.ambiguous


def test_no_retry_once_a_stop_was_asked() -> None:
    context = RunContext()
    tries: list[int] = []

    def failing() -> None:
        tries.append(1)
        context.stop.request("Ctrl-C")
        raise Transient("the server failed (500 Internal Server Error) answering GET /x",
                        status=500)

    with pytest.raises(RunCancelled, match="Ctrl-C"):
        send_with_retries(failing, endpoint="books", context=context,
                          policy=RetryPolicy(backoff=0.001))
    assert tries == [1]


def test_a_wait_longer_than_the_budget_ends_the_call_at_once() -> None:
    started = time.monotonic()

    def closed_for_an_hour() -> None:
        raise Transient("the server is unavailable (503 Service Unavailable) answering GET /x",
                        status=503, wait=3600.0)

    with pytest.raises(RetriesSpent, match=r"the next wait would be 3600\.0 s"):
        send_with_retries(closed_for_an_hour, endpoint="books", context=RunContext(),
                          policy=RetryPolicy(max_wait=300))
    assert time.monotonic() - started < 1
