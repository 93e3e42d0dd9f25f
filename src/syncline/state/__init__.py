"""The state store (see :mod:`syncline.state.store`)."""

from __future__ import annotations

from syncline.state.store import JournalRow, MappingRow, PendingIntent, StateStore

__all__ = ["JournalRow", "MappingRow", "PendingIntent", "StateStore"]
