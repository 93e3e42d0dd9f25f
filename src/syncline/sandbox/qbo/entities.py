"""The QBO entities the SANDBOX keeps, and how it checks and completes them.

Terms:

list entity
    A name or reference record (Customer, Vendor, Account, Item, Term, TaxCode). QBO never
    deletes one: it is made inactive (``Active: false``) and queries leave it out unless
    the query asks for ``Active``.
transaction entity
    A document (Invoice, Bill, Payment): deleted with ``?operation=delete``.
read-only entity
    TaxCode and TaxRate (set up by the company's tax settings), CompanyInfo and
    Preferences (one object each, the company's own): never written by the API.

:func:`complete` turns a request body into the stored object: checks required properties
and references (faults 2020 / 2500), line amounts (6070), computes totals and balances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from syncline.sandbox.qbo.faults import FaultCode, QboFault

__all__ = ["ENTITIES", "EntityKind", "EntitySpec", "Lookup", "complete", "rename_references",
           "spec_for_path", "to_decimal"]

Lookup = Callable[[str, str], dict[str, Any] | None]
"""(entity, Id) -> the stored object, ``None`` when there is none."""


class EntityKind(StrEnum):
    LIST = "list"
    TRANSACTION = "transaction"
    READ_ONLY = "read-only"


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """One entity: its name, its kind, the top-level properties a query may filter on, and
    the property whose value must be unique (``None``: none)."""

    name: str
    kind: EntityKind
    properties: frozenset[str]
    unique: str | None = None

    @property
    def path(self) -> str:
        return self.name.lower()


_COMMON = ("Id", "SyncToken", "MetaData", "domain", "sparse")
_NAME_LIST = (*_COMMON, "DisplayName", "FullyQualifiedName", "GivenName", "FamilyName",
              "MiddleName", "Title", "Suffix", "CompanyName", "PrimaryEmailAddr",
              "PrimaryPhone", "Mobile", "Fax", "WebAddr", "BillAddr", "ShipAddr", "Notes",
              "Active", "Balance", "CurrencyRef", "PrintOnCheckName", "TaxIdentifier",
              "SalesTermRef", "TermRef")
_TRANSACTION = (*_COMMON, "DocNumber", "TxnDate", "DueDate", "CurrencyRef", "PrivateNote",
                "Line", "TotalAmt", "Balance", "TxnTaxDetail", "LinkedTxn", "CustomerMemo",
                "SalesTermRef", "ExchangeRate")

ENTITIES: dict[str, EntitySpec] = {spec.name: spec for spec in (
    EntitySpec("Customer", EntityKind.LIST, frozenset(_NAME_LIST), "DisplayName"),
    EntitySpec("Vendor", EntityKind.LIST, frozenset(_NAME_LIST), "DisplayName"),
    EntitySpec("Account", EntityKind.LIST, frozenset(
        (*_COMMON, "Name", "AcctNum", "AccountType", "AccountSubType", "Classification",
         "Description", "Active", "CurrentBalance", "CurrencyRef", "TaxCodeRef")), "Name"),
    EntitySpec("Item", EntityKind.LIST, frozenset(
        (*_COMMON, "Name", "Sku", "Description", "Type", "UnitPrice", "PurchaseCost",
         "IncomeAccountRef", "ExpenseAccountRef", "SalesTaxCodeRef", "Active")), "Name"),
    EntitySpec("Term", EntityKind.LIST, frozenset(
        (*_COMMON, "Name", "DueDays", "DiscountPercent", "DiscountDays", "Type", "Active")),
        "Name"),
    EntitySpec("TaxCode", EntityKind.READ_ONLY, frozenset(
        (*_COMMON, "Name", "Description", "Active", "Taxable", "SalesTaxRateList",
         "PurchaseTaxRateList"))),
    EntitySpec("TaxRate", EntityKind.READ_ONLY, frozenset(
        (*_COMMON, "Name", "Description", "RateValue", "Active"))),
    EntitySpec("CompanyInfo", EntityKind.READ_ONLY, frozenset(
        (*_COMMON, "CompanyName", "LegalName", "CompanyAddr", "LegalAddr", "Country",
         "Email", "PrimaryPhone", "WebAddr", "FiscalYearStartMonth", "CompanyStartDate",
         "SupportedLanguages", "NameValue"))),
    EntitySpec("Preferences", EntityKind.READ_ONLY, frozenset(
        (*_COMMON, "AccountingInfoPrefs", "ProductAndServicesPrefs", "SalesFormsPrefs",
         "VendorAndPurchasesPrefs", "TaxPrefs", "CurrencyPrefs", "OtherPrefs",
         "ReportPrefs", "TimeTrackingPrefs", "EmailMessagesPrefs"))),
    EntitySpec("Invoice", EntityKind.TRANSACTION, frozenset((*_TRANSACTION, "CustomerRef"))),
    EntitySpec("Bill", EntityKind.TRANSACTION, frozenset((*_TRANSACTION, "VendorRef",
                                                          "APAccountRef"))),
    EntitySpec("Payment", EntityKind.TRANSACTION, frozenset(
        (*_COMMON, "CustomerRef", "TxnDate", "TotalAmt", "UnappliedAmt", "PaymentRefNum",
         "DepositToAccountRef", "CurrencyRef", "Line", "PrivateNote"))),
)}

_ACCOUNT_TYPES = frozenset({
    "Bank", "Other Current Asset", "Fixed Asset", "Other Asset", "Accounts Receivable",
    "Equity", "Expense", "Other Expense", "Cost of Goods Sold", "Accounts Payable",
    "Credit Card", "Long Term Liability", "Other Current Liability", "Income",
    "Other Income"})
_CENT = Decimal("0.01")


def spec_for_path(path: str) -> EntitySpec | None:
    """The entity whose URL segment (lower case) or name is ``path``."""
    lowered = path.lower()
    return next((spec for spec in ENTITIES.values() if spec.path == lowered), None)


def to_decimal(value: Any, where: str) -> Decimal:
    """``value`` as a Decimal. Raises QboFault 2010 naming ``where`` when it is no number."""
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise QboFault(FaultCode.INVALID_PROPERTY, "Request has invalid or unsupported "
                       "property", f"{where}: '{value}' is not a number",
                       element=where) from None


def _money(value: Decimal) -> float:
    return float(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _required(body: dict[str, Any], name: str, entity: str) -> Any:
    value = body.get(name)
    if value in (None, "", [], {}):
        raise QboFault(FaultCode.REQUIRED_PARAMETER, "Required param missing, need to supply "
                       "the required value for the API",
                       f"Required parameter {name} is missing in the request ({entity})",
                       element=name)
    return value


_NAME_OF = {"Customer": "DisplayName", "Vendor": "DisplayName", "Item": "Name",
            "Account": "Name", "Term": "Name"}
"""The property a reference to each entity is named by (``CustomerRef.name``); tax codes
are referred to by value only, as QBO answers them."""

_REFERS_TO = {"CustomerRef": "Customer", "VendorRef": "Vendor", "ItemRef": "Item",
              "AccountRef": "Account", "IncomeAccountRef": "Account",
              "ExpenseAccountRef": "Account", "DepositToAccountRef": "Account",
              "APAccountRef": "Account", "SalesTermRef": "Term", "TermRef": "Term"}
"""Which entity each named reference property refers to."""


def rename_references(objects: dict[str, dict[str, dict[str, Any]]], entity: str,
                      before: dict[str, Any], changed: dict[str, Any]) -> None:
    """Give every reference to ``changed`` (an object of ``entity``, ``before`` as it was)
    its current name, in place, as QBO answers references with the name the object has
    now. The referring objects are not changed otherwise (no new SyncToken: their own data
    did not change)."""
    if entity not in _NAME_OF:
        return
    name = str(changed.get(_NAME_OF[entity]) or "")
    if name == str(before.get(_NAME_OF[entity]) or ""):
        return
    wanted = str(changed["Id"])

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if _REFERS_TO.get(key) == entity and isinstance(item, dict) \
                        and str(item.get("value")) == wanted and "name" in item:
                    item["name"] = name
                else:
                    visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    for stored in objects.values():
        visit(stored)


_DATE_PROPERTIES = frozenset({"TxnDate", "DueDate", "ShipDate", "OpenBalanceDate",
                              "ServiceDate"})
"""Dates QBO takes an empty string for as "not given" (python-quickbooks sends ``""`` for
every date it was not told)."""


def _drop_empty_dates(body: dict[str, Any]) -> None:
    """Remove the date properties given as ``""`` from ``body`` and its lines' details, in
    place (QBO then fills them as if they were left out)."""
    for name in [name for name in body if name in _DATE_PROPERTIES and body[name] == ""]:
        del body[name]
    for line in body.get("Line") or ():
        for detail in (line.values() if isinstance(line, dict) else ()):
            if isinstance(detail, dict):
                _drop_empty_dates(detail)


def _reference(lookup: Lookup, body: dict[str, Any], name: str, entity: str,
               *, required: bool = True, active: bool = True) -> dict[str, Any] | None:
    """The object ``body[name]`` refers to; the reference is rewritten as QBO answers it:
    its ``value`` and the object's ``name`` (an empty ``type`` sent by a client dropped).

    Raises:
        QboFault: 2020 when required and missing, 2500 when it names no (active) object.
    """
    ref = body.get(name)
    if ref in (None, {}):
        if required:
            _required(body, name, entity)
        return None
    if not isinstance(ref, dict) or not ref.get("value"):
        raise QboFault(FaultCode.INVALID_REFERENCE, "Invalid Reference Id",
                       f"Invalid Reference Id : {name} must be an object with a value",
                       element=name)
    found = lookup(entity, str(ref["value"]))
    if found is None or (active and found.get("Active") is False):
        state = "does not exist" if found is None else "is inactive"
        raise QboFault(FaultCode.INVALID_REFERENCE, "Invalid Reference Id",
                       f"Invalid Reference Id : {entity} assigned to this transaction "
                       f"{state}: {name} {ref['value']}", element=name)
    answered = {key: value for key, value in ref.items() if key != "type" or value}
    answered.pop("name", None)
    if entity in _NAME_OF:
        answered["name"] = str(found.get(_NAME_OF[entity]) or "")
    body[name] = answered
    return found


def _lines(lookup: Lookup, body: dict[str, Any], entity: str,
           detail_names: tuple[str, ...]) -> tuple[Decimal, Decimal]:
    """Check the lines, fill amounts and line numbers; returns (subtotal, tax)."""
    lines = _required(body, "Line", entity)
    if not isinstance(lines, list):
        raise QboFault(FaultCode.INVALID_PROPERTY, "Request has invalid or unsupported "
                       "property", "Line must be a list", element="Line")
    subtotal = Decimal(0)
    tax = Decimal(0)
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, dict):
            raise QboFault(FaultCode.INVALID_PROPERTY, "Request has invalid or unsupported "
                           "property", f"Line {number} must be an object", element="Line")
        kind = line.get("DetailType")
        if kind not in detail_names:
            raise QboFault(FaultCode.INVALID_PROPERTY, "Request has invalid or unsupported "
                           "property", f"Line {number}: DetailType must be one of "
                           f"{', '.join(detail_names)}", element="Line.DetailType")
        detail = line.get(kind) or {}
        if kind in ("SalesItemLineDetail", "ItemBasedExpenseLineDetail"):
            _reference(lookup, detail, "ItemRef", "Item")
        elif kind == "AccountBasedExpenseLineDetail":
            _reference(lookup, detail, "AccountRef", "Account")
        quantity, price = detail.get("Qty"), detail.get("UnitPrice")
        if _is_zero(quantity) and _is_zero(price) and "Amount" in line:
            quantity = price = None  # python-quickbooks' defaults: QBO goes by Amount
        if "Amount" not in line and quantity is not None and price is not None:
            line["Amount"] = _money(to_decimal(quantity, "Qty") * to_decimal(price, "UnitPrice"))
        amount = to_decimal(_required(line, "Amount", entity), f"Line {number} Amount")
        if quantity is not None and price is not None:
            expected = (to_decimal(quantity, "Qty") * to_decimal(price, "UnitPrice")) \
                .quantize(_CENT, rounding=ROUND_HALF_UP)
            if expected != amount.quantize(_CENT, rounding=ROUND_HALF_UP):
                raise QboFault(FaultCode.AMOUNT_MISMATCH, "Amount is not equal to UnitPrice "
                               "* Qty", f"Amount is not equal to UnitPrice * Qty. Supplied "
                               f"value:{amount} on line {number}", element="Line.Amount")
        code = _reference(lookup, detail, "TaxCodeRef", "TaxCode", required=False)
        if code is not None:
            tax += amount * _rate(lookup, code) / 100
        line["LineNum"] = number
        line.setdefault("Id", str(number))
        line["Amount"] = _money(amount)
        subtotal += amount
    return subtotal, tax.quantize(_CENT, rounding=ROUND_HALF_UP)


def _is_zero(value: Any) -> bool:
    try:
        return value is not None and Decimal(str(value)) == 0
    except (InvalidOperation, ValueError):
        return False


def _rate(lookup: Lookup, code: dict[str, Any]) -> Decimal:
    total = Decimal(0)
    for detail in (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or ():
        rate = lookup("TaxRate", str((detail.get("TaxRateRef") or {}).get("value")))
        if rate is not None:
            total += to_decimal(rate.get("RateValue", 0), "RateValue")
    return total


def complete(entity: str, body: dict[str, Any], lookup: Lookup, today: date) -> None:
    """Check ``body`` (the full object about to be stored) and fill computed properties, in
    place.

    Raises:
        QboFault: a required property or reference is missing or wrong (2020, 2500, 2010,
            6070).
    """
    _drop_empty_dates(body)
    if entity in ("Customer", "Vendor"):
        if not body.get("DisplayName"):
            names = [str(body[n]) for n in ("Title", "GivenName", "MiddleName", "FamilyName",
                                            "Suffix") if body.get(n)]
            if not names and body.get("CompanyName"):
                names = [str(body["CompanyName"])]
            body["DisplayName"] = " ".join(names)
        _required(body, "DisplayName", entity)
        body["FullyQualifiedName"] = body["DisplayName"]
        body.setdefault("Balance", 0)
    elif entity == "Account":
        _required(body, "Name", entity)
        kind = _required(body, "AccountType", entity)
        if kind not in _ACCOUNT_TYPES:
            raise QboFault(FaultCode.INVALID_PROPERTY, "Request has invalid or unsupported "
                           "property", f"AccountType '{kind}' is not a QBO account type",
                           element="AccountType")
    elif entity == "Item":
        _required(body, "Name", entity)
        body.setdefault("Type", "Service")
        if body["Type"] in ("Service", "NonInventory"):
            _reference(lookup, body, "IncomeAccountRef", "Account")
        _reference(lookup, body, "SalesTaxCodeRef", "TaxCode", required=False)
    elif entity == "Term":
        _required(body, "Name", entity)
        body.setdefault("Type", "STANDARD")
    elif entity in ("Invoice", "Bill"):
        _complete_document(entity, body, lookup, today)
    elif entity == "Payment":
        _reference(lookup, body, "CustomerRef", "Customer")
        total = to_decimal(_required(body, "TotalAmt", entity), "TotalAmt")
        applied = Decimal(0)
        for line in body.get("Line") or ():
            for linked in line.get("LinkedTxn") or ():
                invoice = lookup("Invoice", str(linked.get("TxnId")))
                if invoice is None or linked.get("TxnType") != "Invoice":
                    raise QboFault(FaultCode.INVALID_REFERENCE, "Invalid Reference Id",
                                   f"Invalid Reference Id : LinkedTxn {linked.get('TxnId')} "
                                   f"is not an invoice of this company", element="LinkedTxn")
            applied += to_decimal(line.get("Amount", 0), "Line Amount")
        if applied > total:
            raise QboFault(FaultCode.INVALID_PROPERTY, "Request has invalid or unsupported "
                           "property", f"the lines apply {applied}, more than TotalAmt "
                           f"{total}", element="Line")
        body["TotalAmt"] = _money(total)
        body["UnappliedAmt"] = _money(total - applied)
        body.setdefault("TxnDate", today.isoformat())
        _reference(lookup, body, "DepositToAccountRef", "Account", required=False)


def _complete_document(entity: str, body: dict[str, Any], lookup: Lookup, today: date) -> None:
    if entity == "Invoice":
        _reference(lookup, body, "CustomerRef", "Customer")
        subtotal, tax = _lines(lookup, body, entity, ("SalesItemLineDetail",))
    else:
        _reference(lookup, body, "VendorRef", "Vendor")
        subtotal, tax = _lines(lookup, body, entity, ("AccountBasedExpenseLineDetail",
                                                      "ItemBasedExpenseLineDetail"))
    body.setdefault("TxnDate", today.isoformat())
    issued = _date(body, "TxnDate")
    term = _reference(lookup, body, "SalesTermRef", "Term", required=False)
    if body.get("DueDate"):
        _date(body, "DueDate")
    else:
        days = int(term.get("DueDays") or 0) if term is not None else 0
        body["DueDate"] = (issued + timedelta(days=days)).isoformat()
    body["TxnTaxDetail"] = {**(body.get("TxnTaxDetail") or {}), "TotalTax": _money(tax)}
    body["TotalAmt"] = _money(subtotal + tax)
    body["Balance"] = body["TotalAmt"]  # computed, whatever was sent (payments: the store)


def _date(body: dict[str, Any], name: str) -> date:
    """``body[name]`` as a date.

    Raises:
        QboFault: 2010 naming the property when it is no ``YYYY-MM-DD`` date.
    """
    try:
        return date.fromisoformat(str(body[name]))
    except ValueError:
        raise QboFault(FaultCode.INVALID_PROPERTY, "Request has invalid or unsupported "
                       "property", f"{name} '{body[name]}' is not a date (YYYY-MM-DD)",
                       element=name) from None
