"""Canonical records, entity types and action codes (canonical values and content hashes:
:mod:`syncline.canonical`, re-exported here).

Terms:

record
    One item of a stream in canonical form: a ``key`` (the item's identity on its own
    endpoint, always a string), ``fields`` (canonical field name -> canonical value), an
    optional ``version`` (etag, SyncToken, row version) and ``updated_at``.
columnar page
    A page of records held column by column (:class:`RecordColumns`): one list of keys and
    one sequence of values per field, instead of one :class:`Record` per item. A first sync
    of a large table moves such pages from the reading connector to the writing one without
    building a record, a dict or a planner object per item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from syncline.canonical import (
    canonical_text,
    canonical_value,
    column_hashes,
    content_hash,
    content_hashes,
    field_token,
)

__all__ = [
    "BOOKS_STATE_FIELDS",
    "ENTITY_TYPES",
    "ActionCode",
    "Direction",
    "EntityType",
    "FieldSpec",
    "FieldType",
    "Outcome",
    "Record",
    "RecordColumns",
    "Side",
    "canonical_text",
    "canonical_value",
    "column_hashes",
    "content_hash",
    "content_hashes",
    "entity_type",
    "field_token",
    "stream_order",
]


class Side(StrEnum):
    """One of the two endpoints of a link."""

    A = "a"
    B = "b"

    @property
    def other(self) -> Side:
        return Side.B if self is Side.A else Side.A


class Direction(StrEnum):
    """Which way a journal row's change went: ``a>b`` or ``b>a``."""

    A_TO_B = "a>b"
    B_TO_A = "b>a"

    @staticmethod
    def towards(target: Side) -> Direction:
        return Direction.A_TO_B if target is Side.B else Direction.B_TO_A


class ActionCode(StrEnum):
    """The journal's action codes."""

    CREATE = "A"
    MODIFY = "M"
    DELETE = "D"
    FORCED = "R"


class Outcome(StrEnum):
    """How one journal row (or one run) ended."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    SKIPPED = "skipped"


class FieldType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    REFERENCE = "reference"
    LINES = "lines"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One canonical field. ``reference`` names the stream a REFERENCE field points to."""

    name: str
    type: FieldType = FieldType.TEXT
    reference: str | None = None
    doc: str = ""


@dataclass(frozen=True, slots=True)
class EntityType:
    """A canonical entity type: its fields, natural keys and (for documents) line fields."""

    name: str
    fields: Mapping[str, FieldSpec]
    natural_keys: tuple[str, ...] = ()
    line_fields: Mapping[str, FieldSpec] | None = None
    doc: str = ""

    def references(self) -> dict[str, str]:
        """Field name -> referenced stream, for the record and (prefixed ``lines.``) its lines."""
        found = {f.name: f.reference for f in self.fields.values() if f.reference}
        for spec in (self.line_fields or {}).values():
            if spec.reference:
                found[f"lines.{spec.name}"] = spec.reference
        return found


def _fields(*specs: FieldSpec | str) -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for spec in specs:
        resolved = FieldSpec(spec) if isinstance(spec, str) else spec
        out[resolved.name] = resolved
    return out


def _ref(name: str, stream: str) -> FieldSpec:
    return FieldSpec(name, FieldType.REFERENCE, reference=stream)


def _dec(name: str) -> FieldSpec:
    return FieldSpec(name, FieldType.DECIMAL)


def _date(name: str) -> FieldSpec:
    return FieldSpec(name, FieldType.DATE)


def _dt(name: str) -> FieldSpec:
    return FieldSpec(name, FieldType.DATETIME)


def _bool(name: str) -> FieldSpec:
    return FieldSpec(name, FieldType.BOOLEAN)


_ADDRESS = ("street", "city", "region", "postcode", "country")
_DOCUMENT_LINES = _fields(
    "description", _ref("item", "item"), _dec("quantity"), _dec("unit_price"),
    _ref("ledger_account", "ledger_account"), _ref("tax_rate", "tax_rate"), _dec("tax_amount"),
    _dec("line_amount"), _ref("cost_code", "cost_code"), _ref("project_code", "project_code"),
    # posting control, for the rules of a link: the item to post this line under
    _ref("proxy_item", "item"),
)
_DOCUMENT_HEAD = (
    "number", _ref("contact", "contact"), _date("date"), _date("due_date"), "currency", "status",
    "reference", _dec("subtotal"), _dec("tax_total"), _dec("total"), "owner",
    _ref("term", "term"),  # the payment terms
    # posting controls, for the rules of a link (usually mapped on the local side only):
    # on hold, kept out of the books for good, and the record to post the document under
    _bool("on_hold"), _bool("nc_only"), _ref("proxy_contact", "contact"),
    # the books' state of the document (read in the books only; see BOOKS_STATE_FIELDS)
    "books_status", _dec("amount_due"), _dec("amount_paid"), "books_number", "books_url",
)
BOOKS_STATE_FIELDS = frozenset({"books_status", "amount_due", "amount_paid", "books_number",
                                "books_url"})
"""Document fields only the books know: their own status of the document (Xero's ``PAID``,
QuickBooks' ``paid`` / ``open``), the amount still due and the amount paid, the books' own
number of the document (Xero's InvoiceNumber, QuickBooks' DocNumber) and a link that opens
it in the books' web app. An order system maps a field for each it wants to receive; they
are never written to the books."""

ENTITY_TYPES: dict[str, EntityType] = {
    t.name: t
    for t in (
        EntityType(
            "organisation",
            _fields("name", "number", "email", "phone", "website", "tax_number", *_ADDRESS,
                    "notes", "owner", _bool("archived")),
            natural_keys=("number", "name"),
            doc="A company or other body: customer, supplier, partner.",
        ),
        EntityType(
            "contact",
            _fields("name", "first_name", "last_name", "email", "phone", "mobile",
                    _ref("organisation", "organisation"), "title", *_ADDRESS, "notes",
                    "categories", "owner", _bool("archived")),
            natural_keys=("email", "name"),
            doc="A person (or, in accounting systems, a customer or supplier account).",
        ),
        EntityType(
            "item",
            _fields("code", "name", "description", _dec("unit_price"), _dec("cost_price"),
                    _ref("ledger_account", "ledger_account"), _ref("tax_rate", "tax_rate"),
                    _bool("active")),
            natural_keys=("code",),
            doc="A product or service that documents sell or buy.",
        ),
        EntityType(
            "tax_rate",
            _fields("code", "name", _dec("rate"), _bool("active")),
            natural_keys=("code", "name"),
            doc="A VAT / sales tax code with its rate in percent.",
        ),
        EntityType(
            "ledger_account",
            _fields("code", "name", "type", "description", _ref("tax_rate", "tax_rate"),
                    _bool("active")),
            natural_keys=("code",),
            doc="A general-ledger account.",
        ),
        EntityType("cost_code", _fields("code", "name", _bool("active")), natural_keys=("code",),
                   doc="A cost centre / tracking option."),
        EntityType("project_code", _fields("code", "name", _bool("active")),
                   natural_keys=("code",), doc="A project / job code."),
        EntityType("invoice", _fields(*_DOCUMENT_HEAD, FieldSpec("lines", FieldType.LINES)),
                   natural_keys=("number",), line_fields=_DOCUMENT_LINES,
                   doc="A sales invoice (accounts receivable)."),
        EntityType("credit_note",
                   _fields(*_DOCUMENT_HEAD, _ref("invoice", "invoice"),
                           FieldSpec("lines", FieldType.LINES)),
                   natural_keys=("number",), line_fields=_DOCUMENT_LINES,
                   doc="A credit note against a customer or supplier."),
        EntityType("bill", _fields(*_DOCUMENT_HEAD, _ref("vendor", "vendor"),
                                   _ref("proxy_vendor", "vendor"),
                                   FieldSpec("lines", FieldType.LINES)),
                   natural_keys=("number",), line_fields=_DOCUMENT_LINES,
                   doc="A purchase invoice (accounts payable)."),
        EntityType("payment",
                   _fields("reference", _ref("invoice", "invoice"), _ref("contact", "contact"),
                           _date("date"), _dec("amount"), "currency",
                           _ref("ledger_account", "ledger_account"), "status",
                           _ref("bill", "bill")),
                   natural_keys=("reference",),
                   doc="A payment applied to a document: a customer's to an invoice, or one "
                       "to a supplier for a bill."),
        EntityType("vendor",
                   _fields("name", "first_name", "last_name", "email", "phone", "mobile",
                           "title", *_ADDRESS, "tax_number", "notes", _bool("archived")),
                   natural_keys=("email", "name"),
                   doc="A supplier account where the books keep suppliers apart from "
                       "customers (QuickBooks Online Vendor)."),
        EntityType("term",
                   _fields("name", FieldSpec("due_days", FieldType.INTEGER),
                           _dec("discount_percent"),
                           FieldSpec("discount_days", FieldType.INTEGER), _bool("active")),
                   natural_keys=("name",), doc="Payment terms (e.g. 'Net 30')."),
        EntityType("expense",
                   _fields("number", _ref("contact", "contact"), _date("date"), "description",
                           _dec("amount"), _dec("tax_amount"),
                           _ref("ledger_account", "ledger_account"),
                           _ref("tax_rate", "tax_rate"), _ref("cost_code", "cost_code"),
                           _ref("project_code", "project_code"), "owner", "status"),
                   natural_keys=("number",), doc="An expense claim or receipt."),
        EntityType("task",
                   _fields("uid", "summary", "description", _dt("due"), "status",
                           FieldSpec("priority", FieldType.INTEGER), _dt("completed"),
                           _ref("contact", "contact"), "owner", "categories"),
                   natural_keys=("uid",), doc="A to-do (VTODO)."),
        EntityType("event",
                   _fields("uid", "summary", "description", _dt("start"), _dt("end"),
                           _bool("all_day"), "timezone", "location", "attendees",
                           "recurrence", _ref("contact", "contact"), "owner", "categories"),
                   natural_keys=("uid",), doc="An appointment (VEVENT)."),
    )
}


def entity_type(stream: str) -> EntityType:
    """The canonical entity type of a stream name.

    Raises:
        KeyError: no canonical entity type has that name.
    """
    return ENTITY_TYPES[stream]


def stream_order(streams: Iterable[str]) -> list[str]:
    """Order streams so that every stream comes after the streams it references.

    Streams that reference each other (none of the canonical ones do) keep their given order.
    """
    wanted = list(dict.fromkeys(streams))
    placed: list[str] = []
    visiting: set[str] = set()

    def place(name: str) -> None:
        if name in placed or name in visiting:
            return
        visiting.add(name)
        spec = ENTITY_TYPES.get(name)
        if spec is not None:
            for target in spec.references().values():
                if target in wanted and target != name:
                    place(target)
        visiting.discard(name)
        placed.append(name)

    for name in wanted:
        place(name)
    return placed


@dataclass(slots=True)
class Record:
    """One item of a stream in canonical form (see the module docstring)."""

    key: str
    fields: dict[str, Any]
    version: str | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RecordColumns:
    """A columnar page (see the module docstring): record ``n`` has the key ``keys[n]`` and,
    for each field ``names[i]``, the value ``columns[i][n]``. Its records have no version,
    modification time or extra data (a connector that has those hands over records)."""

    keys: list[str]
    names: tuple[str, ...]
    columns: list[Sequence[Any]]
    distinct_keys: bool = False
    """Whether the connector guarantees that these keys differ from each other and from the
    keys of every earlier page of the same read (a key column the schema proves unique,
    read in key order): the engine then need not check for a key read twice."""

    def __len__(self) -> int:
        return len(self.keys)

    def column(self, name: str) -> Sequence[Any]:
        """The values of field ``name``, one per record (all ``None`` when the page has no
        such field)."""
        if name in self.names:
            return self.columns[self.names.index(name)]
        return [None] * len(self.keys)

    def records(self) -> list[Record]:
        """The same page as :class:`Record` objects, in order."""
        names = self.names
        if not self.columns:
            return [Record(key, {}) for key in self.keys]
        return [Record(key, dict(zip(names, values, strict=True)))
                for key, values in zip(self.keys, zip(*self.columns, strict=True), strict=True)]
