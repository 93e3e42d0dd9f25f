"""Contacts, items, accounts and payments in the Xero sandbox.

Rules kept (Xero's):

- contacts need a ``Name`` unique among active contacts; they are never deleted, only
  ``ARCHIVED`` (not while they have outstanding documents) and may be restored (``ACTIVE``);
  ``Phones`` and ``Addresses`` are merged by type on update;
- items need a ``Code`` unique in the organisation; they can be deleted;
- accounts need a ``Code`` unique in the organisation and a ``Type``; one used by a document
  is archived rather than deleted;
- payments go against AUTHORISED invoices or credit notes, to an account that accepts
  payments, for no more than the amount due; a full payment makes the document PAID;
  payments cannot be edited, only deleted (``Status: DELETED``), which reopens the document.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from syncline.sandbox.xero.rules import (
    ElementInvalid,
    WriteContext,
    find_account_by_code,
    find_tax_rate,
    new_id,
)
from syncline.sandbox.xero.store import Tenant
from syncline.sandbox.xero.values import money, ms_date, parse_date, to_number

__all__ = [
    "account_in_use",
    "write_account",
    "write_contact",
    "write_item",
    "write_payment",
]


def _merge_by_type(current: list[dict[str, Any]], given: list[dict[str, Any]],
                   type_field: str) -> list[dict[str, Any]]:
    merged = {entry.get(type_field): dict(entry) for entry in current}
    for entry in given:
        merged.setdefault(entry.get(type_field), {}).update(entry)
    return list(merged.values())


def _outstanding(tenant: Tenant, contact_id: str) -> bool:
    return any(document.get("Contact", {}).get("ContactID") == contact_id
               and document.get("Status") in ("AUTHORISED", "SUBMITTED")
               and Decimal(document.get("AmountDue", 0)) > 0
               for document in tenant.collections["Invoices"].values())


def write_contact(context: WriteContext, element: dict[str, Any],
                  existing: dict[str, Any] | None) -> dict[str, Any]:
    """Create or update one contact.

    Raises:
        ElementInvalid: with the element's validation errors.
    """
    tenant = context.tenant
    record: dict[str, Any] = copy.deepcopy(existing) if existing else {
        "ContactID": new_id(), "ContactStatus": "ACTIVE", "Addresses": [], "Phones": [],
        "ContactGroups": [], "ContactPersons": [], "IsSupplier": False, "IsCustomer": False,
        "HasAttachments": False, "HasValidationErrors": False}
    for name, value in element.items():
        if name == "Phones":
            record["Phones"] = _merge_by_type(record["Phones"], value, "PhoneType")
        elif name == "Addresses":
            record["Addresses"] = _merge_by_type(record["Addresses"], value, "AddressType")
        elif name not in ("ContactID", "UpdatedDateUTC", "ValidationErrors",
                          "HasValidationErrors", "StatusAttributeString"):
            record[name] = value
    name = str(record.get("Name") or "").strip()
    if not name:
        raise ElementInvalid("The contact name must be specified")
    status = record.get("ContactStatus")
    if status == "GDPRREQUEST":
        raise ElementInvalid("Contacts cannot be set to GDPRREQUEST through the API")
    if status == "ARCHIVED" and (existing is None or existing.get("ContactStatus") != "ARCHIVED") \
            and existing is not None and _outstanding(tenant, existing["ContactID"]):
        raise ElementInvalid(f"The contact '{name}' cannot be archived as it has outstanding "
                             f"transactions")
    if status == "ACTIVE":
        for other in tenant.collections["Contacts"].values():
            if other["ContactID"] != record["ContactID"] \
                    and other.get("ContactStatus") == "ACTIVE" \
                    and str(other.get("Name", "")).strip().lower() == name.lower():
                raise ElementInvalid("The contact name must be unique across all active "
                                     "contacts.")
    record["Name"] = name
    return context.put("Contacts", record["ContactID"], record)


def write_item(context: WriteContext, element: dict[str, Any],
               existing: dict[str, Any] | None) -> dict[str, Any]:
    """Create or update one item.

    Raises:
        ElementInvalid: with the element's validation errors.
    """
    tenant = context.tenant
    record: dict[str, Any] = copy.deepcopy(existing) if existing else {
        "ItemID": new_id(), "IsSold": True, "IsPurchased": True, "IsTrackedAsInventory": False}
    problems: list[str] = []
    for name, value in element.items():
        if name in ("SalesDetails", "PurchaseDetails"):
            details = dict(record.get(name) or {})
            details.update(value)
            record[name] = details
        elif name not in ("ItemID", "UpdatedDateUTC", "ValidationErrors",
                          "StatusAttributeString"):
            record[name] = value
    code = str(record.get("Code") or "").strip()
    if not code:
        problems.append("Item Code must be specified")
    for other in tenant.collections["Items"].values():
        if other["ItemID"] != record["ItemID"] and other.get("Code") == code:
            problems.append(f"Item code '{code}' already exists")
    for name in ("SalesDetails", "PurchaseDetails"):
        details = record.get(name) or {}
        account_code = details.get("AccountCode")
        if account_code and find_account_by_code(tenant, str(account_code)) is None:
            problems.append(f"Account code '{account_code}' is not a valid code for this item.")
        tax_type = details.get("TaxType")
        if tax_type and find_tax_rate(tenant, str(tax_type)) is None:
            problems.append(f"The TaxType code '{tax_type}' does not exist or cannot be used.")
        if "UnitPrice" in details:
            try:
                details["UnitPrice"] = money(to_number(details["UnitPrice"]), Decimal("0.0001"))
            except ValueError:
                problems.append(f"{name}.UnitPrice must be a number")
    if problems:
        raise ElementInvalid(*problems)
    record["Code"] = code
    return context.put("Items", record["ItemID"], record)


def account_in_use(tenant: Tenant, code: str) -> bool:
    """Whether a document line or item names the account ``code``."""
    for collection in ("Invoices", "CreditNotes"):
        for document in tenant.collections[collection].values():
            if any(line.get("AccountCode") == code for line in document.get("LineItems", [])):
                return True
    return any(payment.get("Account", {}).get("Code") == code
               for payment in tenant.collections["Payments"].values())


def write_account(context: WriteContext, element: dict[str, Any],
                  existing: dict[str, Any] | None) -> dict[str, Any]:
    """Create or update one account.

    Raises:
        ElementInvalid: with the element's validation errors.
    """
    tenant = context.tenant
    record: dict[str, Any] = copy.deepcopy(existing) if existing else {
        "AccountID": new_id(), "Status": "ACTIVE", "HasAttachments": False,
        "EnablePaymentsToAccount": False, "ShowInExpenseClaims": False, "Description": ""}
    for name, value in element.items():
        if name not in ("AccountID", "UpdatedDateUTC", "ValidationErrors", "SystemAccount",
                        "Class"):
            record[name] = value
    problems: list[str] = []
    if not record.get("Type"):
        problems.append("Account Type must be specified")
    if not record.get("Name"):
        problems.append("Please enter a Name.")
    code = record.get("Code")
    if record.get("Type") != "BANK" and not code:
        problems.append("Please enter a Code.")
    for other in tenant.collections["Accounts"].values():
        if other["AccountID"] != record["AccountID"] and code and other.get("Code") == code \
                and other.get("Status") != "DELETED":
            problems.append("Please enter a unique Code.")
            break
    tax_type = record.get("TaxType")
    if tax_type and find_tax_rate(tenant, str(tax_type)) is None:
        problems.append(f"The TaxType code '{tax_type}' does not exist or cannot be used.")
    if existing is not None and existing.get("Status") == "DELETED":
        problems.append("A deleted account cannot be changed")
    if problems:
        raise ElementInvalid(*problems)
    kind = str(record["Type"])
    record["Class"] = {"BANK": "ASSET", "CURRENT": "ASSET", "FIXED": "ASSET",
                       "REVENUE": "REVENUE", "SALES": "REVENUE", "OTHERINCOME": "REVENUE",
                       "EQUITY": "EQUITY", "CURRLIAB": "LIABILITY",
                       "LIABILITY": "LIABILITY", "TERMLIAB": "LIABILITY"}.get(kind, "EXPENSE")
    return context.put("Accounts", record["AccountID"], record)


def _settle(document: dict[str, Any], paid: Decimal) -> None:
    document["AmountPaid"] = paid
    if "AmountDue" in document or "Total" in document:
        document["AmountDue"] = Decimal(document["Total"]) - paid
    if document["Status"] in ("AUTHORISED", "PAID"):
        document["Status"] = "PAID" if Decimal(document["Total"]) - paid <= 0 else "AUTHORISED"


def write_payment(context: WriteContext, element: dict[str, Any],
                  existing: dict[str, Any] | None) -> dict[str, Any]:
    """Create one payment, or delete one (``existing`` set and ``Status: DELETED``).

    Raises:
        ElementInvalid: with the element's validation errors.
    """
    tenant = context.tenant
    if existing is not None:
        if element.get("Status") != "DELETED" or set(element) - {"PaymentID", "Status"}:
            raise ElementInvalid("Payments cannot be edited; only deleted (Status DELETED)")
        if existing.get("Status") == "DELETED":
            raise ElementInvalid("This payment has already been deleted")
        record = copy.deepcopy(existing)
        record["Status"] = "DELETED"
        collection, id_field = ("Invoices", "InvoiceID") if "Invoice" in record \
            else ("CreditNotes", "CreditNoteID")
        document = copy.deepcopy(tenant.get(collection, record[collection[:-1]][id_field]))
        if document is not None:
            document["Payments"] = [entry for entry in document.get("Payments", [])
                                    if entry["PaymentID"] != record["PaymentID"]]
            _settle(document, Decimal(document.get("AmountPaid", 0)) - Decimal(record["Amount"]))
            context.put(collection, document[id_field], document)
        return context.put("Payments", record["PaymentID"], record)
    problems: list[str] = []
    target: dict[str, Any] | None = None
    if isinstance(element.get("Invoice"), dict):
        given = element["Invoice"]
        collection, id_field, kind = "Invoices", "InvoiceID", "ACCRECPAYMENT"
        if given.get("InvoiceID"):
            target = tenant.get("Invoices", str(given["InvoiceID"]))
        elif given.get("InvoiceNumber"):
            target = next((doc for doc in tenant.collections["Invoices"].values()
                           if doc.get("InvoiceNumber") == given["InvoiceNumber"]), None)
    elif isinstance(element.get("CreditNote"), dict):
        collection, id_field, kind = "CreditNotes", "CreditNoteID", "ARCREDITPAYMENT"
        target = tenant.get("CreditNotes", str(element["CreditNote"].get("CreditNoteID", "")))
    else:
        raise ElementInvalid("An Invoice or CreditNote must be specified for a payment")
    if target is None:
        problems.append(f"The {collection[:-1]} for this payment could not be found")
    elif target.get("Status") != "AUTHORISED":
        problems.append("Payments can only be made against Authorised documents")
    account_ref = element.get("Account") or {}
    account = tenant.get("Accounts", str(account_ref.get("AccountID", ""))) \
        if account_ref.get("AccountID") else find_account_by_code(
            tenant, str(account_ref.get("Code", "")))
    if account is None:
        problems.append("The payment account could not be found")
    elif not account.get("EnablePaymentsToAccount") or account.get("Status") != "ACTIVE":
        problems.append(f"Account '{account.get('Code')}' does not accept payments")
    try:
        amount = money(to_number(element.get("Amount")))
        if amount <= 0:
            problems.append("Payment amount must be greater than zero")
    except ValueError:
        problems.append("Payment amount must be a number")
        amount = Decimal(0)
    try:
        day = parse_date(element.get("Date"))
    except ValueError:
        problems.append("Payment Date must be a valid date")
        day = context.now.date()
    if target is not None and amount > Decimal(target.get("AmountDue",
                                                           target.get("RemainingCredit", 0))):
        problems.append("Payment amount exceeds the amount outstanding on this document")
    if problems or target is None or account is None:
        raise ElementInvalid(*problems)
    if target.get("Type") in ("ACCPAY", "ACCPAYCREDIT"):
        kind = "ACCPAYPAYMENT" if collection == "Invoices" else "APCREDITPAYMENT"
    payment_id = new_id()
    record = {"PaymentID": payment_id, "Date": ms_date(day), "Amount": amount,
              "Reference": str(element.get("Reference", "")), "Status": "AUTHORISED",
              "PaymentType": kind, "IsReconciled": False, "HasAccount": True,
              "HasValidationErrors": False, "CurrencyRate": Decimal(1),
              "Account": {"AccountID": account["AccountID"], "Code": account["Code"]},
              collection[:-1]: {id_field: target[id_field],
                                "Type": target["Type"],
                                "Contact": copy.deepcopy(target.get("Contact", {}))}}
    number_field = "InvoiceNumber" if collection == "Invoices" else "CreditNoteNumber"
    if target.get(number_field):
        record[collection[:-1]][number_field] = target[number_field]
    document = copy.deepcopy(target)
    document.setdefault("Payments", []).append(
        {"PaymentID": payment_id, "Date": record["Date"], "Amount": amount,
         "Reference": record["Reference"]})
    _settle(document, Decimal(document.get("AmountPaid", 0)) + amount)
    context.put(collection, document[id_field], document)
    return context.put("Payments", payment_id, record)
