"""The planner's types: a policy, the changes it reads and the decisions it makes.

Terms:

side change
    What one side says about one record since the last sync: its current record and content
    hash, or that it was deleted (``record is None``). ``forced`` marks a record an operator
    asked to send again even though nothing seems to have changed (action code R).
decision
    What to do about one pair of records: at most one write per side, the mapping to store
    afterwards (or to forget), or a conflict to hold for review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncline.model import ActionCode, Record, Side
from syncline.plan_types import (
    ConflictPolicy,
    FirstSyncPolicy,
    LinkDirection,
    MappingRow,
    WriteKind,
)

__all__ = ["UNSETTLED", "Decision", "Policy", "SideChange", "Write"]


UNSETTLED = b"unsettled pair\x00\x00"
"""The hash both sides of an unsettled pairing's mapping hold (see
:mod:`syncline.engine.first_pair`): 16 bytes, which no content hash (12 bytes) equals."""


@dataclass(frozen=True, slots=True)
class Policy:
    """What the planner needs of a link for one stream. ``field_names`` are the fields both
    endpoints map, sorted: the fields that are synced and hashed."""

    direction: LinkDirection
    conflict: ConflictPolicy
    field_names: tuple[str, ...]
    match_fields: tuple[str, ...] = ()
    keep_snapshot: bool = False
    held: frozenset[str] = frozenset()
    """a-keys of pairs with an open conflict: their changes are held too, until resolved."""
    first_sync: FirstSyncPolicy = FirstSyncPolicy.MERGE
    """How records first paired by natural key are merged (see
    :mod:`syncline.engine.first_pair`)."""
    owned_a: frozenset[str] = frozenset()
    """Synced fields owned by side a (its configured owners and a's read-only fields; see
    :mod:`syncline.engine.owned`)."""
    owned_b: frozenset[str] = frozenset()
    """Synced fields owned by side b (see :mod:`syncline.engine.owned`)."""
    create_only: frozenset[str] = frozenset()
    """Fields sent with a create only, then each side's own: not synced, not hashed (the
    books' status on a stream with posting rules, see :mod:`syncline.engine.owned_defaults`).
    Not in ``field_names``."""
    creates_owned: frozenset[Side] = frozenset()
    """Sides on which a create carries the fields that side owns, rather than leaving them
    to its defaults (the order system, for a document raised in the books: it has no values
    of its own for it yet)."""
    keeps_edits: frozenset[Side] = frozenset()
    """Sides whose own changes to fields the other side owns stay as they are: they are not
    copied to the owner, and the owner's values are not put back there until the owner
    changes the record (the books of a posting-rules stream: a paid document cannot take
    them, and a rounding line the books added is theirs)."""

    def owned_by(self, side: Side) -> frozenset[str]:
        """The synced fields ``side`` owns: never written there from the other side."""
        return self.owned_a if side is Side.A else self.owned_b

    @property
    def has_owners(self) -> bool:
        return bool(self.owned_a or self.owned_b or self.create_only)

    def allows(self, target: Side) -> bool:
        """Whether changes may be written to ``target`` at all."""
        if self.direction is LinkDirection.BOTH:
            return True
        return target is (Side.B if self.direction is LinkDirection.A_TO_B else Side.A)

    @property
    def source(self) -> Side | None:
        """The authoritative side of a one-way link."""
        if self.direction is LinkDirection.A_TO_B:
            return Side.A
        if self.direction is LinkDirection.B_TO_A:
            return Side.B
        return None


@dataclass(slots=True)
class SideChange:
    key: str
    record: Record | None
    hash: bytes | None
    forced: bool = False

    @property
    def deleted(self) -> bool:
        return self.record is None


@dataclass(slots=True)
class Write:
    """One write to one side. ``fields`` are the synced values to write (``None`` for a
    delete, and for a one-way repair whose source record the engine must fetch first:
    ``fetch`` is then set). ``code`` is the journal's action code."""

    target: Side
    action: WriteKind
    key: str | None
    fields: dict[str, Any] | None
    hash: bytes | None
    code: ActionCode
    expected_version: str | None = None
    fetch: bool = False
    fill_owned: bool = False
    """The target's own values of the fields it owns are needed to settle this update: the
    engine reads the target record first (see :func:`syncline.engine.owned.settle_owned`)."""
    partial: bool = False
    """``fields`` holds only the fields the source changed since the last sync, of a pair
    whose sides differ: the engine reads the target record first and writes those fields
    over it, the rest as the target holds it (see :mod:`syncline.engine.diverged`)."""


@dataclass(slots=True)
class Decision:
    """What to do about one pair of records (see the module docstring).

    ``a_key`` / ``b_key`` are the keys the pair has now (``None`` where a create will make
    one). After the writes, the mapping holds ``a_hash`` / ``b_hash`` (``None``: take the
    hash of what was written). ``forget`` drops the mapping; ``hold`` keeps the pair as an
    open conflict and writes nothing; a decision without writes that is neither forget nor
    hold just records the mapping (a link by natural key, or both sides changed alike).
    """

    a_key: str | None
    b_key: str | None
    mapping: MappingRow | None
    writes: list[Write] = field(default_factory=list)
    a_hash: bytes | None = None
    b_hash: bytes | None = None
    a_version: str | None = None
    b_version: str | None = None
    synced_fields: dict[str, Any] | None = None
    forget: bool = False
    hold: bool = False
    conflict: bool = False
    quiet: bool = False
    a_record: Record | None = None
    b_record: Record | None = None
    message: str = ""
    pairing: bool = False
    """A first pairing (see :mod:`syncline.engine.first_pair`): when one of its writes
    fails, the mapping is still recorded, as an unsettled pairing."""
    snapshot_fields: dict[str, Any] | None = None
    """Where the sides hold different records afterwards (a diverged pair, see
    :mod:`syncline.engine.diverged`): each field's value on the side it flows from, which
    the mapping keeps as its snapshot. ``None``: the sides end up equal."""
