"""Xero's objects <-> syncline's canonical records, per stream.

Keys: contacts, documents and payments by their Xero UUIDs; reference data by the code
documents name it with, as Xero's own lines do: ledger accounts by ``Code`` (the
``AccountID`` for an account without a code), tax rates by ``TaxType``, items by ``Code``,
cost and project codes by the tracking option's name. So a line's ``ledger_account``,
``tax_rate``, ``item``, ``cost_code`` and ``project_code`` are the codes Xero shows and
takes (``AccountCode``, ``TaxType``, ``ItemCode``, tracking ``Option``), whether or not the
link syncs those streams; a code Xero does not know is refused by Xero with its own
validation error ("Account code '999' is not a valid code for this document.").
A document line that names both a product (``item``) and a ledger account goes with its
``ItemCode`` only when the organisation holds that item (the item stream is synced to the
books, or the items were made there); otherwise as an account line, ``AccountCode`` alone
(see :func:`to_xero`).

Versions are ``UpdatedDateUTC`` in milliseconds since the epoch (as text).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from syncline.model import Record

__all__ = ["GONE", "STREAMS", "StreamSpec", "from_xero", "is_gone", "key_of", "to_xero",
           "updated_ms",
           "xero_date"]

_MS = re.compile(r"/Date\((-?\d+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """Where a stream lives in the API and how its records are keyed and filtered."""

    collection: str
    id_field: str
    where: str | None = None
    status_field: str | None = None
    paged: bool = False
    modified_since: bool = False
    by_ids: bool = False
    """Whether ``GET`` takes ``IDs``; without it, records are asked for by key with a
    ``where`` clause (``PaymentID==Guid("...") OR ...``)."""


STREAMS: dict[str, StreamSpec] = {
    "contact": StreamSpec("Contacts", "ContactID", None, "ContactStatus", True, True, True),
    "invoice": StreamSpec("Invoices", "InvoiceID", 'Type=="ACCREC"', "Status", True, True,
                          True),
    "bill": StreamSpec("Invoices", "InvoiceID", 'Type=="ACCPAY"', "Status", True, True, True),
    "credit_note": StreamSpec("CreditNotes", "CreditNoteID", None, "Status", True, True),
    "payment": StreamSpec("Payments", "PaymentID", None, "Status", True, True),
    "ledger_account": StreamSpec("Accounts", "AccountID", None, "Status", False, True),
    "tax_rate": StreamSpec("TaxRates", "TaxType", None, "Status"),
    "item": StreamSpec("Items", "ItemID"),
    "cost_code": StreamSpec("TrackingCategories", "TrackingOptionID", None, "Status"),
    "project_code": StreamSpec("TrackingCategories", "TrackingOptionID", None, "Status"),
}
GONE = {"ARCHIVED", "DELETED", "VOIDED"}
"""Statuses that count as deleted: the record is left out of reads."""
_INACTIVE_WHEN_ARCHIVED = frozenset({"tax_rate", "cost_code", "project_code"})


def is_gone(stream: str, obj: dict[str, Any]) -> bool:
    """Whether ``obj`` counts as deleted. Archived tax rates and tracking options do not:
    they are read-only codes old documents still carry, so they stay as records with
    ``active`` false (only a DELETED tax rate is gone)."""
    status = obj.get(STREAMS[stream].status_field or "")
    if stream in _INACTIVE_WHEN_ARCHIVED:
        return status == "DELETED"
    return status in GONE


def key_of(stream: str, obj: dict[str, Any]) -> str:
    """The record key of a Xero object of ``stream`` (see the module docstring)."""
    if stream == "ledger_account":
        return str(obj.get("Code") or str(obj["AccountID"]).lower())
    if stream == "tax_rate":
        return str(obj["TaxType"])
    if stream == "item":
        return str(obj["Code"])
    if stream in ("cost_code", "project_code"):
        return str(obj["Name"])
    return str(obj[STREAMS[stream].id_field]).lower()


def updated_ms(obj: dict[str, Any]) -> int | None:
    found = _MS.search(str(obj.get("UpdatedDateUTC") or ""))
    return int(found.group(1)) if found else None


def _moment(millis: int | None) -> datetime | None:
    return None if millis is None else _EPOCH + timedelta(milliseconds=millis)


def _day(value: Any) -> date | None:
    found = _MS.search(str(value or ""))
    if found:
        return (_EPOCH + timedelta(milliseconds=int(found.group(1)))).date()
    if isinstance(value, str) and len(value) >= 10:
        return date.fromisoformat(value[:10])
    return None


def xero_date(value: Any) -> str | None:
    """A canonical date as Xero takes it (``YYYY-MM-DD``)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


# -- reading ----------------------------------------------------------------------------------
def _typed(objects: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    return next((entry for entry in objects if entry.get("PhoneType", entry.get(
        "AddressType")) == wanted), None)


def _contact(obj: dict[str, Any]) -> dict[str, Any]:
    phone = _typed(obj.get("Phones") or [], "DEFAULT") or {}
    mobile = _typed(obj.get("Phones") or [], "MOBILE") or {}
    street = _typed(obj.get("Addresses") or [], "STREET") or {}
    return {"name": obj.get("Name"), "first_name": obj.get("FirstName") or None,
            "last_name": obj.get("LastName") or None, "email": obj.get("EmailAddress") or None,
            "phone": phone.get("PhoneNumber") or None, "mobile": mobile.get("PhoneNumber")
            or None, "street": street.get("AddressLine1") or None,
            "city": street.get("City") or None, "region": street.get("Region") or None,
            "postcode": street.get("PostalCode") or None,
            "country": street.get("Country") or None,
            "archived": obj.get("ContactStatus") == "ARCHIVED"}


def _lines(obj: dict[str, Any], tracking: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for line in obj.get("LineItems") or []:
        codes: dict[str, str | None] = {"cost_code": None, "project_code": None}
        for entry in line.get("Tracking") or []:
            for stream, category in tracking.items():
                if str(entry.get("Name", "")).lower() == category.lower():
                    codes[stream] = entry.get("Option")
        item = line.get("ItemCode") or (line.get("Item") or {}).get("Code")
        out.append({"description": line.get("Description") or None, "item": item or None,
                    "quantity": _decimal(line.get("Quantity")),
                    "unit_price": _decimal(line.get("UnitAmount")),
                    "ledger_account": line.get("AccountCode") or None,
                    "tax_rate": line.get("TaxType") or None,
                    "tax_amount": _decimal(line.get("TaxAmount")),
                    "line_amount": _decimal(line.get("LineAmount")), **codes})
    return out


def _document(obj: dict[str, Any], number_field: str, tracking: dict[str, str]) \
        -> dict[str, Any]:
    return {"number": obj.get(number_field) or None,
            "contact": (obj.get("Contact") or {}).get("ContactID"),
            "date": _day(obj.get("Date")), "due_date": _day(obj.get("DueDate")),
            "currency": obj.get("CurrencyCode"), "status": obj.get("Status"),
            "reference": obj.get("Reference") or None,
            "subtotal": _decimal(obj.get("SubTotal")), "tax_total": _decimal(obj.get("TotalTax")),
            "total": _decimal(obj.get("Total")),
            "books_status": obj.get("Status"), "amount_due": _decimal(obj.get("AmountDue")),
            "amount_paid": _decimal(obj.get("AmountPaid")),
            "books_number": obj.get(number_field) or None, "books_url": _app_link(obj),
            "lines": _lines(obj, tracking)}


APP_URL = "https://go.xero.com"
"""Xero's web app: a document's ``books_url`` opens it there (Xero's deep links; for an
organisation other than the user's last one, Xero asks which to open)."""

_APP_PAGES = {"ACCREC": "/AccountsReceivable/View.aspx?InvoiceID=",
              "ACCPAY": "/AccountsPayable/View.aspx?InvoiceID="}


def _app_link(obj: dict[str, Any]) -> str | None:
    """The link that opens an invoice or bill in Xero's web app (``None``: another kind of
    document, or one without an ID)."""
    page = _APP_PAGES.get(str(obj.get("Type")))
    invoice_id = obj.get("InvoiceID")
    return f"{APP_URL}{page}{invoice_id}" if page and invoice_id else None


def from_xero(stream: str, obj: dict[str, Any], tracking: dict[str, str]) -> Record:
    """The canonical record of a Xero object of ``stream``."""
    millis = updated_ms(obj)
    if stream == "contact":
        fields = _contact(obj)
    elif stream in ("invoice", "bill"):
        fields = _document(obj, "InvoiceNumber", tracking)
    elif stream == "credit_note":
        fields = _document(obj, "CreditNoteNumber", tracking)
    elif stream == "payment":
        document = obj.get("Invoice") or obj.get("CreditNote") or {}
        paid = str(document.get("InvoiceID") or document.get("CreditNoteID") or "").lower() \
            or None
        bill = document.get("Type") == "ACCPAY"  # a payment to a supplier
        fields = {"reference": obj.get("Reference") or None,
                  "invoice": None if bill else paid, "bill": paid if bill else None,
                  "contact": (document.get("Contact") or {}).get("ContactID"),
                  "date": _day(obj.get("Date")), "amount": _decimal(obj.get("Amount")),
                  "ledger_account": (obj.get("Account") or {}).get("Code")
                  or str((obj.get("Account") or {}).get("AccountID") or "").lower() or None,
                  "status": obj.get("Status")}
    elif stream == "ledger_account":
        fields = {"code": obj.get("Code"), "name": obj.get("Name"), "type": obj.get("Type"),
                  "description": obj.get("Description") or None,
                  "tax_rate": obj.get("TaxType") or None,
                  "active": obj.get("Status") == "ACTIVE"}
    elif stream == "tax_rate":
        fields = {"code": obj.get("TaxType"), "name": obj.get("Name"),
                  "rate": _decimal(obj.get("EffectiveRate")),
                  "active": obj.get("Status") == "ACTIVE"}
    elif stream == "item":
        sales = obj.get("SalesDetails") or {}
        purchase = obj.get("PurchaseDetails") or {}
        fields = {"code": obj.get("Code"), "name": obj.get("Name") or None,
                  "description": obj.get("Description") or None,
                  "unit_price": _decimal(sales.get("UnitPrice")),
                  "cost_price": _decimal(purchase.get("UnitPrice")),
                  "ledger_account": sales.get("AccountCode") or None,
                  "tax_rate": sales.get("TaxType") or None,
                  "active": True}
    else:  # tracking options
        fields = {"code": obj.get("Name"), "name": obj.get("Name"),
                  "active": obj.get("Status") == "ACTIVE"}
    version = str(millis) if millis is not None else None
    return Record(key_of(stream, obj), fields, version, _moment(millis))


# -- writing ----------------------------------------------------------------------------------
def _set(out: dict[str, Any], name: str, value: Any) -> None:
    out[name] = "" if value is None else value


def _contact_out(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for canonical, xero in (("name", "Name"), ("first_name", "FirstName"),
                            ("last_name", "LastName"), ("email", "EmailAddress")):
        if canonical in fields:
            _set(out, xero, fields[canonical])
    phones = [{"PhoneType": kind, "PhoneNumber": fields[name] or ""}
              for name, kind in (("phone", "DEFAULT"), ("mobile", "MOBILE")) if name in fields]
    if phones:
        out["Phones"] = phones
    address = {xero: fields[name] or "" for name, xero in (
        ("street", "AddressLine1"), ("city", "City"), ("region", "Region"),
        ("postcode", "PostalCode"), ("country", "Country")) if name in fields}
    if address:
        out["Addresses"] = [{"AddressType": "STREET", **address}]
    if "archived" in fields:
        out["ContactStatus"] = "ARCHIVED" if fields["archived"] else "ACTIVE"
    return out


def _lines_out(lines: list[dict[str, Any]], tracking: dict[str, str],
               item_codes: Collection[str] | None = None) -> list[dict[str, Any]]:
    out = []
    for line in lines or []:
        entry: dict[str, Any] = {}
        if line.get("description") is not None:
            entry["Description"] = line["description"]
        for canonical, xero in (("quantity", "Quantity"), ("unit_price", "UnitAmount"),
                                ("tax_amount", "TaxAmount"), ("line_amount", "LineAmount"),
                                ("item", "ItemCode"), ("ledger_account", "AccountCode"),
                                ("tax_rate", "TaxType")):
            if line.get(canonical) not in (None, ""):
                entry[xero] = line[canonical]
        if "ItemCode" in entry and "AccountCode" in entry and item_codes is not None \
                and str(entry["ItemCode"]).casefold() not in item_codes:
            del entry["ItemCode"]  # an account line: the product is no Xero item
        options = [{"Name": tracking[name], "Option": line[name]}
                   for name in ("cost_code", "project_code") if line.get(name)]
        if options:
            entry["Tracking"] = options
        out.append(entry)
    return out


def _account_reference(key: Any) -> dict[str, Any]:
    text = str(key or "")
    if len(text) == 36 and text.count("-") == 4:
        return {"AccountID": text}
    return {"Code": text}


def to_xero(stream: str, fields: dict[str, Any], tracking: dict[str, str],
            document_type: str | None = None, *,
            item_codes: Collection[str] | None = None) -> dict[str, Any]:
    """The Xero element for canonical ``fields`` (only the fields given: an update leaves
    the others as they are). ``tracking`` names the tracking category of ``cost_code`` and
    ``project_code``. ``item_codes`` (case-folded), when given, are the items the
    organisation holds: a document line with a ledger account whose item is not one of
    them goes as an account line (``AccountCode``, no ``ItemCode``, which Xero would refuse:
    "Item code 'X' is not valid"); ``None``: every line's item goes as its ``ItemCode``.

    Raises:
        KeyError: the connector cannot write ``stream``.
    """
    if stream == "contact":
        return _contact_out(fields)
    out: dict[str, Any] = {}
    if stream in ("invoice", "bill", "credit_note"):
        number_field = "CreditNoteNumber" if stream == "credit_note" else "InvoiceNumber"
        for canonical, xero in (("number", number_field), ("currency", "CurrencyCode"),
                                ("status", "Status"), ("reference", "Reference")):
            if fields.get(canonical) is not None:
                out[xero] = fields[canonical]
        if fields.get("contact"):
            out["Contact"] = {"ContactID": fields["contact"]}
        for canonical, xero in (("date", "Date"), ("due_date", "DueDate")):
            if fields.get(canonical) is not None:
                out[xero] = xero_date(fields[canonical])
        if "lines" in fields:
            out["LineItems"] = _lines_out(fields["lines"] or [], tracking, item_codes)
        if document_type:
            out["Type"] = document_type
        return out
    if stream == "payment":
        out = {"Amount": fields.get("amount"), "Date": xero_date(fields.get("date")),
               "Reference": fields.get("reference") or "",
               "Invoice": {"InvoiceID": fields.get("invoice") or fields.get("bill")},
               "Account": _account_reference(fields.get("ledger_account"))}
        return out
    if stream == "ledger_account":
        for canonical, xero in (("code", "Code"), ("name", "Name"), ("type", "Type"),
                                ("description", "Description"), ("tax_rate", "TaxType")):
            if canonical in fields:
                _set(out, xero, fields[canonical])
        if "active" in fields:
            out["Status"] = "ACTIVE" if fields["active"] in (True, None) else "ARCHIVED"
        return out
    if stream == "item":
        for canonical, xero in (("code", "Code"), ("name", "Name"),
                                ("description", "Description")):
            if canonical in fields:
                _set(out, xero, fields[canonical])
        sales: dict[str, Any] = {}
        if fields.get("unit_price") is not None:
            sales["UnitPrice"] = fields["unit_price"]
        if fields.get("ledger_account"):
            sales["AccountCode"] = fields["ledger_account"]
        if fields.get("tax_rate"):
            sales["TaxType"] = fields["tax_rate"]
        if sales:
            out["SalesDetails"] = sales
        if fields.get("cost_price") is not None:
            out["PurchaseDetails"] = {"UnitPrice": fields["cost_price"]}
        return out
    raise KeyError(f"the xero connector cannot write {stream}")
