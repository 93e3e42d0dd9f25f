"""What QuickBooks Online documents need beyond their mapping: how messages name them, when
they are locked, and the item of sales lines that name none.

Terms (see :mod:`syncline.connectors.locking` for locked documents in general):

label
    How messages name a record: ``invoice 1042`` by its number (``DocNumber``, as the update
    gives it or QBO holds it), else by its Id; ``new invoice`` for one not created yet.
locked (QBO)
    An invoice or bill with payments linked to it (``LinkedTxn`` of type ``Payment`` or
    ``BillPayment``), or whose ``Balance`` is below its ``TotalAmt``: ``paid`` when nothing
    is left to pay, else ``part-paid``. QBO itself would take the change and move the
    balance under the payment; the books' accountant expects it to stay as it was paid. Only
    the reference (``PrivateNote``) and the due date (:data:`PAID_EDITABLE`) still change.
rounding item
    QBO sales lines must name an item (``SalesItemLineDetail.ItemRef``; without one QBO
    answers fault 2020, "Required param missing"). A sales line that names none (the
    rounding and adjustment lines posting rules add) carries the endpoint's
    ``rounding_item``, found by its name, SKU or Id when the connector opens
    (:func:`find_item`). Bill lines need none: without an item they are account lines
    (``AccountBasedExpenseLineDetail``), as QBO allows.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from syncline.connectors.base import WriteOperation
from syncline.connectors.locking import Lock, locked_update
from syncline.connectors.qbo.mapping import StreamMap
from syncline.connectors.qbo.reading import Reader
from syncline.errors import ConfigError, ValidationFailed

__all__ = ["PAID_EDITABLE", "SYSTEM", "find_item", "label", "lock_of", "locked_body",
           "with_rounding_item"]

PAID_EDITABLE = frozenset({"reference", "due_date"})
"""The canonical fields a paid or part-paid QBO document still takes."""
SYSTEM = "QuickBooks Online"
_PAYMENTS = frozenset({"Payment", "BillPayment"})


def label(stream: str, operation: WriteOperation, found: dict[str, Any] | None = None) -> str:
    """How messages name the record of ``operation`` (see the module docstring)."""
    number = (operation.fields or {}).get("number") or (found or {}).get("DocNumber")
    if number:
        return f"{stream} {number}"
    return f"{stream} {operation.key}" if operation.key else f"new {stream}"


def _amount(value: Any) -> Decimal | None:
    try:
        return None if value in (None, "") else Decimal(str(value))
    except InvalidOperation:
        return None


def lock_of(mapping: StreamMap, found: dict[str, Any]) -> Lock | None:
    """The lock of a QBO object (see the module docstring); ``None`` when it may change."""
    if mapping.stream not in ("invoice", "bill"):
        return None
    linked = any(isinstance(entry, dict) and entry.get("TxnType") in _PAYMENTS
                 for entry in found.get("LinkedTxn") or ())
    total, balance = _amount(found.get("TotalAmt")), _amount(found.get("Balance"))
    short = total is not None and balance is not None and total > 0 and balance < total
    if not (linked or short):
        return None
    return Lock("paid" if balance == 0 else "part-paid", SYSTEM, PAID_EDITABLE)


def locked_body(mapping: StreamMap, operation: WriteOperation, found: dict[str, Any],
                lock: Lock) -> dict[str, Any]:
    """The sparse update to send for ``operation`` on the locked document ``found``: its
    editable fields that differ (see :func:`~syncline.connectors.locking.locked_update`).

    Raises:
        RecordLocked: a field that can no longer change differs, or nothing does.
        MalformedRecord: QBO's document cannot be read.
    """
    wanted = operation.fields or {}
    writable = mapping.field_names() - mapping.read_only_fields()
    name = label(mapping.stream, operation, found).removeprefix(f"{mapping.stream} ")
    sends = locked_update(lock, stream=mapping.stream, label=name, key=operation.key,
                          current=mapping.to_fields(found), wanted=wanted,
                          names=[field for field in wanted if field in writable])
    return mapping.to_body(sends, create=False)


def with_rounding_item(mapping: StreamMap, operation: WriteOperation, item: str | None,
                       setting: str) -> dict[str, Any]:
    """``operation``'s fields, its sales lines that name no item given ``item`` (see the
    module docstring). ``setting`` names the ``rounding_item`` setting for the message.

    Raises:
        ValidationFailed: such a line and no ``rounding_item`` configured.
    """
    fields = operation.fields or {}
    lines = fields.get("lines")
    if mapping.stream != "invoice" or not isinstance(lines, list) \
            or all(isinstance(line, dict) and line.get("item") for line in lines):
        return fields
    if item is None:
        numbers = [str(number) for number, line in enumerate(lines, start=1)
                   if not (isinstance(line, dict) and line.get("item"))]
        raise ValidationFailed(
            f"{label(mapping.stream, operation)}: line {', '.join(numbers)} names no item, and "
            f"QuickBooks Online needs one on every sales line: set {setting} to the item "
            f"rounding and adjustment lines are posted with", stream=mapping.stream,
            key=operation.key, field="rounding_item", value="not set")
    return {**fields, "lines": [line if line.get("item") else {**line, "item": item}
                                for line in lines]}


def find_item(reader: Reader, wanted: str, setting: str) -> str:
    """The Id of the active item whose name, SKU or Id is ``wanted`` (names and SKUs
    compared without regard to case).

    Raises:
        ConfigError: naming ``setting``: no such item in the company.
        RunError: the items cannot be read.
    """
    folded = wanted.strip().casefold()
    for page in reader.query_pages("Item", []):
        for item in page:
            if str(item.get("Id")) == wanted.strip() or folded in (
                    str(item.get("Name") or "").casefold(),
                    str(item.get("Sku") or "").casefold()):
                return str(item["Id"])
    raise ConfigError(f"the QuickBooks Online company has no active item '{wanted}' (by name, "
                      f"SKU or Id): create one (a Service item such as 'Rounding') or name an "
                      f"existing one", key=setting)
