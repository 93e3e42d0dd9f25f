"""Reading collections in the Xero sandbox: filters, ``where``, search, order and pages.

Supported query parameters (Xero's): ``If-Modified-Since`` (records whose
``UpdatedDateUTC`` is at or after the moment), ``IDs`` / ``InvoiceNumbers`` /
``ContactIDs`` / ``Statuses`` (comma-separated), ``includeArchived``, ``where`` (see
:mod:`.where`: comparisons ``== != > < >= <=`` on text, numbers, booleans, ``Guid("...")``
and ``DateTime(y, m, d)``, ``StartsWith`` / ``EndsWith`` / ``Contains``, ``AND`` / ``OR``
and parentheses), ``searchTerm`` (a case-insensitive search of a contact's Name,
FirstName, LastName, ContactNumber and EmailAddress, or an invoice's InvoiceNumber and
Reference), ``summaryOnly=true`` (records without the fields :data:`SUMMARY_LEFT_OUT`
names), ``page`` (1-based; ``pageSize``, default 100, at most 1000) and ``order``
(``Field [ASC|DESC]``, comma-separated; dates and amounts sort as such; default
``UpdatedDateUTC`` then ID, so pages are stable). Without ``page``, documents are listed
without their line items, as Xero does.

As Xero does, a parameter the published document does not list for the collection's ``GET``
is ignored (``IDs`` filters Contacts and Invoices, not Payments or CreditNotes;
``searchTerm`` and ``summaryOnly`` only Contacts and Invoices; Accounts, Items, TaxRates
and TrackingCategories are not paged).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from syncline.sandbox.xero import schema
from syncline.sandbox.xero.catalog import Kind
from syncline.sandbox.xero.store import Tenant, public
from syncline.sandbox.xero.where import WhereInvalid, comparable, parse_where, value_at

__all__ = ["DEFAULT_PAGE_SIZE", "SUMMARY_LEFT_OUT", "QueryInvalid", "parameters", "select"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_A_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)  # asks comparable() for a datetime
_SEARCHED = {"Contacts": ("Name", "FirstName", "LastName", "ContactNumber", "EmailAddress"),
             "Invoices": ("InvoiceNumber", "Reference")}
"""The fields ``searchTerm`` looks in (as the document describes the parameter)."""
SUMMARY_LEFT_OUT = {
    "Contacts": ("Addresses", "Phones", "ContactGroups", "ContactPersons", "PaymentTerms",
                 "BatchPayments", "Balances", "BankAccountDetails"),
    "Invoices": ("LineItems", "Payments", "CreditNotes", "Prepayments", "Overpayments"),
}
"""What ``summaryOnly=true`` leaves out of each record (a SANDBOX reading of "excluding
computation-heavy fields": the lists and computed balances); an invoice's ``Contact`` is
then only its ``ContactID`` and ``Name``."""


class QueryInvalid(Exception):
    """A query parameter the sandbox cannot honour (answered 400)."""


def _searched(kind: Kind, term: str) -> Callable[[Mapping[str, Any]], bool]:
    wanted = term.strip().lower()
    fields = _SEARCHED.get(kind.collection, ())
    return lambda record: any(wanted in str(record.get(name) or "").lower()
                              for name in fields)


def _summary(collection: str, record: dict[str, Any]) -> dict[str, Any]:
    for name in SUMMARY_LEFT_OUT.get(collection, ()):
        record.pop(name, None)
    contact = record.get("Contact")
    if collection == "Invoices" and isinstance(contact, dict):
        record["Contact"] = {key: contact[key] for key in ("ContactID", "Name")
                             if key in contact}
    return record


def _order_key(name: str) -> Callable[[Mapping[str, Any]], Any]:
    """A sort key for field ``name``: dates as moments, amounts as numbers, else text."""
    def key(record: Mapping[str, Any]) -> Any:
        value = value_at(record, name)
        if isinstance(value, datetime):
            return (0, value.timestamp())
        if isinstance(value, str) and value.startswith("/Date("):
            moment = comparable(value, _A_MOMENT)
            return (0, moment.timestamp()) if moment is not None else (2, value)
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return (1, float(value))
        return (2, str(value or "").lower())
    return key


@cache
def parameters(collection: str) -> frozenset[str]:
    """The query parameters Xero's document lists for ``GET /{collection}``."""
    document = schema.document()
    names = set()
    for parameter in schema.operation(f"/{collection}", "get").get("parameters", []):
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rsplit("/")[-1]]
        names.add(str(parameter["name"]))
    return frozenset(names)


def _listed(kind: Kind, tenant: Tenant) -> list[dict[str, Any]]:
    records = list(tenant.collections[kind.collection].values())
    if kind.collection == "Accounts":
        records = [r for r in records if r.get("Status") != "DELETED"]
    return records


def select(kind: Kind, tenant: Tenant, query: Mapping[str, str], since: datetime | None) \
        -> tuple[list[dict[str, Any]], dict[str, int] | None]:
    """The records a ``GET`` on ``kind`` answers, in API form, and the pagination object
    (``None`` without ``page``).

    Raises:
        QueryInvalid: a parameter cannot be honoured (bad page, unknown where clause).
    """
    allowed = parameters(kind.collection)
    query = {name: value for name, value in query.items() if name in allowed}
    records = _listed(kind, tenant)
    if since is not None and kind.modified_since:
        records = [r for r in records if r["_updated"] >= since]
    if kind.archived_hidden and query.get("includeArchived", "").lower() != "true" \
            and kind.status_field:
        records = [r for r in records if r.get(kind.status_field) != "ARCHIVED"]
    lists = {"IDs": kind.id_field, "InvoiceNumbers": "InvoiceNumber",
             "ContactIDs": "Contact.ContactID", "Statuses": kind.status_field or "Status"}
    for parameter, field_name in lists.items():
        if query.get(parameter):
            wanted = {part.strip().lower() for part in query[parameter].split(",")
                      if part.strip()}
            records = [r for r in records
                       if str(value_at(r, field_name) or "").lower() in wanted]
    if query.get("where"):
        try:
            matches = parse_where(query["where"])
        except WhereInvalid as error:
            raise QueryInvalid(str(error)) from None
        records = [r for r in records if matches(r)]
    if query.get("searchTerm", "").strip():
        records = list(filter(_searched(kind, query["searchTerm"]), records))
    order = query.get("order", "").strip()
    if order:
        records.sort(key=lambda r: str(r[kind.id_field]).lower())
        for part in reversed([p.strip() for p in order.split(",") if p.strip()]):
            words = part.split()
            descending = len(words) > 1 and words[1].upper() == "DESC"
            records.sort(key=_order_key(words[0]), reverse=descending)
    else:
        records.sort(key=lambda r: (r["_updated"], str(r[kind.id_field]).lower()))
    pagination = None
    if "page" in query:
        try:
            page = int(query["page"])
            size = int(query.get("pageSize") or DEFAULT_PAGE_SIZE)
        except ValueError:
            raise QueryInvalid("page and pageSize must be whole numbers") from None
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise QueryInvalid(f"page must be at least 1 and pageSize between 1 and "
                               f"{MAX_PAGE_SIZE}")
        total = len(records)
        records = records[(page - 1) * size: page * size]
        pagination = {"page": page, "pageSize": size, "pageCount": -(-total // size),
                      "itemCount": total}
    out = [public(record) for record in records]
    if query.get("summaryOnly", "").lower() == "true":
        out = [_summary(kind.collection, record) for record in out]
    if pagination is None and kind.collection in ("Invoices", "CreditNotes"):
        for record in out:
            record.pop("LineItems", None)
    return out, pagination
