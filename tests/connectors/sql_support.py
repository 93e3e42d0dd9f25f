"""What the tests of the ``sql`` connector use across SQLite, PostgreSQL and MariaDB: a small
CRM schema, the settings mapping it, the user's "application" writing to it with plain
connections, canonical field makers and batch helpers."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncline.connectors.base import Change, ReadScope, WriteBatch, WriteKind, WriteOperation
from syncline.connectors.sql import SqlConnector

ALL_STREAMS = ["contact", "item", "invoice", "task", "tax_rate"]


def build_schema(url: str) -> None:
    """Create the tables of a small CRM: people, items, invoices with lines, tasks, tax
    rates."""
    metadata = sa.MetaData()
    sa.Table("people", metadata,
             sa.Column("person_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("full_name", sa.String(200)),
             sa.Column("email_address", sa.String(200), unique=True),
             sa.Column("phone", sa.String(50)),
             sa.Column("internal_note", sa.String(200)),
             sa.Column("modified_at", sa.DateTime))
    sa.Table("items", metadata,
             sa.Column("item_code", sa.String(40), primary_key=True),
             sa.Column("item_name", sa.String(200), nullable=False),
             sa.Column("price", sa.Numeric(12, 2)),
             sa.Column("active", sa.Boolean),
             sa.Column("notes", sa.String(200)))
    sa.Table("invoices", metadata,
             sa.Column("invoice_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("invoice_no", sa.String(40)),
             sa.Column("customer_id", sa.Integer),
             sa.Column("invoice_date", sa.Date),
             sa.Column("total", sa.Numeric(12, 2)))
    sa.Table("invoice_lines", metadata,
             sa.Column("line_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("invoice_id", sa.Integer, sa.ForeignKey("invoices.invoice_id"),
                       nullable=False),
             sa.Column("line_no", sa.Integer),
             sa.Column("description", sa.String(200)),
             sa.Column("product_id", sa.String(40)),
             sa.Column("qty", sa.Numeric(12, 3)),
             sa.Column("price", sa.Numeric(12, 2)),
             sa.Column("amount", sa.Numeric(12, 2)))
    sa.Table("tasks", metadata,
             sa.Column("task_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("title", sa.String(200)),
             sa.Column("due_at", sa.DateTime(timezone=True)),
             sa.Column("priority", sa.Integer),
             sa.Column("done_at", sa.DateTime))
    sa.Table("tax_rates", metadata,
             sa.Column("code", sa.String(20), primary_key=True),
             sa.Column("name", sa.String(100)),
             sa.Column("rate", sa.Numeric(6, 3)),
             sa.Column("active", sa.Boolean))
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def sql_settings(url: str, page_size: int = 7) -> dict[str, Any]:
    """The endpoint settings mapping :func:`build_schema`'s tables."""
    return {
        "url": url,
        "page_size": page_size,
        "streams": {
            "contact": {"table": "people", "key": "person_id", "updated": "modified_at",
                        "fields": {"name": "full_name", "email": "email_address",
                                   "phone": "phone"}},
            "item": {"table": "items", "key": "item_code",
                     "fields": {"name": "item_name", "unit_price": "price",
                                "active": "active"}},
            "invoice": {"table": "invoices", "key": "invoice_id",
                        "fields": {"number": "invoice_no", "contact": "customer_id",
                                   "date": "invoice_date", "total": "total"},
                        "lines": {"table": "invoice_lines", "key": "line_id",
                                  "parent": "invoice_id", "order": "line_no",
                                  "fields": {"description": "description", "item": "product_id",
                                             "quantity": "qty", "unit_price": "price",
                                             "line_amount": "amount"}}},
            "task": {"table": "tasks", "key": "task_id",
                     "fields": {"summary": "title", "due": "due_at", "priority": "priority",
                                "completed": "done_at"}},
            "tax_rate": {"table": "tax_rates", "key": "code",
                         "fields": {"code": "code", "name": "name", "rate": "rate",
                                    "active": "active"}},
        },
    }


def open_connector(url: str, base_dir: Path, *, setup: bool = True,
                   page_size: int = 7) -> SqlConnector:
    """An opened connector on :func:`build_schema`'s tables (change capture installed)."""
    connector = SqlConnector("crm", sql_settings(url, page_size), base_dir)
    connector.open()
    if setup:
        connector.setup(ALL_STREAMS)
    return connector


class SqlOutside:
    """The user's application: plain SQLAlchemy connections writing one mapped table."""

    def __init__(self, url: str, table: str, key: str, columns: Mapping[str, str],
                 unmapped: str, *, text_keys: bool) -> None:
        self.engine = sa.create_engine(url)
        self.table = sa.Table(table, sa.MetaData(), autoload_with=self.engine)
        self.key = self.table.c[key]
        self.columns = dict(columns)
        self.unmapped = self.table.c[unmapped]
        self.text_keys = text_keys

    def _native(self, key: str) -> Any:
        return key if self.text_keys else int(key)

    def _values(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {self.columns[name]: value for name, value in fields.items()}

    def create(self, fields: dict[str, Any]) -> str:
        values = self._values(fields)
        if self.text_keys:
            values[self.key.name] = f"app-{uuid.uuid4().hex[:8]}"
        with self.engine.begin() as conn:
            inserted = conn.execute(sa.insert(self.table).values(values)).inserted_primary_key
        assert inserted is not None
        return str(inserted[0])

    def update(self, key: str, fields: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(self.table).where(self.key == self._native(key))
                         .values(self._values(fields)))

    def delete(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(self.table).where(self.key == self._native(key)))

    def set_unmapped(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(self.table).where(self.key == self._native(key))
                         .values({self.unmapped.name: value}))

    def get_unmapped(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(self.unmapped).where(self.key == self._native(key)))\
                .scalar()
        return None if value is None else str(value)

    def close(self) -> None:
        self.engine.dispose()


def contact_fields(n: int) -> dict[str, Any]:
    return {"name": f"Person {n}", "email": f"person{n}@example.com", "phone": f"+44 {n:04d}"}


def item_fields(n: int) -> dict[str, Any]:
    return {"name": f"Item {n}", "unit_price": Decimal(n) + Decimal("0.25"),
            "active": n % 2 == 0}


def batch(stream: str, *operations: WriteOperation) -> WriteBatch:
    return WriteBatch(f"batch-{uuid.uuid4().hex}", stream, list(operations))


def create_op(fields: dict[str, Any]) -> WriteOperation:
    return WriteOperation(uuid.uuid4().hex, WriteKind.CREATE, None, fields)


def update_op(key: str, fields: dict[str, Any]) -> WriteOperation:
    return WriteOperation(uuid.uuid4().hex, WriteKind.UPDATE, key, fields)


def delete_op(key: str) -> WriteOperation:
    return WriteOperation(uuid.uuid4().hex, WriteKind.DELETE, key)


def read_changes(connector: SqlConnector, stream: str, cursor: str,
             scope: ReadScope | None = None) -> tuple[list[Change], str]:
    feed = connector.read_changes(stream, cursor, scope or ReadScope())
    found = [change for page in feed.pages for change in page]
    assert feed.cursor is not None
    return found, feed.cursor


def invoice_fields(contact: str, lines: int, number: str = "INV-1") -> dict[str, Any]:
    return {
        "number": number, "contact": contact, "date": date(2024, 2, 29),
        "total": Decimal("123.45"),
        "lines": [{"description": f"line {n}", "item": f"ITEM-{n}", "quantity": Decimal(n),
                   "unit_price": Decimal("10.50"), "line_amount": Decimal("10.5") * n}
                  for n in range(1, lines + 1)],
    }


def sqlite_rows(path: Path, statement: str, *args: object) -> list[tuple[Any, ...]]:
    """Run ``statement`` on the SQLite file ``path`` as the user's application would (one
    connection, committed) and return the rows it gave."""
    db = sqlite3.connect(path)
    try:
        rows = [tuple(row) for row in db.execute(statement, args)]
        db.commit()
        return rows
    finally:
        db.close()
