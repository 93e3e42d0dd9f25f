"""Run requests and how they coalesce.

Terms:

run request
    A wish to run a link: mode, streams (empty: all of the link's), scope, who asked and
    why (the triggers). A link has at most one run going and at most one request waiting.
coalescing
    A request that arrives while another waits (or while the link runs) is merged into the
    waiting one, so the link runs once more, never twice over: the merged request is the
    smallest one covering both — the union of the streams, the whole scope unless both
    asked the same, the stronger mode (``full`` > ``forced`` > ``incremental``). So a Force
    Sync (a full run) supersedes a queued incremental run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from syncline.connectors.base import ReadScope
from syncline.engine.options import RunMode, SyncOptions, Trigger

__all__ = ["MODE_STRENGTH", "RunRequest"]

MODE_STRENGTH = {RunMode.INCREMENTAL: 0, RunMode.FORCED: 1, RunMode.FULL: 2}
_TRIGGER_STRENGTH = {Trigger.SCHEDULE: 0, Trigger.STARTUP: 1, Trigger.MANUAL: 2,
                     Trigger.API: 3, Trigger.FORCE: 4}


@dataclass(frozen=True)
class RunRequest:
    """One (possibly merged) request to run a link; see the module docstring."""

    link: str
    mode: RunMode = RunMode.INCREMENTAL
    streams: frozenset[str] = frozenset()
    scope: ReadScope = field(default_factory=ReadScope)
    trigger: Trigger = Trigger.MANUAL
    requested_by: tuple[str, ...] = ()
    allow_mass_delete: bool = False
    requested_at: datetime | None = None
    merged_count: int = 1
    """How many requests were coalesced into this one."""

    def merged(self, other: RunRequest) -> RunRequest:
        """The smallest request covering ``self`` and ``other`` (same link)."""
        assert other.link == self.link
        streams = frozenset() if not self.streams or not other.streams \
            else self.streams | other.streams
        scope = self.scope if self.scope == other.scope else ReadScope()
        mode = max(self.mode, other.mode, key=MODE_STRENGTH.__getitem__)
        trigger = max(self.trigger, other.trigger, key=_TRIGGER_STRENGTH.__getitem__)
        users = tuple(dict.fromkeys(self.requested_by + other.requested_by))
        when = min((moment for moment in (self.requested_at, other.requested_at)
                    if moment is not None), default=None)
        return replace(self, mode=mode, streams=streams, scope=scope, trigger=trigger,
                       requested_by=users,
                       allow_mass_delete=self.allow_mass_delete or other.allow_mass_delete,
                       requested_at=when, merged_count=self.merged_count + other.merged_count)

    def options(self, link_streams: list[str]) -> SyncOptions:
        """The engine options for this request (streams in the link's order)."""
        streams = tuple(stream for stream in link_streams if stream in self.streams) \
            if self.streams and set(link_streams) - self.streams else ()
        return SyncOptions(mode=self.mode, streams=streams, scope=self.scope,
                           allow_mass_delete=self.allow_mass_delete, trigger=self.trigger,
                           user=", ".join(self.requested_by) or None)
