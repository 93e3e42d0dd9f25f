"""The records that could not go, grouped by cause: what ``syncline errors``, the API's
``/links/{link}/errors`` and the console's Review page show.

Terms:

cause
    Why a record could not go, as data (:class:`~syncline.errors.ErrorCause`: kind, field,
    value), stored with its pending item (one per problem). Records kept back by one cause
    form one group whatever their keys: five contacts whose phone is too long for the same
    column are one group of five, not five groups of one.
document
    How a message names the record (``INV-1001 line 2``), stored with the cause, or the
    record's key.
cause text
    The words shown for a group: the message without the document it names (``invoice
    INV-1001 line 2: no ledger account mapped for product 'X'`` has the text ``no ledger
    account mapped for product 'X'``) when every record of the group says the same; else the
    cause itself (``ValidationFailed / persons_email_key / duplicate key value ...``).

Everything is read from the stored causes; no message is taken apart. A pending item stored
without a cause (an error known only by its message) is grouped by the cause derived from
its whole message (:func:`~syncline.errors.cause_of`). A cause of no known kind (those of
items stored before kinds were kept, moved over by migration 0008) joins the group of a
stored cause of a kind whose records say the same words, if there is exactly one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncline.errors import ErrorCause, cause_of

__all__ = ["CauseGroup", "group_errors", "groups_json", "stored_causes"]


def stored_causes(row: Mapping[str, Any]) -> list[ErrorCause]:
    """The causes stored with a pending item (a ``StateStore.pending_items`` row), in order;
    empty for an item stored without one."""
    causes = row.get("causes")
    if not isinstance(causes, list | tuple):
        return []
    return [cause for cause in causes if isinstance(cause, ErrorCause)]


@dataclass
class CauseGroup:
    """The pending records of one stream that one cause keeps back."""

    stream: str
    cause: ErrorCause
    texts: list[str] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The cause text (see the module docstring)."""
        distinct = set(self.texts)
        if len(distinct) == 1:
            return self.texts[0]
        return str(self.cause)

    @property
    def keys(self) -> list[str]:
        """The keys of the records kept back, each once, in the order met."""
        return list(dict.fromkeys(str(item["key"]) for item in self.documents))

    @property
    def count(self) -> int:
        return len(self.keys)

    @property
    def noun(self) -> str:
        word = self.stream.replace("_", " ")
        return word if self.count == 1 else f"{word}s"

    def to_json(self) -> dict[str, Any]:
        """The group as the CLI's and the API's JSON object."""
        return {"stream": self.stream, "cause": self.text, "kind": self.cause.kind,
                "field": self.cause.field, "value": self.cause.value, "count": self.count,
                "keys": self.keys, "documents": self.documents}


def _problems(stream: str, row: Mapping[str, Any]) -> list[tuple[str, str, ErrorCause]]:
    """``(document, text, cause)`` for each problem of one pending item: its stored causes,
    or the cause derived from its message when it has none."""
    causes = stored_causes(row) or [
        cause_of("", str(row["message"]), key=str(row["key"]), stream=stream)]
    return [(cause.document or "", cause.words, cause) for cause in causes]


def group_errors(rows: Iterable[Mapping[str, Any]]) -> list[CauseGroup]:
    """Group pending items (``StateStore.pending_items`` rows) by stream and cause, the
    largest groups first."""
    groups: dict[tuple[str, ErrorCause], CauseGroup] = {}
    for row in rows:
        stream = str(row["stream"])
        for document, text, cause in _problems(stream, row):
            group = groups.setdefault((stream, cause), CauseGroup(stream, cause))
            group.texts.append(text)
            group.documents.append({"key": row["key"], "side": row["side"],
                                    "document": document or str(row["key"]),
                                    "attempts": row["attempts"], "message": row["message"]})
    return sorted(_merge_old(groups), key=lambda group: (-group.count, group.stream,
                                                         group.text))


def _merge_old(groups: dict[tuple[str, ErrorCause], CauseGroup]) -> list[CauseGroup]:
    """The groups, those of rows stored without a cause joined to the one group of the
    same stream with a stored cause whose records say the same (when there is one)."""
    typed: dict[tuple[str, str], list[CauseGroup]] = {}
    for (stream, cause), group in groups.items():
        if cause.kind:
            typed.setdefault((stream, group.text), []).append(group)
    out = []
    for (stream, cause), group in groups.items():
        matches = typed.get((stream, group.text), []) if not cause.kind else []
        if len(matches) == 1:
            matches[0].texts.extend(group.texts)
            matches[0].documents.extend(group.documents)
        else:
            out.append(group)
    return out


def groups_json(groups: Iterable[CauseGroup]) -> list[dict[str, Any]]:
    """Groups as a JSON list (see :meth:`CauseGroup.to_json`)."""
    return [group.to_json() for group in groups]
