"""The state store's rows for posting rules: xref entries and post requests.

Kept apart from :mod:`syncline.state.store` (which owns the sync engine's rows); works on
the same database through the store's SQLAlchemy engine. See :mod:`syncline.state.schema`
for the terms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from syncline.state import schema as t
from syncline.state.store import StateStore, now

__all__ = ["PostRequest", "RulesStore", "XrefEntry"]

_PAGE = 900  # keys per IN (...) query


@dataclass(frozen=True, slots=True)
class XrefEntry:
    """One stored xref entry."""

    table: str
    local_value: str
    remote_value: str
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass(frozen=True, slots=True)
class PostRequest:
    """One document waiting to be posted (``key`` on side a)."""

    key: str
    requested_at: datetime
    requested_by: str | None


class RulesStore:
    """Xref entries and post requests in a :class:`StateStore`'s database."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.engine = store.engine

    # -- xref entries -------------------------------------------------------------------------
    def set_xref(self, link: str, table: str, local_value: str, remote_value: str,
                 user: str | None = None) -> bool:
        """Store (or replace) one entry; returns whether it replaced an existing one."""
        key = (t.xref_entries.c.link == link, t.xref_entries.c.table_name == table,
               t.xref_entries.c.local_value == local_value)
        with self.engine.begin() as connection:
            found = connection.execute(select(t.xref_entries.c.remote_value).where(*key)).first()
            if found is not None:
                connection.execute(update(t.xref_entries).where(*key).values(
                    remote_value=remote_value, updated_at=now(), updated_by=user))
                return True
            connection.execute(insert(t.xref_entries).values(
                link=link, table_name=table, local_value=local_value,
                remote_value=remote_value, updated_at=now(), updated_by=user))
            return False

    def remove_xref(self, link: str, table: str, local_value: str) -> bool:
        """Remove one entry; returns whether there was one."""
        with self.engine.begin() as connection:
            result = connection.execute(delete(t.xref_entries).where(
                t.xref_entries.c.link == link, t.xref_entries.c.table_name == table,
                t.xref_entries.c.local_value == local_value))
        return bool(result.rowcount)

    def xref_entries(self, link: str, table: str | None = None) -> list[XrefEntry]:
        """The stored entries of a link (of one table), by table and local value."""
        query = select(t.xref_entries).where(t.xref_entries.c.link == link).order_by(
            t.xref_entries.c.table_name, t.xref_entries.c.local_value)
        if table is not None:
            query = query.where(t.xref_entries.c.table_name == table)
        with self.engine.connect() as connection:
            return [XrefEntry(row.table_name, row.local_value, row.remote_value,
                              row.updated_at, row.updated_by)
                    for row in connection.execute(query)]

    def xref_tables(self, link: str, tables: Iterable[str]) -> dict[str, dict[str, str]]:
        """The stored entries of ``tables`` as table -> local value -> books value."""
        wanted = list(tables)
        out: dict[str, dict[str, str]] = {name: {} for name in wanted}
        if not wanted:
            return out
        query = select(t.xref_entries.c.table_name, t.xref_entries.c.local_value,
                       t.xref_entries.c.remote_value).where(
            t.xref_entries.c.link == link, t.xref_entries.c.table_name.in_(wanted))
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                out[row.table_name][row.local_value] = row.remote_value
        return out

    # -- post requests ------------------------------------------------------------------------
    def request_posts(self, scope_id: int, keys: Iterable[str], user: str | None) -> int:
        """Ask for documents to be posted; returns how many were not asked for already."""
        wanted = list(dict.fromkeys(keys))
        existing = self.requested(scope_id)
        new = [key for key in wanted if key not in existing]
        if new:
            moment = now()
            with self.engine.begin() as connection:
                connection.execute(insert(t.post_requests), [
                    {"scope_id": scope_id, "key": key, "requested_at": moment,
                     "requested_by": user} for key in new])
        return len(new)

    def requested(self, scope_id: int) -> set[str]:
        """The keys (side a) of the documents of a scope waiting to be posted."""
        query = select(t.post_requests.c.key).where(t.post_requests.c.scope_id == scope_id)
        with self.engine.connect() as connection:
            return {row.key for row in connection.execute(query)}

    def post_requests(self, scope_id: int) -> list[PostRequest]:
        """The waiting requests of a scope, oldest first."""
        query = select(t.post_requests).where(t.post_requests.c.scope_id == scope_id).order_by(
            t.post_requests.c.requested_at, t.post_requests.c.key)
        with self.engine.connect() as connection:
            return [PostRequest(row.key, row.requested_at, row.requested_by)
                    for row in connection.execute(query)]

    def clear_requests(self, scope_id: int, keys: Iterable[str]) -> None:
        """Forget the requests for ``keys`` (posted, or answered why not)."""
        chosen = list(keys)
        with self.engine.begin() as connection:
            for start in range(0, len(chosen), _PAGE):
                connection.execute(delete(t.post_requests).where(
                    t.post_requests.c.scope_id == scope_id,
                    t.post_requests.c.key.in_(chosen[start:start + _PAGE])))
