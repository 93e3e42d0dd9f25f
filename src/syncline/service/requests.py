"""How run requests coalesce.

A run request is :class:`~syncline.engine.options.RunRequest` (the one shape a request
keeps from the face that asked to the engine and the notification; re-exported by
:mod:`syncline.service`). A link has at most one run going and at most one request
waiting.

Terms:

coalescing
    A request that arrives while another waits (or while the link runs) is merged into the
    waiting one, so the link runs once more, never twice over: the merged request is the
    smallest one covering both — the union of the streams, the whole scope unless both
    asked the same, the stronger mode (``full`` > ``forced`` > ``incremental``), the
    stronger trigger, everyone who asked (in the order they asked). So a Force Sync (a
    full run) supersedes a queued incremental run.
"""

from __future__ import annotations

from dataclasses import replace

from syncline.connectors.base import ReadScope
from syncline.engine.options import RunMode, RunRequest, Trigger

__all__ = ["MODE_STRENGTH", "coalesce"]

MODE_STRENGTH = {RunMode.INCREMENTAL: 0, RunMode.FORCED: 1, RunMode.FULL: 2}
_TRIGGER_STRENGTH = {Trigger.SCHEDULE: 0, Trigger.STARTUP: 1, Trigger.MANUAL: 2,
                     Trigger.API: 3, Trigger.FORCE: 4}


def coalesce(first: RunRequest, second: RunRequest) -> RunRequest:
    """The smallest request covering ``first`` and ``second``, two requests of one link (see
    the module docstring); its ``merged_count`` counts both, its ``requested_at`` is the
    earlier one. Neither is a dry run (the service queues no dry run).

    Raises:
        ValueError: the requests are of two links.
    """
    if first.link != second.link:
        raise ValueError(f"requests of links '{first.link}' and '{second.link}' do not "
                         f"coalesce")
    streams = frozenset() if not first.streams or not second.streams \
        else first.streams | second.streams
    scope = first.scope if first.scope == second.scope else ReadScope()
    mode = max(first.mode, second.mode, key=MODE_STRENGTH.__getitem__)
    trigger = max(first.trigger, second.trigger, key=_TRIGGER_STRENGTH.__getitem__)
    users = tuple(dict.fromkeys(first.requested_by + second.requested_by))
    when = min((moment for moment in (first.requested_at, second.requested_at)
                if moment is not None), default=None)
    return replace(first, mode=mode, streams=streams, scope=scope, trigger=trigger,
                   requested_by=users,
                   allow_mass_delete=first.allow_mass_delete or second.allow_mass_delete,
                   requested_at=when, merged_count=first.merged_count + second.merged_count)
