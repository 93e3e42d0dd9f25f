"""Who owns what on a stream: the link's ``owners``, the connectors' read-only fields, and
the defaults of a stream with posting rules.

Terms:

not synced
    A field each side keeps as its own: written on neither side from the other, left out of
    the content hash (read-only on both sides, or owned by one side and read-only on the
    other: the order system's totals against the totals the books compute).
create-only field
    A field sent with a create only, then each side's own: the books' status of a document
    (``status_on_create`` sets it; from then on the books change it, the order system keeps
    its own), and the totals the books compute (a rounding line of theirs never changes the
    order's). A connector ignores a value sent for a field it cannot write; a document
    raised in the books brings them to the order system.
books' state
    What only the books know about a document: their status, the amount still due and the
    amount paid (:data:`~syncline.model.BOOKS_STATE_FIELDS`). It flows back into the order
    system only where the order system maps a field for it.

A document stream (one with lines: invoice, bill, credit note) with posting rules
(``[links.NAME.rules.STREAM]``) defaults to: every synced field
owned by side a (the order system), except the books' state, owned by side b; ``status``
and the fields the books compute (read-only there) create-only; and the books keep their
own edits of a's fields until a changes the document (:attr:`~syncline.engine.decisions.
Policy.keeps_edits`); a document raised in the books comes to the order system whole
(:attr:`~syncline.engine.decisions.Policy.creates_owned`). A field named in
``[links.NAME.owners.STREAM]`` takes its configured owner instead. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from syncline.engine.owned import owners_for, unwritable
from syncline.model import BOOKS_STATE_FIELDS, ENTITY_TYPES, Side

if TYPE_CHECKING:  # the planner's modules must not load the config (pydantic)
    from syncline.config import LinkConfig

__all__ = ["StreamOwnership", "stream_ownership"]


@dataclass(frozen=True, slots=True)
class StreamOwnership:
    """The ownership of one stream of a link (see the module docstring)."""

    owned: Mapping[Side, frozenset[str]]
    """The synced fields each side owns."""
    not_synced: frozenset[str]
    create_only: frozenset[str] = frozenset()
    creates_owned: frozenset[Side] = frozenset()
    keeps_edits: frozenset[Side] = frozenset()


def stream_ownership(link_name: str, link: LinkConfig, stream: str, shared: frozenset[str],
                     read_only: Mapping[Side, frozenset[str]]) -> StreamOwnership:
    """The ownership of ``stream``, whose fields both endpoints map are ``shared`` and whose
    read-only fields per side are ``read_only`` (see the module docstring).

    Raises:
        ConfigError: a configured owned field is not mapped by both endpoints (naming the
            key, with a suggestion).
    """
    owned = owners_for(link_name, link, stream, shared, read_only)
    not_synced = set(unwritable(link, stream, read_only))
    if stream not in link.rules or ENTITY_TYPES[stream].line_fields is None:  # no document
        synced = shared - not_synced
        return StreamOwnership({side: names & synced for side, names in owned.items()},
                               frozenset(not_synced))
    configured = link.owners.get(stream)
    named = set(configured.a) | set(configured.b) if configured is not None else set()
    owned_a, owned_b = set(owned[Side.A]), set(owned[Side.B])
    create_only: set[str] = set()
    for name in sorted(shared - named - not_synced):
        if name in BOOKS_STATE_FIELDS:
            owned_a.discard(name)
            owned_b.add(name)
        elif name in read_only[Side.B] or name == "status":  # the books' own once created
            owned_a.discard(name)
            owned_b.discard(name)
            create_only.add(name)
        elif name not in read_only[Side.A]:
            owned_a.add(name)
    synced = shared - not_synced - create_only
    return StreamOwnership({Side.A: frozenset(owned_a & synced),
                            Side.B: frozenset(owned_b & synced)},
                           frozenset(not_synced), frozenset(create_only),
                           creates_owned=frozenset({Side.A}), keeps_edits=frozenset({Side.B}))
