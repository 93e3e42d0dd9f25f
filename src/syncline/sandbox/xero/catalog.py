"""The collections the Xero sandbox serves and what each allows.

Each :class:`Kind` names the API's plural (``Invoices``), its ID field, its schema names in
Xero's OpenAPI document, whether ``GET`` pages (``page=N``, 100 per page) and honours
``If-Modified-Since``, whether archived records are left out unless ``includeArchived=true``,
and the function that applies one written element (``None``: read-only in the sandbox).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from syncline.sandbox.xero.documents import write_credit_note, write_invoice
from syncline.sandbox.xero.resources import write_account, write_contact, write_item, write_payment
from syncline.sandbox.xero.rules import WriteContext

__all__ = ["KINDS", "Kind", "Writer"]

Writer = Callable[[WriteContext, dict[str, Any], dict[str, Any] | None, Decimal],
                  dict[str, Any]]


def _plain(function: Callable[[WriteContext, dict[str, Any], dict[str, Any] | None],
                              dict[str, Any]]) -> Writer:
    def write(context: WriteContext, element: dict[str, Any],
              existing: dict[str, Any] | None, unit_places: Decimal) -> dict[str, Any]:
        return function(context, element, existing)
    return write


@dataclass(frozen=True, slots=True)
class Kind:
    """One collection (see the module docstring)."""

    collection: str
    id_field: str
    element_schema: str
    paged: bool
    modified_since: bool
    writer: Writer | None
    status_field: str | None = None
    archived_hidden: bool = False
    deletable: bool = False

    @property
    def list_schema(self) -> str:
        return self.collection


KINDS: dict[str, Kind] = {kind.collection.lower(): kind for kind in (
    Kind("Contacts", "ContactID", "Contact", True, True, _plain(write_contact),
         "ContactStatus", archived_hidden=True),
    Kind("Invoices", "InvoiceID", "Invoice", True, True, write_invoice, "Status"),
    Kind("CreditNotes", "CreditNoteID", "CreditNote", True, True, write_credit_note, "Status"),
    Kind("Payments", "PaymentID", "Payment", True, True, _plain(write_payment), "Status"),
    Kind("Accounts", "AccountID", "Account", False, True, _plain(write_account), "Status",
         deletable=True),
    Kind("TaxRates", "TaxType", "TaxRate", False, False, None, "Status"),
    Kind("Items", "ItemID", "Item", False, True, _plain(write_item), deletable=True),
    Kind("TrackingCategories", "TrackingCategoryID", "TrackingCategory", False, False, None,
         "Status", archived_hidden=True),
)}
