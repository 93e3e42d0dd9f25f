"""Records a connector returned with its write results (see
:class:`~syncline.connectors.base.WriteResult`'s ``record``).

Xero and QuickBooks Online answer each create and update with the record as they stored it,
completed with values of their own (QuickBooks: line numbers, item names, tax details;
Xero: a rounding line's tax amount). The mapping must keep the hash of *that* record: a
hash of what was sent would make every full or date-scoped run see the document changed in
the system and send it back (two-way) or again (one-way). :func:`hash_returned` gives each
write so answered that hash, with no read-back; only writes whose system returned nothing
are read back where they must be (:func:`~syncline.engine.owned_apply.read_back_created`,
:meth:`~syncline.engine.rules_gate.RuleGate.hash_as_held`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from syncline.connectors.base import WriteResult
from syncline.engine.plan import Write
from syncline.engine.references import ReferenceTranslator
from syncline.model import Record, Side, content_hash
from syncline.plan_types import WriteKind

__all__ = ["hash_returned"]


def hash_returned(outcomes: Mapping[int, Sequence[tuple[Write, WriteResult]]],
                  translator: ReferenceTranslator, names: tuple[str, ...]) -> None:
    """Bring the records returned with the successful creates and updates of ``outcomes``
    into the engine's canonical form (references in a-space, in place: one translation per
    side) and give each such write the content hash of its returned record over ``names``.

    Raises:
        whatever the translator's state-store reads raise.
    """
    returned: dict[Side, list[tuple[Write, Record]]] = {Side.A: [], Side.B: []}
    for done in outcomes.values():
        for write, result in done:
            if result.record is not None and result.error is None \
                    and write.action is not WriteKind.DELETE:
                returned[write.target].append((write, result.record))
    for side, items in returned.items():
        if not items:
            continue
        translator.from_side(side, [record for _, record in items])
        for write, record in items:
            write.hash = content_hash(record.fields, names)
