"""What Xero lets change on its documents, and which items it holds.

Terms (see :mod:`syncline.connectors.locking` for locked documents in general):

locked (Xero)
    An invoice, bill or credit note that is PAID, or AUTHORISED with money allocated to it
    (``AmountPaid`` or ``AmountCredited`` above zero, payments, credit notes or prepayments
    allocated): ``part-paid``; a credit note with less ``RemainingCredit`` than its
    ``Total``: ``partly allocated``. Xero refuses to change its lines, contact, dates or status
    ("This document cannot be edited as it has a payment or credit note allocated to it",
    "Document of status PAID cannot be changed to PAID"); it still takes a new
    ``Reference`` and ``DueDate`` (the :data:`PAID_EDITABLE` fields). A VOIDED or DELETED
    document takes nothing either, but counts as deleted (see
    :mod:`syncline.connectors.xero.connector`): an update of one fails as one of a record
    that no longer exists, and the engine applies the link's deletion policy.
item codes
    The codes of the organisation's items (:class:`ItemCodes`), read once per open
    connector when a document line first needs them (one ``GET /Items``) and kept up to
    date with the items the connector creates: a line that names a product and a ledger
    account goes with its ``ItemCode`` only when Xero holds that item (see
    :func:`syncline.connectors.xero.mapping.to_xero`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from syncline.connectors.base import WriteOperation
from syncline.connectors.locking import Lock, locked_update
from syncline.connectors.xero.mapping import GONE, STREAMS, from_xero, to_xero

__all__ = ["PAID_EDITABLE", "ItemCodes", "editable_part", "lock_of"]

PAID_EDITABLE = frozenset({"reference", "due_date"})
"""The canonical fields a paid or part-paid Xero document still takes."""

_DOCUMENTS = frozenset({"invoice", "bill", "credit_note"})
_ELEMENT_FIELDS = {"InvoiceNumber": "number", "CreditNoteNumber": "number",
                   "CurrencyCode": "currency", "Status": "status", "Reference": "reference",
                   "Contact": "contact", "Date": "date", "DueDate": "due_date",
                   "LineItems": "lines"}
"""The document element's properties -> the canonical fields they carry."""


def _amount(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0))
    except InvalidOperation:
        return Decimal(0)


def lock_of(stream: str, existing: dict[str, Any]) -> Lock | None:
    """The lock of a Xero object of ``stream`` (see the module docstring); ``None`` when it
    may change as any other."""
    if stream not in _DOCUMENTS:
        return None
    status = existing.get("Status")
    if status == "PAID":
        return Lock("paid", "Xero", PAID_EDITABLE)
    if status in GONE:  # deleted as far as the connector goes: "no longer exists"
        return None
    allocated = any(existing.get(name) for name in (
        "Payments", "CreditNotes", "Prepayments", "Overpayments", "Allocations"))
    if allocated or _amount(existing.get("AmountPaid")) > 0 \
            or _amount(existing.get("AmountCredited")) > 0:
        return Lock("part-paid", "Xero", PAID_EDITABLE)
    remaining = existing.get("RemainingCredit")
    if stream == "credit_note" and remaining is not None \
            and _amount(remaining) < _amount(existing.get("Total")):
        return Lock("partly allocated", "Xero", PAID_EDITABLE)
    return None


def _canonical(stream: str, obj: dict[str, Any], tracking: dict[str, str]) -> dict[str, Any]:
    fields = dict(from_xero(stream, obj, tracking).fields)
    if fields.get("contact"):
        fields["contact"] = str(fields["contact"]).lower()
    return fields


def editable_part(stream: str, where: str, operation: WriteOperation,
                  existing: dict[str, Any], element: dict[str, Any], lock: Lock,
                  tracking: dict[str, str]) -> dict[str, Any]:
    """The element to send for an update (``element``) of the locked document
    ``existing``: the editable fields that differ from what Xero holds (see
    :func:`~syncline.connectors.locking.locked_update`). ``where`` names the document
    (``invoice INV-2001``).

    Raises:
        RecordLocked: a field Xero no longer lets change differs, or nothing does.
    """
    id_field = STREAMS[stream].id_field
    current = _canonical(stream, existing, tracking)
    wanted = _canonical(stream, {**element, id_field: existing[id_field]}, tracking)
    names = [_ELEMENT_FIELDS[name] for name in element if name in _ELEMENT_FIELDS]
    label = where.removeprefix(f"{stream} ")
    sends = locked_update(lock, stream=stream, label=label, key=operation.key,
                          current=current, wanted=wanted, names=names)
    return to_xero(stream, sends, tracking)


def _names_item_and_account(operations: Sequence[WriteOperation]) -> bool:
    return any(isinstance(line, dict) and line.get("item") and line.get("ledger_account")
               for operation in operations
               for line in (operation.fields or {}).get("lines") or ())


class ItemCodes:
    """The organisation's item codes, case-folded (see the module docstring). Thread-safe."""

    def __init__(self) -> None:
        self._codes: set[str] | None = None
        self._lock = threading.Lock()

    def known_codes(self, load: Callable[[], Iterable[str]],
                    operations: Sequence[WriteOperation]) -> frozenset[str] | None:
        """The item codes, read with ``load`` the first time; ``None`` when no line of
        ``operations`` names both a product and a ledger account (nothing to decide).

        Raises:
            whatever ``load`` raises.
        """
        if not _names_item_and_account(operations):
            return None
        with self._lock:
            if self._codes is None:
                self._codes = {code.casefold() for code in load()}
            return frozenset(self._codes)

    def add(self, codes: Iterable[str]) -> None:
        """Codes of items the connector created (known from now on, if read already)."""
        with self._lock:
            if self._codes is not None:
                self._codes.update(code.casefold() for code in codes)
