"""Locked documents: what an accounting connector does with an update the books no longer
take, shared by the connectors of accounting systems.

Terms:

locked document
    A document the books keep as it is once money has moved: an invoice paid or part-paid
    (Xero: status PAID, or payments or credit notes allocated; QuickBooks Online: payments
    linked, a balance below the total), or voided or deleted. A :class:`Lock` says why
    (``paid``, ``part-paid``, ``voided``...) and which canonical fields may still change
    (the **editable** fields: a reference, a due date).
locked change
    An update of a locked document. What goes (:func:`locked_update`): when only editable
    fields differ from what the books hold, an ordinary update of those fields; otherwise
    nothing, and the operation's result is a :class:`~syncline.errors.RecordLocked` naming
    the document by its number and the fields that can no longer change. The engine
    journals that as ``skipped`` with the message as a warning, never as an error to retry.
differs
    A field of the update differs from the document when their canonical values (see
    :func:`syncline.model.canonical_value`) are not equal. Lines are compared line by line,
    on the values the update's line gives that the books keep (they add their own, line ids
    and computed tax, and may keep no tax per line), so lines differ when their number
    differs or any such value does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syncline.errors import RecordLocked
from syncline.model import canonical_value

__all__ = ["Lock", "differing_fields", "locked_update"]


@dataclass(frozen=True, slots=True)
class Lock:
    """Why a document is locked (``state``, in words: ``paid``, ``part-paid``, ``voided``)
    in which system (``system``: ``Xero``), and the canonical fields that may still change
    (``editable``)."""

    state: str
    system: str
    editable: frozenset[str] = frozenset()


def _same(current: Any, wanted: Any) -> bool:
    return bool(canonical_value(current) == canonical_value(wanted))


def _lines_differ(current: Sequence[Mapping[str, Any]] | None,
                  wanted: Sequence[Mapping[str, Any]] | None) -> bool:
    current, wanted = list(current or ()), list(wanted or ())
    if len(current) != len(wanted):
        return True
    for held, given in zip(current, wanted, strict=True):
        for name, value in given.items():
            if name in held and canonical_value(value) is not None \
                    and not _same(held[name], value):
                return True
    return False


def differing_fields(current: Mapping[str, Any], wanted: Mapping[str, Any],
                     names: Iterable[str]) -> list[str]:
    """The fields among ``names`` whose value in ``wanted`` (the update) differs from
    ``current`` (what the books hold), in the order of ``names`` (see the module
    docstring)."""
    found = []
    for name in names:
        if name == "lines":
            if _lines_differ(current.get(name), wanted.get(name)):
                found.append(name)
        elif not _same(current.get(name), wanted.get(name)):
            found.append(name)
    return found


def _words(names: Sequence[str]) -> str:
    return ", ".join(name.replace("_", " ") for name in names)


def locked_update(lock: Lock, *, stream: str, label: str, key: str | None,
                  current: Mapping[str, Any], wanted: Mapping[str, Any],
                  names: Iterable[str]) -> dict[str, Any]:
    """What of an update of a locked document goes: the editable fields that differ (then
    the update is an ordinary one of just those).

    ``label`` names the document (its number); ``current`` and ``wanted`` are canonical
    fields of what the books hold and of the update; ``names`` the fields the update sets.

    Raises:
        RecordLocked: a field that can no longer change differs, or nothing differs (a
            forced resend): nothing goes. The message names the document, why it is locked
            and, where some differ, the fields that cannot change and those that still can.
    """
    differing = differing_fields(current, wanted, names)
    held = [name for name in differing if name not in lock.editable]
    if differing and not held:
        return {name: wanted.get(name) for name in differing}
    if held:
        still = sorted(lock.editable)
        detail = f"{_words(held)} can no longer change" + (
            f"; {_words(still)} still can" if still else "")
    else:
        detail = f"{lock.system} holds it as it is"
    raise RecordLocked(f"{stream} {label}: {label} is {lock.state} in {lock.system}; the "
                       f"change was not sent ({detail})", stream=stream, key=key,
                       field="status", value=f"{lock.state} in {lock.system}")
