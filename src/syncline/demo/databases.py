"""The demo's two SQLite databases: a CRM and an accounting system with different schemas.

``crm.db`` holds all of the sample data (organisations, people, products, invoices with
lines). ``books.db`` is shaped like an accounting package (companies, customers, stock
items, sales invoices) and already holds some of the same records — a dozen companies and
their contacts, half the product catalogue — plus a few of its own, so the first sync has
to pair existing records by their natural keys (e-mail, registration number, SKU) instead
of duplicating them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from syncline.demo.data import SampleData

__all__ = ["BOOKS_SCHEMA", "CRM_SCHEMA", "Overlap", "build_books", "build_crm"]

CRM_SCHEMA = """
CREATE TABLE organisations (
    org_id      INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    org_number  TEXT UNIQUE,
    email       TEXT,
    phone       TEXT,
    website     TEXT,
    vat_number  TEXT,
    street      TEXT,
    city        TEXT,
    postcode    TEXT,
    country     TEXT,
    created_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE people (
    person_id      INTEGER PRIMARY KEY,
    full_name      TEXT NOT NULL,
    first_name     TEXT,
    last_name      TEXT,
    email_address  TEXT UNIQUE,
    phone          TEXT,
    mobile         TEXT,
    org_id         INTEGER REFERENCES organisations(org_id),
    job_title      TEXT,
    city           TEXT,
    country        TEXT,
    created_at     TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE products (
    product_id   INTEGER PRIMARY KEY,
    sku          TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    description  TEXT,
    list_price   NUMERIC(12, 2),
    unit_cost    NUMERIC(12, 2),
    is_active    BOOLEAN NOT NULL DEFAULT 1
);
CREATE TABLE invoices (
    invoice_id    INTEGER PRIMARY KEY,
    invoice_no    TEXT NOT NULL UNIQUE,
    person_id     INTEGER REFERENCES people(person_id),
    issued_on     DATE,
    due_on        DATE,
    currency      TEXT,
    status        TEXT,
    net_amount    NUMERIC(12, 2),
    vat_amount    NUMERIC(12, 2),
    gross_amount  NUMERIC(12, 2)
);
CREATE TABLE invoice_lines (
    line_id      INTEGER PRIMARY KEY,
    invoice_id   INTEGER NOT NULL REFERENCES invoices(invoice_id) ON DELETE CASCADE,
    line_no      INTEGER NOT NULL,
    description  TEXT,
    product_id   INTEGER REFERENCES products(product_id),
    quantity     NUMERIC(10, 2),
    unit_price   NUMERIC(12, 2),
    line_total   NUMERIC(12, 2)
);
"""

BOOKS_SCHEMA = """
CREATE TABLE companies (
    company_ref   INTEGER PRIMARY KEY,
    comp_name     TEXT NOT NULL,
    reg_no        TEXT,
    mail          TEXT,
    tel           TEXT,
    web           TEXT,
    tax_id        TEXT,
    addr_line     TEXT,
    town          TEXT,
    zip           TEXT,
    country_code  TEXT
);
CREATE TABLE customers (
    cust_no       INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT,
    tel           TEXT,
    company_ref   INTEGER REFERENCES companies(company_ref),
    town          TEXT,
    country_code  TEXT,
    credit_limit  NUMERIC(12, 2) NOT NULL DEFAULT 5000
);
CREATE TABLE stock_items (
    item_id         INTEGER PRIMARY KEY,
    item_code       TEXT NOT NULL UNIQUE,
    title           TEXT NOT NULL,
    sales_price     NUMERIC(12, 2),
    purchase_price  NUMERIC(12, 2),
    active          INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE sales_invoices (
    inv_id      INTEGER PRIMARY KEY,
    inv_number  TEXT NOT NULL UNIQUE,
    cust_no     INTEGER REFERENCES customers(cust_no),
    inv_date    DATE,
    due_date    DATE,
    curr        TEXT,
    state       TEXT,
    net         NUMERIC(12, 2),
    vat         NUMERIC(12, 2),
    gross       NUMERIC(12, 2)
);
CREATE TABLE sales_invoice_lines (
    id      INTEGER PRIMARY KEY,
    inv_id  INTEGER NOT NULL REFERENCES sales_invoices(inv_id) ON DELETE CASCADE,
    pos     INTEGER NOT NULL,
    text    TEXT,
    item_id INTEGER REFERENCES stock_items(item_id),
    qty     NUMERIC(10, 2),
    price   NUMERIC(12, 2),
    amount  NUMERIC(12, 2)
);
"""


@dataclass(frozen=True)
class Overlap:
    """How much of the CRM's data the accounting database already holds: the first
    ``organisations`` organisations with the first ``organisations`` contacts (one each),
    and the first ``products`` products."""

    organisations: int = 12
    products: int = 15


def _plain(value: Any) -> Any:
    """A value sqlite3 stores as written: decimals as text keep their two places."""
    return str(value) if isinstance(value, Decimal) else value


def _insert(db: sqlite3.Connection, table: str, columns: Sequence[str],
            rows: Iterable[Sequence[Any]]) -> None:
    marks = ", ".join("?" for _ in columns)
    db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                   [tuple(_plain(value) for value in row) for row in rows])


def build_crm(path: Path, data: SampleData) -> None:
    """Create ``path`` (which must not exist) with the CRM schema and all of ``data``."""
    db = sqlite3.connect(path)
    try:
        db.executescript(CRM_SCHEMA)
        _insert(db, "organisations", ("org_id", "name", "org_number", "email", "phone",
                                      "website", "vat_number", "street", "city", "postcode",
                                      "country"),
                ((index + 1, o.name, o.number, o.email, o.phone, o.website, o.tax_number,
                  o.street, o.city, o.postcode, o.country)
                 for index, o in enumerate(data.organisations)))
        _insert(db, "people", ("person_id", "full_name", "first_name", "last_name",
                               "email_address", "phone", "mobile", "org_id", "job_title",
                               "city", "country"),
                ((index + 1, c.name, c.first_name, c.last_name, c.email, c.phone, c.mobile,
                  c.organisation + 1, c.title, c.city, c.country)
                 for index, c in enumerate(data.contacts)))
        _insert(db, "products", ("product_id", "sku", "name", "description", "list_price",
                                 "unit_cost", "is_active"),
                ((index + 1, p.code, p.name, None, p.unit_price, p.cost_price, p.active)
                 for index, p in enumerate(data.products)))
        _insert(db, "invoices", ("invoice_id", "invoice_no", "person_id", "issued_on",
                                 "due_on", "currency", "status", "net_amount", "vat_amount",
                                 "gross_amount"),
                ((index + 1, i.number, i.contact + 1, i.issued.isoformat(), i.due.isoformat(),
                  i.currency, i.status, i.subtotal, i.tax, i.total)
                 for index, i in enumerate(data.invoices)))
        _insert(db, "invoice_lines", ("invoice_id", "line_no", "description", "product_id",
                                      "quantity", "unit_price", "line_total"),
                ((index + 1, position + 1, line.description, line.product + 1, line.quantity,
                  line.unit_price, line.amount)
                 for index, invoice in enumerate(data.invoices)
                 for position, line in enumerate(invoice.lines)))
        db.commit()
    finally:
        db.close()


def build_books(path: Path, data: SampleData, own: SampleData,
                overlap: Overlap = Overlap()) -> None:
    """Create ``path`` (which must not exist) with the accounting schema: the records of
    ``data`` that ``overlap`` names, plus all of ``own`` (the books' own companies,
    customers, items and invoices)."""
    shared_orgs = data.organisations[:overlap.organisations]
    shared_people = data.contacts[:overlap.organisations]
    companies = [*shared_orgs, *own.organisations]
    customers = [(c, c.organisation) for c in shared_people]
    customers += [(c, len(shared_orgs) + c.organisation) for c in own.contacts]
    items = [*data.products[:overlap.products], *own.products]
    first_own_item = overlap.products
    db = sqlite3.connect(path)
    try:
        db.executescript(BOOKS_SCHEMA)
        _insert(db, "companies", ("company_ref", "comp_name", "reg_no", "mail", "tel", "web",
                                  "tax_id", "addr_line", "town", "zip", "country_code"),
                ((index + 1, o.name, o.number, o.email, o.phone, o.website, o.tax_number,
                  o.street, o.city, o.postcode, o.country)
                 for index, o in enumerate(companies)))
        _insert(db, "customers", ("cust_no", "name", "email", "tel", "company_ref", "town",
                                  "country_code"),
                ((index + 1, c.name, c.email, c.phone, company + 1, c.city, c.country)
                 for index, (c, company) in enumerate(customers)))
        _insert(db, "stock_items", ("item_id", "item_code", "title", "sales_price",
                                    "purchase_price", "active"),
                ((index + 1, p.code, p.name, p.unit_price, p.cost_price, int(p.active))
                 for index, p in enumerate(items)))
        first_own_customer = len(shared_people)
        _insert(db, "sales_invoices", ("inv_id", "inv_number", "cust_no", "inv_date",
                                       "due_date", "curr", "state", "net", "vat", "gross"),
                ((index + 1, i.number, first_own_customer + i.contact + 1, i.issued.isoformat(),
                  i.due.isoformat(), i.currency, i.status, i.subtotal, i.tax, i.total)
                 for index, i in enumerate(own.invoices)))
        _insert(db, "sales_invoice_lines", ("inv_id", "pos", "text", "item_id", "qty",
                                            "price", "amount"),
                ((index + 1, position + 1, line.description, first_own_item + line.product + 1,
                  line.quantity, line.unit_price, line.amount)
                 for index, invoice in enumerate(own.invoices)
                 for position, line in enumerate(invoice.lines)))
        db.commit()
    finally:
        db.close()


