"""Switches people set on links in the state store: pause / resume, and "Sync All".

Terms:

paused
    A paused link starts no run, by schedule or by hand, until resumed; a paused stream is
    left out of every run of its link. Runs already going on finish.
Sync All
    One request that starts every link taking part in it (an admin's button). Each link
    takes part unless an admin switched ``sync_all`` off for it.

Rows live in ``link_controls`` (see :mod:`syncline.state.schema`): ``stream`` is empty for
the link itself. A link or stream without a row is not paused and takes part in Sync All.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from syncline.state import schema as t
from syncline.state.store import StateStore, now

__all__ = ["ControlsStore", "LinkControls"]

_LINK = ""


@dataclass(frozen=True)
class LinkControls:
    """The switches of one link: ``paused``, ``sync_all`` and its paused streams."""

    link: str
    paused: bool = False
    sync_all: bool = True
    paused_streams: frozenset[str] = frozenset()
    updated_at: datetime | None = None
    updated_by: str | None = None
    streams_updated: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"paused": self.paused, "sync_all": self.sync_all,
                "paused_streams": sorted(self.paused_streams),
                "updated_at": self.updated_at.isoformat() if self.updated_at else None,
                "updated_by": self.updated_by}


class ControlsStore:
    """Pause flags and Sync All flags of links in a :class:`StateStore`'s database."""

    def __init__(self, store: StateStore) -> None:
        self.engine = store.engine

    def controls(self, link: str) -> LinkControls:
        """The switches of ``link`` (defaults when none were set)."""
        query = select(t.link_controls).where(t.link_controls.c.link == link)
        with self.engine.connect() as connection:
            rows = list(connection.execute(query))
        own = next((row for row in rows if row.stream == _LINK), None)
        streams = frozenset(row.stream for row in rows if row.stream != _LINK and row.paused)
        return LinkControls(
            link, paused=bool(own.paused) if own is not None else False,
            sync_all=bool(own.sync_all) if own is not None else True,
            paused_streams=streams,
            updated_at=own.updated_at if own is not None else None,
            updated_by=own.updated_by if own is not None else None,
            streams_updated={row.stream: row.updated_by for row in rows if row.stream})

    def set_paused(self, link: str, paused: bool, *, stream: str | None = None,
                   user: str | None = None) -> LinkControls:
        """Pause or resume ``link`` (or one of its ``stream``)."""
        self._set(link, stream or _LINK, {"paused": paused}, user)
        return self.controls(link)

    def set_sync_all(self, link: str, enabled: bool, *, user: str | None = None) -> LinkControls:
        """Whether ``link`` takes part in Sync All."""
        self._set(link, _LINK, {"sync_all": enabled}, user)
        return self.controls(link)

    def _set(self, link: str, stream: str, values: dict[str, Any], user: str | None) -> None:
        key = (t.link_controls.c.link == link, t.link_controls.c.stream == stream)
        with self.engine.begin() as connection:
            found = connection.execute(select(t.link_controls.c.link).where(*key)).first()
            if found is not None:
                connection.execute(update(t.link_controls).where(*key).values(
                    updated_at=now(), updated_by=user, **values))
                return
            row = {"paused": False, "sync_all": True, **values}
            connection.execute(insert(t.link_controls).values(
                link=link, stream=stream, updated_at=now(), updated_by=user, **row))
