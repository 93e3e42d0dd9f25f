"""Held conflicts in the state store: pairs of records changed on both sides that wait for
someone to decide (the ``manual`` policy), and the decisions taken.

A conflict is **open** until resolved; **resolved** once a person chose a side or field
values (the next run writes them); **applied** once that run wrote them. Part of
:class:`~syncline.state.store.StateStore` (this is its conflicts half).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, insert, select, update

from syncline.state import schema as t
from syncline.state.fencing import Fence, check_fence

__all__ = ["ConflictRecords", "new_id", "now"]


def now() -> datetime:
    """The current time, timezone-aware (UTC), as the state store records it."""
    return datetime.now(UTC)


def new_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT just created."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


class ConflictRecords:
    """The conflict methods of the state store (see the module docstring)."""

    engine: Engine
    fence: Fence | None = None
    """The fence of the run this store writes for (see :meth:`StateStore.fenced`)."""

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction; with a :attr:`fence`, checked first (see
        :mod:`syncline.state.fencing`).

        Raises:
            LeaseLost: the fence is stale; nothing of the transaction is written.
        """
        with self.engine.begin() as connection:
            if self.fence is not None:
                check_fence(connection, self.fence)
            yield connection

    def hold_conflict(self, *, scope_id: int, run_id: int, a_key: str, b_key: str,
                      a_fields: dict[str, Any] | None, b_fields: dict[str, Any] | None,
                      base: dict[str, str] | None) -> int:
        """Store (or refresh) an open conflict for a pair of records; returns its id.

        When refreshing, a side given as ``None`` keeps the version stored before."""
        def encode(value: Any) -> str:
            return json.dumps(value, default=str, sort_keys=True)

        with self.begin() as connection:
            found = connection.execute(select(t.conflicts.c.id).where(
                t.conflicts.c.scope_id == scope_id, t.conflicts.c.a_key == a_key,
                t.conflicts.c.b_key == b_key, t.conflicts.c.status == "open")).scalar()
            values: dict[str, Any] = {"detected_run": run_id, "detected_at": now()}
            if a_fields is not None or found is None:
                values["a_fields"] = encode(a_fields)
            if b_fields is not None or found is None:
                values["b_fields"] = encode(b_fields)
            if found is None:
                values["base_fields"] = encode(base) if base is not None else None
            if found is not None:
                connection.execute(update(t.conflicts).where(t.conflicts.c.id == found)
                                   .values(**values))
                return int(found)
            return new_id(connection.execute(insert(t.conflicts).values(
                scope_id=scope_id, a_key=a_key, b_key=b_key, status="open", **values)))

    def conflicts(self, link: str, *, status: str | None = "open",
                  conflict_id: int | None = None) -> list[dict[str, Any]]:
        query = select(t.scopes.c.stream, t.scopes.c.link, t.conflicts).join(
            t.scopes, t.scopes.c.id == t.conflicts.c.scope_id).where(t.scopes.c.link == link)
        if status is not None:
            query = query.where(t.conflicts.c.status == status)
        if conflict_id is not None:
            query = query.where(t.conflicts.c.id == conflict_id)
        with self.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(
                query.order_by(t.conflicts.c.id))]
        for row in rows:
            for name in ("a_fields", "b_fields", "base_fields", "resolution"):
                if row.get(name):
                    row[name] = json.loads(row[name])
        return rows

    def open_conflict_keys(self, scope_id: int) -> frozenset[str]:
        """The a-keys of a scope's pairs with an open conflict."""
        query = select(t.conflicts.c.a_key).where(t.conflicts.c.scope_id == scope_id,
                                                  t.conflicts.c.status == "open")
        with self.engine.connect() as connection:
            return frozenset(row.a_key for row in connection.execute(query))

    def resolve_conflict(self, conflict_id: int, resolution: dict[str, Any],
                         user: str | None) -> None:
        """Mark a conflict resolved; ``resolution`` says which side (or which field values)
        the next run writes."""
        with self.engine.begin() as connection:
            connection.execute(update(t.conflicts).where(t.conflicts.c.id == conflict_id).values(
                status="resolved", resolution=json.dumps(resolution, default=str),
                resolved_by=user, resolved_at=now()))

    def close_conflict(self, conflict_id: int) -> None:
        with self.begin() as connection:
            connection.execute(update(t.conflicts).where(t.conflicts.c.id == conflict_id)
                               .values(status="applied"))
