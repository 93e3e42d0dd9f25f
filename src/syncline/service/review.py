"""What people review, read the same way by ``syncline errors``/``journal``/``xref``, the
API's review and journal routes and the console's Review and Journal pages.

Terms:

blocked group
    The records of a link that could not go and wait for the next run, grouped by cause
    (see :mod:`syncline.service.error_groups`).
journal page
    Journal rows matching a :class:`JournalFilter` (run, action, outcome, stream, part of a
    key), newest first, at most its ``limit``; the next page starts ``before_id`` the last.
xref table
    A cross-reference table a link's posting rules look codes up in (``ledger_account``,
    ``tax_rate``): the target of an ``xref`` rule. Its entries come from the configuration
    file (``[links.NAME.xref.TABLE]``) and from the state store; a stored entry wins.
fix
    How to clear a cause the posting rules word as ``no <table> mapped for <what>
    '<value>'``: add ``value`` to the xref table ``<table>`` (spaces as ``_``).
waiting records
    The pending items of a link: records that could not go and are tried again by the
    next run of their stream (a retry runs those streams now).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncline.service.error_groups import CauseGroup, group_errors, groups_json
from syncline.state.journal_query import JournalFilter, journal_page

if TYPE_CHECKING:
    from syncline.config import LinkConfig
    from syncline.state.store import StateStore

__all__ = [
    "CauseGroup",
    "Fix",
    "JournalFilter",
    "blocked_groups",
    "fix_for",
    "groups_json",
    "journal_rows",
    "waiting_streams",
    "xref_listing",
    "xref_tables",
]


def journal_rows(store: StateStore, wanted: JournalFilter) -> list[dict[str, Any]]:
    """One journal page: the rows matching ``wanted``, newest first.

    Raises:
        StateError: the store cannot be read.
    """
    return journal_page(store, wanted)


def blocked_groups(store: StateStore, link: str, stream: str | None = None) -> list[CauseGroup]:
    """The records of ``link`` (of ``stream`` only, when given) that could not go, grouped
    by cause, the largest group first.

    Raises:
        StateError: the store cannot be read.
    """
    rows = [row for row in store.pending_items(link) if stream is None or row["stream"] == stream]
    return group_errors(rows)


def xref_tables(settings: LinkConfig) -> list[str]:
    """The xref tables a link's posting rules look codes up in, sorted."""
    return sorted({table for rules in settings.rules.values() for table in rules.xref.values()})


def xref_listing(store: StateStore, link: str, settings: LinkConfig,
                 tables: list[str]) -> list[dict[str, str]]:
    """The entries of ``tables`` of ``link``: ``{"table", "local", "remote", "source"}`` per
    local value, sorted by table (in the order given) then local value; ``source`` is
    ``config`` or ``state store`` (a stored entry replaces the file's).

    Raises:
        StateError: the store cannot be read.
    """
    from syncline.state.rules_store import RulesStore

    wanted = tables[0] if len(tables) == 1 else None
    stored = {(entry.table, entry.local_value): entry
              for entry in RulesStore(store).xref_entries(link, wanted)}
    entries: list[dict[str, str]] = []
    for name in tables:
        values = {**settings.xref.get(name, {})}
        sources = dict.fromkeys(values, "config")
        for (entry_table, local_value), entry in stored.items():
            if entry_table == name:
                values[local_value] = entry.remote_value
                sources[local_value] = "state store"
        entries.extend({"table": name, "local": local_value, "remote": values[local_value],
                        "source": sources[local_value]} for local_value in sorted(values))
    return entries


def waiting_streams(store: StateStore, link: str,
                    streams: Iterable[str] = ()) -> dict[str, int]:
    """Per stream of ``link`` with waiting records (only ``streams``, when given), how many
    wait; sorted by stream.

    Raises:
        StateError: the store cannot be read.
    """
    wanted = set(streams)
    counts: dict[str, int] = {}
    for row in store.pending_items(link):
        stream = str(row["stream"])
        if not wanted or stream in wanted:
            counts[stream] = counts.get(stream, 0) + 1
    return dict(sorted(counts.items()))


_MISSING = re.compile(r"^no (?P<what>[a-z ]+) mapped for (?P<source>.+?) '(?P<value>.*)'$")


@dataclass(frozen=True)
class Fix:
    """How to fix a cause: map ``local`` (a value of ``source``) in xref table ``table``."""

    table: str
    local: str
    source: str


def fix_for(cause: str, tables: list[str]) -> Fix | None:
    """The fix for cause text ``cause`` when it is a missing entry of one of ``tables``."""
    found = _MISSING.match(cause)
    if found is None:
        return None
    table = found["what"].replace(" ", "_")
    return Fix(table, found["value"], found["source"]) if table in tables else None
