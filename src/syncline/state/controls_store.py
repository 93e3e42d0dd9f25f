"""Switches people set on links in the state store: pause / resume, and "Sync All".

Terms:

paused
    A paused link starts no run, by schedule or by hand, until resumed; a paused stream is
    left out of every run of its link. Runs already going on finish.
Sync All
    One request that starts every link taking part in it: an admin's button in the console,
    ``POST /sync-all`` in the API, ``syncline sync`` with no link. A link takes part only
    once an admin switched its ``sync_all`` on (``syncline link LINK --sync-all on``, ``PUT
    /links/{link}/sync-all``, the console's form); a paused link is left out as well
    (:meth:`ControlsStore.sync_all_selection` says which links go and why the others do not).

Rows live in ``link_controls`` (see :mod:`syncline.state.schema`): ``stream`` is empty for
the link itself. A link or stream without a row is not paused and takes no part in Sync All.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from syncline.state import schema as t
from syncline.state.store import StateStore, now

__all__ = ["NOT_SWITCHED_ON", "PAUSED", "ControlsStore", "LinkControls", "SyncAllSelection"]

_LINK = ""

NOT_SWITCHED_ON = "Sync All is off for it"
"""Why Sync All leaves out a link whose switch is off."""
PAUSED = "paused"
"""Why Sync All leaves out a paused link."""


@dataclass(frozen=True)
class LinkControls:
    """The switches of one link: ``paused``, ``sync_all`` and its paused streams."""

    link: str
    paused: bool = False
    sync_all: bool = False
    paused_streams: frozenset[str] = frozenset()
    updated_at: datetime | None = None
    updated_by: str | None = None
    streams_updated: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"paused": self.paused, "sync_all": self.sync_all,
                "paused_streams": sorted(self.paused_streams),
                "updated_at": self.updated_at.isoformat() if self.updated_at else None,
                "updated_by": self.updated_by}


@dataclass(frozen=True)
class SyncAllSelection:
    """What one Sync All does: ``taking_part`` are the links it runs (in the order asked),
    ``left_out`` the others, each with the reason (:data:`NOT_SWITCHED_ON`, :data:`PAUSED`)."""

    taking_part: tuple[str, ...]
    left_out: dict[str, str]

    def left_out_text(self) -> str:
        """The links left out with their reasons, for people: ``a (paused), b (Sync All is
        off for it)``; empty when none is."""
        return ", ".join(f"{name} ({why})" for name, why in self.left_out.items())


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
            sync_all=bool(own.sync_all) if own is not None else False,
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

    def sync_all_selection(self, links: Iterable[str]) -> SyncAllSelection:
        """Which of ``links`` (the configured links) a Sync All runs: those switched on and not
        paused; the others are left out with the reason."""
        query = select(t.link_controls).where(t.link_controls.c.stream == _LINK)
        with self.engine.connect() as connection:
            rows = {row.link: row for row in connection.execute(query)}
        taking_part: list[str] = []
        left_out: dict[str, str] = {}
        for name in links:
            row = rows.get(name)
            if row is None or not row.sync_all:
                left_out[name] = NOT_SWITCHED_ON
            elif row.paused:
                left_out[name] = PAUSED
            else:
                taking_part.append(name)
        return SyncAllSelection(tuple(taking_part), left_out)

    def _set(self, link: str, stream: str, values: dict[str, Any], user: str | None) -> None:
        key = (t.link_controls.c.link == link, t.link_controls.c.stream == stream)
        with self.engine.begin() as connection:
            found = connection.execute(select(t.link_controls.c.link).where(*key)).first()
            if found is not None:
                connection.execute(update(t.link_controls).where(*key).values(
                    updated_at=now(), updated_by=user, **values))
                return
            row = {"paused": False, "sync_all": False, **values}
            connection.execute(insert(t.link_controls).values(
                link=link, stream=stream, updated_at=now(), updated_by=user, **row))
