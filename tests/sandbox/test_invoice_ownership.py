"""Issue 17, defect 1: the books must not overwrite the order system. An order database
(SQLite and PostgreSQL) posts its orders to the Xero and the QuickBooks Online sandboxes
over a two-way link with posting rules, run from the command line as a user runs it (see
:mod:`sandbox.ownership_world`). The books then do what books do: Xero adds a rounding line
to a total a penny off, the bookkeeper records a payment, the books' status moves on (Xero
``AUTHORISED`` -> ``PAID``, QuickBooks ``open`` -> ``paid``). The next syncs leave each
order's status and amounts as the order system has them, with no conflict and no write
back to the books, while the columns mapped for the books' state receive it; the order
system's own later change still goes to the books."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox.ownership_world import OrderLine, PostedOrder, World, open_world

D = Decimal


def _orders(books: str) -> list[PostedOrder]:
    penny = D("0.01") if books == "xero" else D(0)  # QBO rounding lines: issue 17, #3
    return [
        PostedOrder("SO-5001", 1, [OrderLine("WIDGET-01", D(3)), OrderLine("GADGET-02", D(1))],
                    offset=penny),
        PostedOrder("SO-5006", 2, [OrderLine("SUPPORT-HR", D("4.2"))], offset=penny),
        PostedOrder("SO-5007", 3, [OrderLine("GADGET-02", D(2))], status="finished"),
    ]


@pytest.fixture(params=["xero", "qbo"])
def books(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, books: str, tmp_path: Path) -> Iterator[World]:
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgresql" \
        else None
    with open_world(tmp_path, books, _orders(books), postgres_url=postgres) as made:
        yield made


def _counts(summary: dict[str, Any], stream: str = "invoice") -> dict[str, int]:
    counts: dict[str, int] = summary["streams"][stream]
    return counts


def test_the_books_state_comes_back_only_into_its_own_columns(world: World) -> None:
    before = world.orders()
    first = world.sync()
    assert _counts(first)["A"] == 3 and _counts(first)["errors"] == 0, first
    posted, unpaid = ("AUTHORISED", "PAID") if world.books_kind == "xero" else ("open", "paid")
    after = world.orders()
    for number, row in before.items():
        status, net, vat, gross, books_status, due = after[number]
        # the order's own status and amounts, as they were; the books' state beside them
        assert (status, net, vat, gross) == row[:4], number
        assert (books_status, due) == (posted, gross), number
    if world.books_kind == "xero":  # the books computed a penny more: a rounding line
        assert world.books.invoice("SO-5006")["lines"][-1] == "Rounding"
        assert world.books.invoice("SO-5006")["total"] == before["SO-5006"][3]

    world.books.pay("SO-5001")
    assert world.books.invoice("SO-5001")["status"] == unpaid
    paid = world.sync()
    assert _counts(paid)["M"] == 1, paid  # the books' state into the order system, only
    assert _counts(paid)["errors"] == _counts(paid)["conflicts"] == 0, paid
    now = world.orders()
    assert now["SO-5001"] == (*before["SO-5001"][:4], unpaid, D("0.00"))
    assert now["SO-5006"] == after["SO-5006"] and now["SO-5007"] == after["SO-5007"]
    assert now["SO-5007"][0] == "finished"  # still eligible, as the order system says

    # the order system moves on: its change goes to the books, the books keep theirs
    world.execute("UPDATE orders SET status = 'invoiced', order_date = '2026-11-04' "
                  "WHERE order_no = 'SO-5006'")
    moved = world.sync()
    assert _counts(moved)["M"] == 1 and _counts(moved)["errors"] == 0, moved
    assert world.books.invoice("SO-5006")["status"] == posted
    assert world.orders()["SO-5006"][:2] == ("invoiced", before["SO-5006"][1])
    quiet = world.sync()
    assert _counts(quiet)["M"] == _counts(quiet)["A"] == _counts(quiet)["errors"] == 0, quiet
    assert world.orders()["SO-5001"] == now["SO-5001"]


def test_an_invoice_raised_in_the_books_comes_to_the_order_system_whole(world: World) -> None:
    world.sync()
    world.books.raise_invoice("BK-0001", "Harbour Lights Ltd")
    raised = world.books.invoice("BK-0001")
    pulled = world.sync()
    assert _counts(pulled)["A"] == 1 and _counts(pulled)["errors"] == 0, pulled
    status, _, _, gross, books_status, due = world.orders()["BK-0001"]
    # the books' status and total come along with the new order (then each side's own)
    assert (status, gross, books_status, due) == (
        raised["status"], raised["total"], raised["status"], raised["due"])
    quiet = world.sync()
    assert _counts(quiet)["M"] == _counts(quiet)["A"] == _counts(quiet)["errors"] == 0, quiet
