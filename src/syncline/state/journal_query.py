"""Reading the journal the way the API and the web console filter it: by run, action,
outcome, stream and record key, a page at a time.

Kept apart from :mod:`syncline.state.store` (the engine's reads and writes); works on the
same database through the store's SQLAlchemy engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from syncline.state import schema as t
from syncline.state.store import StateStore

__all__ = ["JournalFilter", "journal_page"]


@dataclass(frozen=True)
class JournalFilter:
    """Which journal rows to read (every given criterion must hold). ``key`` matches rows
    whose key on either side contains it (case-sensitive); ``before_id`` pages backwards."""

    link: str
    run_id: int | None = None
    action: str | None = None
    outcome: str | None = None
    stream: str | None = None
    key: str | None = None
    before_id: int | None = None
    limit: int = 200


def journal_page(store: StateStore, wanted: JournalFilter) -> list[dict[str, Any]]:
    """Journal rows matching ``wanted``, newest first, at most ``wanted.limit``."""
    query = (select(*t.journal_listed, t.scopes.c.stream)
             .join(t.scopes, t.scopes.c.id == t.journal.c.scope_id)
             .where(t.scopes.c.link == wanted.link)
             .order_by(t.journal.c.id.desc()).limit(wanted.limit))
    if wanted.run_id is not None:
        query = query.where(t.journal.c.run_id == wanted.run_id)
    if wanted.action is not None:
        query = query.where(t.journal.c.action == wanted.action)
    if wanted.outcome is not None:
        query = query.where(t.journal.c.outcome == wanted.outcome)
    if wanted.stream is not None:
        query = query.where(t.scopes.c.stream == wanted.stream)
    if wanted.key:
        pattern = "%" + wanted.key.replace("\\", "\\\\").replace("%", "\\%") \
            .replace("_", "\\_") + "%"
        query = query.where(or_(t.journal.c.a_key.like(pattern, escape="\\"),
                                t.journal.c.b_key.like(pattern, escape="\\")))
    if wanted.before_id is not None:
        query = query.where(t.journal.c.id < wanted.before_id)
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
