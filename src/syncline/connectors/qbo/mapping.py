"""How QBO entities map to syncline's canonical streams, both ways.

======================  ============  =====================================================
stream                  QBO entity    notes
======================  ============  =====================================================
``contact``             Customer      DisplayName, names, e-mail, phones, BillAddr, Notes
``vendor``              Vendor        as Customer, plus TaxIdentifier
``ledger_account``      Account       AcctNum is the code
``item``                Item          Sku is the code; new items are of Type Service
``term``                Term          DueDays, DiscountPercent, DiscountDays
``tax_rate``            TaxCode       read only; the rate sums the code's sales tax rates
``invoice``             Invoice       sales lines (SalesItemLineDetail); ``term`` is the
                                      SalesTermRef (a ``term`` record's Id; none sent: the
                                      customer's or the company's default terms apply)
``bill``                Bill          item lines or account lines (by whether ``item`` is set);
                                      the supplier is ``vendor`` (VendorRef), not ``contact``
``payment``             Payment       applied to at most one invoice
======================  ============  =====================================================

Read-only canonical fields (computed by QBO, never written): ``subtotal``, ``tax_total``,
``total`` and ``status`` (``paid`` / ``open`` from the balance) of documents, the books'
state of them (``books_status``, ``amount_due``, ``amount_paid``, ``books_number``: the
DocNumber, ``books_url``: a link opening it in QuickBooks, see :func:`app_link`), ``line_amount``
of lines that have a quantity and unit price (QBO computes it), ``rate`` of tax rates.
A reference field holds the referenced object's Id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from syncline.connectors.base import Capability
from syncline.errors import MalformedRecord
from syncline.model import BOOKS_STATE_FIELDS

__all__ = ["STREAMS", "EntityKind", "StreamMap", "app_link", "parse_qbo_time"]


class EntityKind(StrEnum):
    LIST = "list"
    TRANSACTION = "transaction"
    READ_ONLY = "read-only"


_LIST_CAPABILITIES = Capability.all()
_READ_ONLY_CAPABILITIES = Capability.READ | Capability.DETECT_DELETES


def parse_qbo_time(text: str) -> datetime:
    """Parse QBO's ``2026-11-22T07:40:01-07:00`` (a ``Z`` suffix accepted).

    Raises:
        ValueError: not an ISO date-time.
    """
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _get(item: dict[str, Any], path: str) -> Any:
    value: Any = item
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    target = body
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _decimal(value: Any, where: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise MalformedRecord(f"{where}: '{value}' is not a number") from None


def _date(value: Any, where: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise MalformedRecord(f"{where}: '{value}' is not a date") from None


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        found = value.get("value")
        return str(found) if found not in (None, "") else None
    return None


def _money(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


@dataclass(frozen=True, slots=True)
class Property:
    """One canonical field <-> one QBO property path. ``kind``: text, decimal, integer,
    date, ref (``{"value": Id}``); ``writable`` false for computed fields."""

    field: str
    path: str
    kind: str = "text"
    writable: bool = True

    def read(self, item: dict[str, Any], where: str) -> Any:
        raw = _get(item, self.path)
        if self.kind == "ref":
            return _ref(raw)
        if self.kind == "decimal":
            return _decimal(raw, where)
        if self.kind == "integer":
            number = _decimal(raw, where)
            return int(number) if number is not None else None
        if self.kind == "date":
            return _date(raw, where)
        return str(raw) if raw not in (None, "") else None

    def write(self, body: dict[str, Any], value: Any) -> None:
        if self.kind == "ref":
            _put(body, self.path, {"value": str(value)} if value not in (None, "") else None)
        elif self.kind == "date":
            _put(body, self.path, value.isoformat() if isinstance(value, date) else value)
        elif self.kind in ("decimal", "integer"):
            _put(body, self.path, _money(value) if value not in (None, "") else None)
        else:
            _put(body, self.path, value if value not in (None, "") else "")


def _names(*extra: Property) -> tuple[Property, ...]:
    return (Property("name", "DisplayName"), Property("first_name", "GivenName"),
            Property("last_name", "FamilyName"),
            Property("email", "PrimaryEmailAddr.Address"),
            Property("phone", "PrimaryPhone.FreeFormNumber"),
            Property("mobile", "Mobile.FreeFormNumber"), Property("title", "Title"),
            Property("street", "BillAddr.Line1"), Property("city", "BillAddr.City"),
            Property("region", "BillAddr.CountrySubDivisionCode"),
            Property("postcode", "BillAddr.PostalCode"),
            Property("country", "BillAddr.Country"), Property("notes", "Notes"), *extra)


_DOCUMENT = (Property("number", "DocNumber"), Property("date", "TxnDate", "date"),
             Property("due_date", "DueDate", "date"), Property("currency", "CurrencyRef", "ref"),
             Property("reference", "PrivateNote"), Property("term", "SalesTermRef", "ref"),
             Property("tax_total", "TxnTaxDetail.TotalTax", "decimal", writable=False),
             Property("total", "TotalAmt", "decimal", writable=False))


@dataclass(frozen=True)
class StreamMap:
    """One stream's mapping (see the module docstring)."""

    stream: str
    entity: str
    kind: EntityKind
    properties: tuple[Property, ...]
    lines: bool = False
    extra_read: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
    extra_write: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
    defaults: tuple[tuple[str, Any], ...] = ()

    @property
    def capabilities(self) -> Capability:
        return _READ_ONLY_CAPABILITIES if self.kind is EntityKind.READ_ONLY \
            else _LIST_CAPABILITIES

    @property
    def incremental(self) -> bool:
        """Whether change data capture covers the entity (not TaxCode / TaxRate)."""
        return self.kind is not EntityKind.READ_ONLY

    def field_names(self) -> frozenset[str]:
        names = {p.field for p in self.properties}
        if self.lines:
            names.add("lines")
        if self.stream in ("invoice", "bill"):
            names.update(("subtotal", "status", _PARTY[self.stream], *BOOKS_STATE_FIELDS))
        if self.stream == "payment":
            names.add("invoice")
        if self.stream == "tax_rate":
            names.add("rate")
        return frozenset(names)

    def read_only_fields(self) -> frozenset[str]:
        """The fields QBO computes, never written (see the module docstring)."""
        names = {p.field for p in self.properties if not p.writable}
        if self.stream in ("invoice", "bill"):
            names.update(("subtotal", "status", *BOOKS_STATE_FIELDS))
        if self.stream == "tax_rate":
            names.add("rate")
        return frozenset(names) & self.field_names()

    def to_fields(self, item: dict[str, Any]) -> dict[str, Any]:
        """Canonical fields of a QBO object.

        Raises:
            MalformedRecord: a number or date cannot be parsed.
        """
        where = f"{self.entity} {item.get('Id')}"
        fields = {p.field: p.read(item, f"{where} {p.path}") for p in self.properties}
        if self.extra_read is not None:
            self.extra_read(item, fields)
        return fields

    def to_body(self, fields: dict[str, Any], *, create: bool) -> dict[str, Any]:
        """The QBO properties for canonical ``fields`` (only the given ones, so that a
        sparse update changes nothing else); on create with the stream's defaults."""
        body: dict[str, Any] = dict(self.defaults) if create else {}
        for prop in self.properties:
            if prop.writable and prop.field in fields:
                if create and fields[prop.field] in (None, ""):
                    continue
                prop.write(body, fields[prop.field])
        if self.extra_write is not None:
            self.extra_write(fields, body)
        return body


_PARTY = {"invoice": "contact", "bill": "vendor"}
"""The canonical field naming a document's party: an invoice's customer is a ``contact``
(QBO Customer), a bill's supplier a ``vendor`` (QBO Vendor; QBO keeps suppliers apart from
customers, so a bill's party must be a record of the ``vendor`` stream)."""


_APP_PAGES = {"Invoice": "invoice", "Bill": "bill"}


def app_link(base_url: str, realm: str, entity: str, key: str) -> str | None:
    """The link that opens document ``key`` (an Invoice or Bill) of company ``realm`` in
    QuickBooks Online's web app: Intuit's development sandbox's app for an API at
    ``sandbox-quickbooks.api.intuit.com``, the production app otherwise (``None``: another
    entity)."""
    page = _APP_PAGES.get(entity)
    if page is None or not key:
        return None
    app = "https://app.sandbox.qbo.intuit.com" if "sandbox-quickbooks." in base_url \
        else "https://app.qbo.intuit.com"
    return f"{app}/app/{page}?txnId={key}&companyId={realm}"


def _document_read(party: str, field: str = "contact"
                   ) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def read(item: dict[str, Any], fields: dict[str, Any]) -> None:
        where = f"{item.get('Id')}"
        fields[field] = _ref(item.get(party))
        total = _decimal(item.get("TotalAmt"), where) or Decimal(0)
        tax = _decimal(_get(item, "TxnTaxDetail.TotalTax"), where) or Decimal(0)
        fields["subtotal"] = total - tax
        balance = _decimal(item.get("Balance"), where)
        fields["status"] = None if balance is None else ("paid" if balance == 0 else "open")
        fields["books_status"], fields["amount_due"] = fields["status"], balance
        fields["books_number"] = str(item["DocNumber"]) if item.get("DocNumber") else None
        fields["amount_paid"] = None if balance is None or item.get("TotalAmt") is None \
            else total - balance
        fields["lines"] = [_line_fields(line, where) for line in item.get("Line") or ()
                           if isinstance(line, dict) and line.get("DetailType") in _LINE_KINDS]
    return read


_LINE_KINDS = ("SalesItemLineDetail", "ItemBasedExpenseLineDetail",
               "AccountBasedExpenseLineDetail")


def _line_fields(line: dict[str, Any], where: str) -> dict[str, Any]:
    detail = line.get(line["DetailType"]) or {}
    return {"description": line.get("Description") or None,
            "item": _ref(detail.get("ItemRef")),
            "quantity": _decimal(detail.get("Qty"), where),
            "unit_price": _decimal(detail.get("UnitPrice"), where),
            "ledger_account": _ref(detail.get("AccountRef")),
            "tax_rate": _ref(detail.get("TaxCodeRef")),
            "line_amount": _decimal(line.get("Amount"), where)}


def _line_body(line: dict[str, Any], *, sales: bool) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if line.get("item"):
        detail["ItemRef"] = {"value": str(line["item"])}
        kind = "SalesItemLineDetail" if sales else "ItemBasedExpenseLineDetail"
    else:
        kind = "SalesItemLineDetail" if sales else "AccountBasedExpenseLineDetail"
        if line.get("ledger_account"):
            detail["AccountRef"] = {"value": str(line["ledger_account"])}
    if line.get("quantity") not in (None, ""):
        detail["Qty"] = _money(line["quantity"])
    if line.get("unit_price") not in (None, ""):
        detail["UnitPrice"] = _money(line["unit_price"])
    if line.get("tax_rate"):
        detail["TaxCodeRef"] = {"value": str(line["tax_rate"])}
    body: dict[str, Any] = {"DetailType": kind, kind: detail}
    if line.get("description"):
        body["Description"] = line["description"]
    if "Qty" not in detail or "UnitPrice" not in detail:
        body["Amount"] = _money(line.get("line_amount"))
    return body


def _document_write(party: str, *, sales: bool, field: str = "contact"
                    ) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def write(fields: dict[str, Any], body: dict[str, Any]) -> None:
        if field in fields:
            body[party] = {"value": str(fields[field])} if fields[field] else None
        if "lines" in fields:
            body["Line"] = [_line_body(line, sales=sales) for line in fields["lines"] or ()]
    return write


def _payment_read(item: dict[str, Any], fields: dict[str, Any]) -> None:
    fields["invoice"] = None
    for line in item.get("Line") or ():
        for linked in line.get("LinkedTxn") or ():
            if linked.get("TxnType") == "Invoice":
                fields["invoice"] = str(linked.get("TxnId"))
                return


def _payment_write(fields: dict[str, Any], body: dict[str, Any]) -> None:
    if "invoice" in fields or "amount" in fields:
        invoice = fields.get("invoice")
        body["Line"] = [{"Amount": _money(fields.get("amount")),
                         "LinkedTxn": [{"TxnId": str(invoice), "TxnType": "Invoice"}]}] \
            if invoice else []


STREAMS: dict[str, StreamMap] = {m.stream: m for m in (
    StreamMap("contact", "Customer", EntityKind.LIST, _names()),
    StreamMap("vendor", "Vendor", EntityKind.LIST, _names(Property("tax_number",
                                                                   "TaxIdentifier"))),
    StreamMap("ledger_account", "Account", EntityKind.LIST, (
        Property("code", "AcctNum"), Property("name", "Name"), Property("type", "AccountType"),
        Property("description", "Description"), Property("tax_rate", "TaxCodeRef", "ref"))),
    StreamMap("item", "Item", EntityKind.LIST, (
        Property("code", "Sku"), Property("name", "Name"), Property("description", "Description"),
        Property("unit_price", "UnitPrice", "decimal"),
        Property("cost_price", "PurchaseCost", "decimal"),
        Property("ledger_account", "IncomeAccountRef", "ref"),
        Property("tax_rate", "SalesTaxCodeRef", "ref")), defaults=(("Type", "Service"),)),
    StreamMap("term", "Term", EntityKind.LIST, (
        Property("name", "Name"), Property("due_days", "DueDays", "integer"),
        Property("discount_percent", "DiscountPercent", "decimal"),
        Property("discount_days", "DiscountDays", "integer"))),
    StreamMap("tax_rate", "TaxCode", EntityKind.READ_ONLY, (
        Property("code", "Name", writable=False), Property("name", "Description",
                                                           writable=False))),
    StreamMap("invoice", "Invoice", EntityKind.TRANSACTION, _DOCUMENT, lines=True,
              extra_read=_document_read("CustomerRef"),
              extra_write=_document_write("CustomerRef", sales=True)),
    StreamMap("bill", "Bill", EntityKind.TRANSACTION, _DOCUMENT, lines=True,
              extra_read=_document_read("VendorRef", _PARTY["bill"]),
              extra_write=_document_write("VendorRef", sales=False, field=_PARTY["bill"])),
    StreamMap("payment", "Payment", EntityKind.TRANSACTION, (
        Property("reference", "PaymentRefNum"), Property("contact", "CustomerRef", "ref"),
        Property("date", "TxnDate", "date"), Property("amount", "TotalAmt", "decimal"),
        Property("currency", "CurrencyRef", "ref"),
        Property("ledger_account", "DepositToAccountRef", "ref")),
        extra_read=_payment_read, extra_write=_payment_write),
)}
