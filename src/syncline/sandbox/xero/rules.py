"""Shared parts of the sandbox's business rules: the write context, the per-element error,
and lookups every kind of record needs (contacts, accounts, tax rates, items, tracking).

Terms:

element
    One object of a batch body (``{"Invoices": [element, ...]}``).
validation error
    A problem with one element, reported as Xero does: the element comes back with
    ``HasValidationErrors: true``, ``StatusAttributeString: "ERROR"`` and
    ``ValidationErrors: [{"Message": ...}]``, and is not written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncline.sandbox.xero.store import Tenant

__all__ = [
    "ElementInvalid",
    "WriteContext",
    "find_account_by_code",
    "find_contact",
    "find_item_by_code",
    "find_tax_rate",
    "find_tracking_option",
    "new_id",
]


class ElementInvalid(Exception):
    """One element breaks Xero's rules; ``messages`` are its ValidationErrors."""

    def __init__(self, *messages: str) -> None:
        self.messages = list(messages)
        super().__init__("; ".join(messages))


@dataclass
class WriteContext:
    """What a rule needs to apply one element: the tenant, the moment of the write, whether
    the request may only create (``PUT``) or may also update (``POST``), and an undo list so
    that an all-or-nothing batch (``summarizeErrors=true``) can be rolled back."""

    tenant: Tenant
    now: datetime
    create_only: bool
    undo: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)

    numbers: dict[tuple[str, str, str], str] | None = None

    def put(self, collection: str, record_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """Store ``record`` (remembering what it replaced) and return it."""
        self.undo.append((collection, record_id, self.tenant.get(collection, record_id)))
        if self.numbers is not None and collection in ("Invoices", "CreditNotes"):
            self._index(collection, record)
        return self.tenant.put(collection, record_id, record, self.now)

    def _index(self, collection: str, record: dict[str, Any]) -> None:
        assert self.numbers is not None
        number_field = "InvoiceNumber" if collection == "Invoices" else "CreditNoteNumber"
        id_field = "InvoiceID" if collection == "Invoices" else "CreditNoteID"
        number = record.get(number_field)
        if number and record.get("Status") not in ("DELETED", "VOIDED"):
            self.numbers[(collection, str(record.get("Type")), str(number))] = record[id_field]

    def holder_of(self, collection: str, kind: str, number: str) -> str | None:
        """The ID of the live document of ``kind`` numbered ``number`` (an index built once
        per request, kept up to date by :meth:`put`)."""
        if self.numbers is None:
            self.numbers = {}
            for name in ("Invoices", "CreditNotes"):
                for record in self.tenant.collections[name].values():
                    self._index(name, record)
        return self.numbers.get((collection, kind, number))

    def rollback(self) -> None:
        """Undo every :meth:`put` of this context, newest first."""
        for collection, record_id, previous in reversed(self.undo):
            if previous is None:
                self.tenant.collections[collection].pop(record_id, None)
            else:
                self.tenant.collections[collection][record_id] = previous
        self.undo.clear()


def new_id() -> str:
    return str(uuid.uuid4())


def find_contact(tenant: Tenant, reference: Any) -> dict[str, Any] | None:
    """The contact a document's ``Contact`` names, by ``ContactID`` or else ``Name``
    (``None`` when there is no such contact)."""
    if not isinstance(reference, dict):
        return None
    contact_id = reference.get("ContactID")
    if contact_id:
        return tenant.get("Contacts", str(contact_id))
    name = str(reference.get("Name") or "").strip().lower()
    if name:
        for contact in tenant.collections["Contacts"].values():
            if str(contact.get("Name", "")).strip().lower() == name \
                    and contact.get("ContactStatus") != "ARCHIVED":
                return contact
    return None


def find_account_by_code(tenant: Tenant, code: str) -> dict[str, Any] | None:
    """The account with ``Code`` ``code`` that is not deleted."""
    for account in tenant.collections["Accounts"].values():
        if account.get("Code") == code and account.get("Status") != "DELETED":
            return account
    return None


def find_tax_rate(tenant: Tenant, tax_type: str) -> dict[str, Any] | None:
    """The active tax rate with ``TaxType`` ``tax_type``."""
    found = tenant.get("TaxRates", tax_type)
    return found if found is not None and found.get("Status") == "ACTIVE" else None


def find_item_by_code(tenant: Tenant, code: str) -> dict[str, Any] | None:
    for item in tenant.collections["Items"].values():
        if item.get("Code") == code:
            return item
    return None


def find_tracking_option(tenant: Tenant, tracking: dict[str, Any]) \
        -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The (category, option) a line's ``Tracking`` entry names, by IDs or by names."""
    category_id = tracking.get("TrackingCategoryID")
    category_name = str(tracking.get("Name") or "").lower()
    option_id = tracking.get("TrackingOptionID")
    option_name = str(tracking.get("Option") or "").lower()
    for category in tenant.collections["TrackingCategories"].values():
        if category.get("Status") != "ACTIVE":
            continue
        if (category_id and category["TrackingCategoryID"] != str(category_id).lower()) \
                or (not category_id and category["Name"].lower() != category_name):
            continue
        for option in category.get("Options", []):
            if option.get("Status") != "ACTIVE":
                continue
            if (option_id and option["TrackingOptionID"] == str(option_id).lower()) \
                    or (not option_id and option["Name"].lower() == option_name):
                return category, option
    return None
