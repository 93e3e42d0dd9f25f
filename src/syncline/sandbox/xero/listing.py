"""Reading collections in the Xero sandbox: filters, ``where``, order and pages.

Supported query parameters (Xero's): ``If-Modified-Since`` (records whose
``UpdatedDateUTC`` is at or after the moment), ``IDs`` / ``InvoiceNumbers`` /
``ContactIDs`` / ``Statuses`` (comma-separated), ``includeArchived``, ``page`` (1-based;
``pageSize``, default 100, at most 1000), ``order`` (``Field [ASC|DESC]``; default
``UpdatedDateUTC`` then ID, so pages are stable) and a small ``where`` language: comparisons
``Field == "text"``, ``Field != "text"``, ``Field == true|false|number``, dotted fields
(``Contact.ContactID``), ``Field == Guid("...")``, joined by ``AND`` / ``&&`` and ``OR`` /
``||`` (AND binds tighter). Without ``page``, documents are listed without their line
items, as Xero does.

As Xero does, a parameter the published document does not list for the collection's ``GET``
is ignored (``IDs`` filters Contacts and Invoices, not Payments or CreditNotes; Accounts,
Items, TaxRates and TrackingCategories are not paged).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from syncline.sandbox.xero import schema
from syncline.sandbox.xero.catalog import Kind
from syncline.sandbox.xero.store import Tenant, public

__all__ = ["DEFAULT_PAGE_SIZE", "QueryInvalid", "parameters", "select"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_CONDITION = re.compile(
    r'^\s*([A-Za-z][A-Za-z0-9.]*)\s*(==|!=)\s*(?:"([^"]*)"|(true|false)|(-?\d+(?:\.\d+)?)'
    r'|[Gg]uid\("([^"]*)"\))\s*$')


class QueryInvalid(Exception):
    """A query parameter the sandbox cannot honour (answered 400)."""


def _value(record: Mapping[str, Any], dotted: str) -> Any:
    current: Any = record
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _where(text: str) -> list[list[tuple[str, bool, Any]]]:
    """The clause as alternatives (OR) of conjunctions (AND) of conditions."""
    return [_conjunction(group) for group in re.split(r"\s+(?:OR|or)\s+|\s*\|\|\s*",
                                                      text.strip())]


def _conjunction(text: str) -> list[tuple[str, bool, Any]]:
    conditions: list[tuple[str, bool, Any]] = []
    for part in re.split(r"\s+(?:AND|and)\s+|\s*&&\s*", text.strip()):
        found = _CONDITION.match(part)
        if found is None:
            raise QueryInvalid(f"the sandbox cannot evaluate the where clause part {part!r}")
        name, operator, text_value, flag, number, guid = found.groups()
        value: Any = text_value if text_value is not None else (
            flag == "true" if flag is not None else (
                float(number) if number is not None else guid.lower()))
        conditions.append((name, operator == "==", value))
    return conditions


def _matches(record: Mapping[str, Any], conditions: list[tuple[str, bool, Any]]) -> bool:
    for name, equal, wanted in conditions:
        actual = _value(record, name)
        if isinstance(wanted, str) and isinstance(actual, str):
            same = actual.lower() == wanted.lower()
        elif isinstance(wanted, float):
            try:
                same = actual is not None and float(actual) == wanted
            except (TypeError, ValueError):
                same = False
        else:
            same = actual == wanted
        if same != equal:
            return False
    return True


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
                       if str(_value(r, field_name) or "").lower() in wanted]
    if query.get("where"):
        alternatives = _where(query["where"])
        records = [r for r in records
                   if any(_matches(r, conditions) for conditions in alternatives)]
    order = query.get("order", "").strip()
    if order:
        parts = order.split()
        name, descending = parts[0], len(parts) > 1 and parts[1].upper() == "DESC"
        key_name = "_updated" if name == "UpdatedDateUTC" else name
        records.sort(key=lambda r: (str(r.get(key_name) or ""), r[kind.id_field].lower()),
                     reverse=descending)
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
    if pagination is None and kind.collection in ("Invoices", "CreditNotes"):
        for record in out:
            record.pop("LineItems", None)
    return out, pagination
