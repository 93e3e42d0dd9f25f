"""The planner's plain types, shared by the configuration, the state store, the connectors
and the engine: a link's direction, its conflict and first-sync policies, a stored mapping
and the kind of a write.

This module imports nothing but the standard library, so that the planner
(:mod:`syncline.engine.plan`) can use these types without loading the configuration layer
(pydantic), the state store (SQLAlchemy) or any connector. The layers above build these
values: :mod:`syncline.config` parses them from ``syncline.toml``, :mod:`syncline.state.store`
reads mappings from its database, :mod:`syncline.connectors.base` names write kinds in its
interface.

Terms:

mapping
    The state row that says record X on side a is record Y on side b, with what was last
    synced (see :class:`MappingRow`).
write kind
    What one write does to its target: create a record, update one, or delete one. The
    planner decides it (:class:`syncline.engine.decisions.Write`); the connector carries it
    out (:class:`syncline.connectors.base.WriteOperation`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

__all__ = ["ConflictPolicy", "FirstSyncPolicy", "LinkDirection", "MappingRow", "WriteKind"]


class LinkDirection(StrEnum):
    """Which way a link's changes flow: ``both`` ways, or one way only (``a-to-b``,
    ``b-to-a``: the first side named is the authoritative source)."""

    BOTH = "both"
    A_TO_B = "a-to-b"
    B_TO_A = "b-to-a"


class ConflictPolicy(StrEnum):
    """How a record changed on both sides since the last sync is resolved.

    ``a-wins`` / ``b-wins``: that side's version is kept; ``newest``: the later modification
    wins (a on a tie or when either time is unknown); ``merge``: per-field three-way merge
    against the last synced values, fields changed on both sides going to the newest;
    ``manual``: the record is held for review (``syncline conflicts``).
    """

    A_WINS = "a-wins"
    B_WINS = "b-wins"
    NEWEST = "newest"
    MERGE = "merge"
    MANUAL = "manual"


class FirstSyncPolicy(StrEnum):
    """How two existing records are merged when they are first paired by natural key.

    Whatever the policy, an empty value never overwrites a filled one: each side takes the
    other's value where its own is empty. Fields filled on both sides with different values
    go: ``merge``, by the link's ``conflict`` policy field by field (``newest`` and ``merge``:
    the newer record's value; ``manual``: the pair is held for review); ``a-wins`` /
    ``b-wins``: to that side's value; ``review``: the pair is held for review (``syncline
    conflicts``) whenever such a field exists.
    """

    MERGE = "merge"
    A_WINS = "a-wins"
    B_WINS = "b-wins"
    REVIEW = "review"


class WriteKind(StrEnum):
    """What one write does to its target record (see the module docstring)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class MappingRow(NamedTuple):
    """A stored mapping (see :mod:`syncline.state.schema`): the pair's keys, the content hash
    and version each side had when last synced, and ``snapshot``, which maps a field name
    to the token (see :func:`syncline.model.field_token`) of its last synced value (``None``:
    no snapshot kept). ``id`` is ``None`` for a mapping not stored yet.

    A named tuple, not a validating class: the state store builds one per row it reads, by
    the million in a first sync, so construction stays as cheap as a tuple's.
    """

    id: int | None
    a_key: str
    b_key: str
    a_hash: bytes | None
    b_hash: bytes | None
    a_version: str | None = None
    b_version: str | None = None
    snapshot: dict[str, str] | None = None
