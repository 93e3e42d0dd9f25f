"""Invoices (ACCREC), bills (ACCPAY) and credit notes in the Xero sandbox: line arithmetic,
reference checks and status transitions.

Status rules (Xero's, for invoices and credit notes):

=============  ==============================================================
from           may become
=============  ==============================================================
(new)          DRAFT (default), SUBMITTED, AUTHORISED
DRAFT          DRAFT, SUBMITTED, AUTHORISED, DELETED
SUBMITTED      SUBMITTED, DRAFT, AUTHORISED, DELETED
AUTHORISED     AUTHORISED, VOIDED (only without payments); PAID comes from payments
PAID           nothing (delete the payments first)
VOIDED         nothing
DELETED        nothing
=============  ==============================================================

An AUTHORISED document may still be edited while nothing was paid on it; a paid or part-paid
one takes only a new reference, due date, expected or planned payment date, sent flag and
URL (:data:`_PAID_EDITABLE`). Lines: ``LineAmount``
= quantity x unit amount less discount, rounded to cents; a given ``LineAmount`` that differs
from it by more than a cent is a "line total mismatch". Tax per line is computed from the tax
rate unless the request gives ``TaxAmount`` (Xero accepts tax adjustments).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from syncline.sandbox.xero.rules import (
    ElementInvalid,
    WriteContext,
    find_account_by_code,
    find_contact,
    find_item_by_code,
    find_tax_rate,
    find_tracking_option,
    new_id,
)
from syncline.sandbox.xero.values import money, ms_date, parse_date, to_number

__all__ = ["TRANSITIONS", "write_credit_note", "write_invoice"]

TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"DRAFT", "SUBMITTED", "AUTHORISED"}),
    "DRAFT": frozenset({"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"}),
    "SUBMITTED": frozenset({"SUBMITTED", "DRAFT", "AUTHORISED", "DELETED"}),
    "AUTHORISED": frozenset({"AUTHORISED", "VOIDED"}),
    "PAID": frozenset(),
    "VOIDED": frozenset(),
    "DELETED": frozenset(),
}
_HEAD_FIELDS = ("Reference", "CurrencyCode", "LineAmountTypes", "BrandingThemeID",
                "SentToContact", "Url", "ExpectedPaymentDate", "PlannedPaymentDate")
_DRAFTY = frozenset({"DRAFT", "SUBMITTED"})
_PAID_EDITABLE = frozenset({"Reference", "DueDate", "ExpectedPaymentDate",
                            "PlannedPaymentDate", "SentToContact", "Url"})
"""What a paid or part-paid document still takes (anything else is refused: "This document
cannot be edited as it has a payment or credit note allocated to it")."""


def _number(value: Any, what: str) -> Decimal:
    try:
        return to_number(value)
    except ValueError:
        raise ElementInvalid(f"{what} must be a number") from None


def _lines(context: WriteContext, lines: list[dict[str, Any]], status: str,
           amount_types: str, unit_places: Decimal) -> list[dict[str, Any]]:
    """Check and complete the lines; raises ElementInvalid with every problem found."""
    tenant = context.tenant
    problems: list[str] = []
    out: list[dict[str, Any]] = []
    for number, given in enumerate(lines, start=1):
        line = copy.deepcopy(given)
        line["LineItemID"] = str(line.get("LineItemID") or new_id()).lower()
        item_code = line.get("ItemCode")
        if item_code:
            item = find_item_by_code(tenant, str(item_code))
            if item is None:
                problems.append(f"Item code '{item_code}' is not valid")
            else:
                line["Item"] = {"ItemID": item["ItemID"], "Code": item["Code"],
                                "Name": item.get("Name", "")}
                details = item.get("SalesDetails") or {}
                line.setdefault("Description", item.get("Description", ""))
                if "UnitAmount" not in line and "UnitPrice" in details:
                    line["UnitAmount"] = details["UnitPrice"]
                line.setdefault("AccountCode", details.get("AccountCode"))
                line.setdefault("TaxType", details.get("TaxType"))
                if line.get("AccountCode") is None:
                    line.pop("AccountCode")
                if line.get("TaxType") is None:
                    line.pop("TaxType")
        account_code = line.get("AccountCode")
        account_id = line.get("AccountID")
        if account_code:
            account = find_account_by_code(tenant, str(account_code))
            if account is None or account.get("Status") != "ACTIVE":
                problems.append(f"Account code '{account_code}' is not a valid code for this "
                                f"document.")
            else:
                line["AccountID"] = account["AccountID"]
                line.setdefault("TaxType", account.get("TaxType"))
        elif account_id:
            account = tenant.get("Accounts", str(account_id))
            if account is None or account.get("Status") != "ACTIVE":
                problems.append(f"AccountID '{account_id}' is not valid for this document.")
            else:
                line["AccountCode"] = account["Code"]
                line.setdefault("TaxType", account.get("TaxType"))
        elif status not in _DRAFTY:
            problems.append(f"Line {number}: an account code must be specified")
        tax_type = line.get("TaxType")
        rate = Decimal(0)
        if tax_type and amount_types != "NoTax":
            tax_rate = find_tax_rate(tenant, str(tax_type))
            if tax_rate is None:
                problems.append(f"The TaxType code '{tax_type}' does not exist or cannot be "
                                f"used for this type of transaction.")
            else:
                rate = Decimal(str(tax_rate["EffectiveRate"]))
        tracking = []
        for entry in line.get("Tracking") or []:
            found = find_tracking_option(tenant, entry)
            if found is None:
                option_name = entry.get("Option") or entry.get("TrackingOptionID")
                category_name = entry.get("Name") or entry.get("TrackingCategoryID")
                problems.append(f"Tracking option '{option_name}' of category "
                                f"'{category_name}' does not exist")
                continue
            category, option = found
            tracking.append({"TrackingCategoryID": category["TrackingCategoryID"],
                             "TrackingOptionID": option["TrackingOptionID"],
                             "Name": category["Name"], "Option": option["Name"]})
        line["Tracking"] = tracking
        quantity = _number(line.get("Quantity", 1), f"Line {number} Quantity")
        unit = money(_number(line.get("UnitAmount", 0), f"Line {number} UnitAmount"),
                     unit_places)
        discount = _number(line.get("DiscountRate", 0), f"Line {number} DiscountRate")
        expected = money(quantity * unit * (Decimal(100) - discount) / Decimal(100))
        if "LineAmount" in line and line["LineAmount"] is not None:
            given_amount = money(_number(line["LineAmount"], f"Line {number} LineAmount"))
            if "UnitAmount" in given and abs(given_amount - expected) > Decimal("0.01"):
                problems.append(f"The line total {given_amount} does not match the expected "
                                f"line total {expected}")
            amount = given_amount
        else:
            amount = expected
        if "TaxAmount" in line and line["TaxAmount"] is not None:
            tax = money(_number(line["TaxAmount"], f"Line {number} TaxAmount"))
        elif amount_types == "Inclusive":
            tax = money(amount - amount / (Decimal(1) + rate / Decimal(100)))
        else:
            tax = money(amount * rate / Decimal(100))
        line.update(Quantity=quantity, UnitAmount=unit, LineAmount=amount, TaxAmount=tax)
        if "DiscountRate" in line:
            line["DiscountRate"] = discount
        out.append(line)
    if problems:
        raise ElementInvalid(*problems)
    return out


def _paid(record: dict[str, Any]) -> bool:
    """Whether money was allocated to the document (PAID, or part-paid)."""
    return record.get("Status") == "PAID" or (
        record.get("Status") == "AUTHORISED" and Decimal(record.get("AmountPaid", 0)) > 0)


def _edit_paid(context: WriteContext, record: dict[str, Any], element: dict[str, Any],
               collection: str, id_field: str) -> dict[str, Any]:
    """An update of a paid or part-paid document that changes only what Xero still lets
    change on one (:data:`_PAID_EDITABLE`).

    Raises:
        ElementInvalid: a date that is not a date.
    """
    for name in _PAID_EDITABLE & set(element):
        if name == "DueDate":
            try:
                record[name] = ms_date(parse_date(element[name]))
            except ValueError:
                raise ElementInvalid(f"{name} '{element[name]}' is not a valid date") from None
        else:
            record[name] = element[name]
    return context.put(collection, record[id_field], record)


def _write_document(context: WriteContext, element: dict[str, Any],
                    existing: dict[str, Any] | None, *, collection: str, id_field: str,
                    number_field: str, types: tuple[str, str], unit_places: Decimal) \
        -> dict[str, Any]:
    tenant = context.tenant
    before = existing.get("Status") if existing else None
    record: dict[str, Any] = copy.deepcopy(existing) if existing else {
        id_field: new_id(), "Status": "DRAFT", "LineAmountTypes": "Exclusive",
        "CurrencyCode": "GBP", "LineItems": [], "HasAttachments": False,
        "AmountPaid": Decimal(0), "Payments": []}
    status = str(element.get("Status") or (before or "DRAFT"))
    if existing is not None and status == before and _paid(record) \
            and set(element) - {id_field, "Status"} <= _PAID_EDITABLE:
        return _edit_paid(context, record, element, collection, id_field)
    problems: list[str] = []
    if status not in TRANSITIONS.get(before, frozenset()):
        if before in ("PAID", "VOIDED", "DELETED") or before is None:
            problems.append(f"{'Document' if before else 'A new document'} of status "
                            f"{before or 'new'} cannot be changed to {status}")
        else:
            problems.append(f"Invoice not of valid status for modification: {before} cannot "
                            f"become {status}")
        raise ElementInvalid(*problems)
    if before == "AUTHORISED" and Decimal(record.get("AmountPaid", 0)) > 0 and \
            (status == "VOIDED" or set(element) - {id_field, "Status"}):
        raise ElementInvalid("This document cannot be edited as it has a payment or credit "
                             "note allocated to it.")
    kind = element.get("Type", record.get("Type"))
    if kind not in types:
        problems.append(f"{collection[:-1]} Type must be one of {', '.join(types)}")
    contact = find_contact(tenant, element["Contact"]) if "Contact" in element else (
        tenant.get("Contacts", record["Contact"]["ContactID"]) if "Contact" in record else None)
    if "Contact" in element and contact is None and isinstance(element["Contact"], dict) \
            and not element["Contact"].get("ContactID") and element["Contact"].get("Name"):
        contact = {"ContactID": new_id(), "Name": str(element["Contact"]["Name"]).strip(),
                   "ContactStatus": "ACTIVE", "IsCustomer": False, "IsSupplier": False,
                   "Addresses": [], "Phones": [], "ContactGroups": [], "ContactPersons": [],
                   "HasAttachments": False, "HasValidationErrors": False}
        context.put("Contacts", contact["ContactID"], contact)
    if contact is None:
        if "Contact" in element and isinstance(element["Contact"], dict) \
                and element["Contact"].get("ContactID"):
            problems.append(f"The contact with ContactID '{element['Contact']['ContactID']}' "
                            f"could not be found")
        else:
            problems.append("A Contact must be specified for this type of transaction")
    elif contact.get("ContactStatus") == "ARCHIVED" and "Contact" in element:
        problems.append(f"The contact '{contact.get('Name')}' is archived and cannot be used")
    for name in ("Date", "DueDate"):
        if element.get(name):
            try:
                record[name] = ms_date(parse_date(element[name]))
            except ValueError:
                problems.append(f"{name} '{element[name]}' is not a valid date")
    record.setdefault("Date", ms_date(context.now.date()))
    number = element.get(number_field)
    if number is not None:
        record[number_field] = str(number)
    if kind == types[0] and not record.get(number_field):
        prefix = "INV" if collection == "Invoices" else "CN"
        record[number_field] = f"{prefix}-{len(tenant.collections[collection]) + 1:04d}"
    if kind == types[0] and record.get(number_field) and status != "DELETED":
        holder = context.holder_of(collection, str(kind), str(record[number_field]))
        if holder is not None and holder != record[id_field]:
            live = tenant.get(collection, holder)
            if live is not None and live.get(number_field) == record[number_field] \
                    and live.get("Status") not in ("DELETED", "VOIDED"):
                problems.append(f"{'Invoice' if collection == 'Invoices' else 'Credit Note'} "
                                f"# must be unique.")
    amount_types = str(element.get("LineAmountTypes", record.get("LineAmountTypes")))
    lines = element.get("LineItems")
    try:
        if lines is not None:
            record["LineItems"] = _lines(context, lines, status, amount_types, unit_places)
        elif status not in _DRAFTY and any("AccountCode" not in line
                                           for line in record["LineItems"]):
            raise ElementInvalid("Every line must have an account code before the document "
                                 "is approved")
    except ElementInvalid as invalid:
        problems.extend(invalid.messages)
    if status == "AUTHORISED" and not (lines if lines is not None else record["LineItems"]):
        problems.append("A document must have at least one line item to be approved")
    if problems:
        raise ElementInvalid(*problems)
    for name in _HEAD_FIELDS:
        if name in element:
            record[name] = element[name]
    record["Type"] = kind
    record["Status"] = status
    if contact is not None:
        record["Contact"] = {"ContactID": contact["ContactID"], "Name": contact.get("Name", "")}
    subtotal = sum((line["LineAmount"] for line in record["LineItems"]), Decimal(0))
    tax = sum((line["TaxAmount"] for line in record["LineItems"]), Decimal(0))
    if amount_types == "Inclusive":
        subtotal -= tax
    record.update(SubTotal=subtotal, TotalTax=tax, Total=subtotal + tax)
    if collection == "Invoices":
        record["AmountDue"] = record["Total"] - Decimal(record.get("AmountPaid", 0))
    else:
        record["RemainingCredit"] = record["Total"]
    return context.put(collection, record[id_field], record)


def write_invoice(context: WriteContext, element: dict[str, Any],
                  existing: dict[str, Any] | None, unit_places: Decimal) -> dict[str, Any]:
    """Create or update one invoice or bill.

    Raises:
        ElementInvalid: with every validation error of the element.
    """
    return _write_document(context, element, existing, collection="Invoices",
                           id_field="InvoiceID", number_field="InvoiceNumber",
                           types=("ACCREC", "ACCPAY"), unit_places=unit_places)


def write_credit_note(context: WriteContext, element: dict[str, Any],
                      existing: dict[str, Any] | None, unit_places: Decimal) -> dict[str, Any]:
    """Create or update one credit note.

    Raises:
        ElementInvalid: with every validation error of the element.
    """
    return _write_document(context, element, existing, collection="CreditNotes",
                           id_field="CreditNoteID", number_field="CreditNoteNumber",
                           types=("ACCRECCREDIT", "ACCPAYCREDIT"), unit_places=unit_places)
