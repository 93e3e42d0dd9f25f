"""What the demo's "users" do between the two syncs, straight in each system's database.

On the CRM: a phone number changes, a person is added, a person is deleted. In the books:
a price changes, a customer is added, an invoice is raised. And the same person's phone
number is changed on both sides — the CRM first, the books a moment later — which is a
**conflict**: the link's policy (``newest``) decides which change wins.

Every change goes through the tables' change-capture triggers (installed by ``setup``), as
any application's writes would.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from syncline.demo.data import money

__all__ = ["ConflictCase", "Edit", "EditReport", "apply_edits", "contact_phone"]

CONFLICT_PERSON = 5
"""The CRM person (and books customer: the first dozen are the same people) edited on
both sides."""


@dataclass(frozen=True)
class Edit:
    """One change made directly in one database: ``endpoint``, ``stream``, what happened."""

    endpoint: str
    stream: str
    description: str


@dataclass(frozen=True)
class ConflictCase:
    """The record changed on both sides: its keys and the value each side wrote."""

    stream: str
    crm_key: str
    books_key: str
    field: str
    crm_value: str
    books_value: str


@dataclass(frozen=True)
class EditReport:
    edits: list[Edit]
    conflict: ConflictCase


@contextmanager
def _database(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path)
    try:
        yield db
        db.commit()
    finally:
        db.close()


def _one(db: sqlite3.Connection, query: str, *args: object) -> tuple[object, ...]:
    row = db.execute(query, args).fetchone()
    if row is None:
        raise LookupError(f"the demo data lacks a row for: {query} {args}")
    return tuple(row)


def contact_phone(crm: Path, books: Path, case: ConflictCase) -> tuple[str, str]:
    """The conflicting contact's phone number as each database holds it now."""
    with _database(crm) as db:
        (crm_phone,) = _one(db, "SELECT phone FROM people WHERE person_id = ?",
                            int(case.crm_key))
    with _database(books) as db:
        (books_phone,) = _one(db, "SELECT tel FROM customers WHERE cust_no = ?",
                              int(case.books_key))
    return str(crm_phone), str(books_phone)


def apply_edits(crm: Path, books: Path) -> EditReport:
    """Change both databases (see the module docstring) and say what was done.

    Raises:
        LookupError: the databases do not hold the demo's sample data.
    """
    edits: list[Edit] = []
    with _database(crm) as db:
        person, name, phone = _one(
            db, "SELECT person_id, full_name, phone FROM people WHERE person_id = 30")
        new_phone = f"{str(phone)[:-4]}0100"
        db.execute("UPDATE people SET phone = ? WHERE person_id = ?", (new_phone, person))
        edits.append(Edit("crm", "contact", f"{name}'s phone changed to {new_phone}"))

        added = db.execute(
            "INSERT INTO people (full_name, first_name, last_name, email_address, phone, "
            "org_id, job_title, city, country) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("Maya Lindgren", "Maya", "Lindgren", "maya.lindgren@example.org",
             "+44 20 7946 0321", 2, "Head of Purchasing", "London", "GB")).lastrowid
        edits.append(Edit("crm", "contact", "new person Maya Lindgren"))

        gone, gone_name = _one(
            db, "SELECT person_id, full_name FROM people WHERE person_id > 12 AND person_id "
                "NOT IN (30, ?, ?) AND person_id NOT IN (SELECT person_id FROM invoices WHERE "
                "person_id IS NOT NULL) ORDER BY person_id DESC LIMIT 1", CONFLICT_PERSON,
            added)
        db.execute("DELETE FROM people WHERE person_id = ?", (gone,))
        edits.append(Edit("crm", "contact", f"person {gone_name} deleted"))

        (conflict_name,) = _one(db, "SELECT full_name FROM people WHERE person_id = ?",
                                CONFLICT_PERSON)
        crm_value = "+44 20 7946 0111"
        db.execute("UPDATE people SET phone = ? WHERE person_id = ?",
                   (crm_value, CONFLICT_PERSON))
        edits.append(Edit("crm", "contact",
                          f"{conflict_name}'s phone changed to {crm_value} (conflict, 1 of 2)"))
    time.sleep(0.05)  # the books' change is clearly the later one
    with _database(books) as db:
        item, title, price = _one(
            db, "SELECT item_id, title, sales_price FROM stock_items WHERE item_id = 3")
        raised = money(Decimal(str(price)) * Decimal("1.05"))
        db.execute("UPDATE stock_items SET sales_price = ? WHERE item_id = ?",
                   (str(raised), item))
        edits.append(Edit("books", "item", f"price of '{title}' raised 5% to {raised}"))

        db.execute("INSERT INTO customers (name, email, tel, company_ref, town, country_code) "
                   "VALUES (?, ?, ?, ?, ?, ?)", ("Tomás Ortega", "tomas.ortega@example.com",
                                                "+353 1 555 0199", 1, "Dublin", "IE"))
        edits.append(Edit("books", "contact", "new customer Tomás Ortega"))

        _raise_invoice(db, edits)

        books_value = "+44 20 7946 0222"
        db.execute("UPDATE customers SET tel = ? WHERE cust_no = ?",
                   (books_value, CONFLICT_PERSON))
        edits.append(Edit("books", "contact",
                          f"{conflict_name}'s phone changed to {books_value} (conflict, 2 of "
                          f"2)"))
    case = ConflictCase("contact", str(CONFLICT_PERSON), str(CONFLICT_PERSON), "phone",
                        crm_value, books_value)
    return EditReport(edits, case)


def _raise_invoice(db: sqlite3.Connection, edits: list[Edit]) -> None:
    """A new two-line sales invoice in the books to customer 2, for items 1 and 16 (the
    books' own 'Bookkeeping service', created in the CRM by the first sync)."""
    lines = []
    for item_id, quantity in ((1, Decimal(2)), (16, Decimal(1))):
        title, price = _one(db, "SELECT title, sales_price FROM stock_items WHERE item_id = ?",
                            item_id)
        unit = money(Decimal(str(price)))
        lines.append((item_id, str(title), quantity, unit, money(unit * quantity)))
    net = money(sum((line[4] for line in lines), Decimal(0)))
    vat = money(net * Decimal("0.20"))
    cursor = db.execute(
        "INSERT INTO sales_invoices (inv_number, cust_no, inv_date, due_date, curr, state, "
        "net, vat, gross) VALUES ('BK-2099-0001', 2, date('now'), date('now', '+30 days'), "
        "'EUR', 'draft', ?, ?, ?)", (str(net), str(vat), str(net + vat)))
    for position, (item_id, title, quantity, unit, amount) in enumerate(lines, start=1):
        db.execute("INSERT INTO sales_invoice_lines (inv_id, pos, text, item_id, qty, price, "
                   "amount) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (cursor.lastrowid, position, title, item_id, str(quantity), str(unit),
                    str(amount)))
    edits.append(Edit("books", "invoice", f"new invoice BK-2099-0001 ({len(lines)} lines, "
                                          f"{net + vat} EUR)"))
