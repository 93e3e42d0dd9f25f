"""One run of a link: open both endpoints, sync each stream in reference order, record it.

``read → plan → apply → record`` happens per stream in :mod:`syncline.engine.stream`; this
module owns the run: its row in the state store (with its progress while it goes, see
:mod:`syncline.engine.progress_recorder`), its outcome and its summary, and its run
context (:mod:`syncline.run_context`): the stop signal the caller may set, and the progress
of writes (:mod:`syncline.engine.write_meter`), handed to both connectors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from syncline.config import Config
from syncline.connectors import connector_class
from syncline.connectors.base import Connector
from syncline.engine.collector import fewer_collections
from syncline.engine.options import (
    NullProgress,
    ProgressReporter,
    RunOutcome,
    RunRequest,
    RunSummary,
    StreamCounts,
)
from syncline.engine.progress_recorder import ProgressRecorder
from syncline.engine.stream import StreamRun
from syncline.engine.write_meter import WriteMeter
from syncline.errors import LeaseLost, RunError, StateUnavailable
from syncline.model import Side, stream_order
from syncline.run_context import RunContext, StopSignal
from syncline.state.service_store import clear_written_marks, mark_ceiling
from syncline.state.store import StateStore, now

__all__ = ["ConnectorFactory", "SyncEngine", "open_endpoint"]

ConnectorFactory = Callable[[str], Connector]
"""Makes an (unopened) connector for an endpoint name."""


def open_endpoint(config: Config, name: str) -> Connector:
    """An unopened connector for endpoint ``name`` of ``config``.

    Raises:
        ConfigError: the endpoint or its connector type is unknown.
    """
    if name not in config.endpoints:
        from syncline.errors import ConfigError

        raise ConfigError(f"unknown endpoint '{name}'", key=f"endpoints.{name}")
    endpoint = config.endpoints[name]
    cls = connector_class(endpoint.connector, key=f"endpoints.{name}.connector")
    return cls(name, endpoint.settings, config.base_dir)


class SyncEngine:
    """Runs links of one configuration against one state store."""

    def __init__(self, config: Config, store: StateStore,
                 factory: ConnectorFactory | None = None) -> None:
        self.config = config
        self.store = store
        self.factory: ConnectorFactory = factory or (lambda name: open_endpoint(config, name))

    def run(self, request: RunRequest, progress: ProgressReporter | None = None,
            stop: StopSignal | None = None) -> RunSummary:
        """Run ``request.link`` once as ``request`` asks and return what it did.

        This is the engine's part of a run only: the service's entry point
        (:func:`syncline.service.run_link`) is what every face calls, and it takes the
        link's lease, redacts secrets and notifies around this call. A dry run
        (``request.dry_run``) is decided here, once: it gets no run row and its stream runs
        plan without writing (:class:`~syncline.engine.stream.StreamRun`).

        Item errors do not raise: they are journalled, counted and leave the records
        pending (outcome ``error``). Setting ``stop`` (from another thread, or a signal
        handler) ends the run between two requests: what was written is settled and
        RunCancelled is raised; the run is recorded as ``failed`` with that message.

        Raises:
            ConfigError: the link is unknown or misconfigured.
            UsageError: ``request.streams`` names a stream the link does not sync.
            RunError: an endpoint cannot be used; the run is recorded as ``failed`` and
                nothing past the last settled batch was written.
            RunCancelled: ``stop`` was set (a RunError).
            LeaseLost: the store is fenced (see :meth:`StateStore.fenced`) and the run's
                lease was taken over: it stopped at once and wrote nothing more (a RunError).
        """
        told: ProgressReporter = progress or NullProgress()
        link_name = request.link
        link = self.config.link(link_name)
        link.check_streams(link_name, sorted(request.streams))
        streams = list(request.ordered_streams(link.streams)) or list(link.streams)
        started = now()
        clock = time.perf_counter()
        summary = RunSummary(link_name, None, request.mode, request.trigger, started,
                             user=request.user, dry_run=request.dry_run)
        if not request.dry_run:
            summary.run_id = self.store.start_run(
                link=link_name, trigger=request.trigger.value, mode=request.mode.value,
                scope=_scope_json(request, link.streams), user=request.user, dry_run=False,
                started_at=started)
        recorder = ProgressRecorder(told, self.store, summary.run_id) \
            if summary.run_id is not None else None
        meter = WriteMeter(recorder or told)
        progress = meter
        context = RunContext(stop, on_written=meter.on_written, on_planned=meter.on_planned)
        ceiling = mark_ceiling(self.store)  # marks added while this run goes wait for the next
        connectors: dict[Side, Connector] = {}
        failure: RunError | None = None
        unexpected: BaseException | None = None
        if recorder is not None:
            recorder.start()
        try:
            for side, name in ((Side.A, link.a), (Side.B, link.b)):
                context.check()
                connector = self.factory(name)
                connector.context = context
                connector.open()
                connectors[side] = connector
            with fewer_collections():
                for stream in stream_order(streams):
                    context.check()
                    self._run_stream(stream, connectors, summary, request, progress,
                                     ceiling)
        except RunError as error:
            failure = error
            summary.messages.append(str(error))
        except BaseException as error:
            unexpected = error
            summary.messages.append(f"stopped by {type(error).__name__}: {error}")
            raise
        finally:
            if recorder is not None:
                recorder.close()
            for connector in connectors.values():
                connector.close()
            summary.finished_at = now()
            summary.outcome = _outcome(summary, failure or unexpected)
            # a run the state store's outage cut short is not finished here (the store may
            # be back by now): it stays 'running' until the service's or the next run's
            # recovery marks it interrupted, its counts rebuilt from what its journal holds
            if summary.run_id is not None and not isinstance(unexpected, StateUnavailable):
                try:
                    self.store.finish_run(
                        summary.run_id, outcome=summary.outcome.value,
                        finished_at=summary.finished_at,
                        duration_s=round(time.perf_counter() - clock, 3),
                        counts={name: counts.to_json()
                                for name, counts in summary.streams.items()},
                        message="\n".join(summary.messages) or None)
                except LeaseLost as lost:  # the run that took the link over records this one
                    summary.outcome = RunOutcome.FAILED
                    if not isinstance(failure, LeaseLost):
                        summary.messages.append(str(lost))
                        failure = lost
                    if unexpected is not None:  # e.g. its connection ended while it was frozen
                        raise lost from unexpected
        if failure is not None:
            raise failure
        return summary

    def _run_stream(self, stream: str, connectors: dict[Side, Connector],
                    summary: RunSummary, request: RunRequest, progress: ProgressReporter,
                    ceiling: int) -> None:
        """Sync one stream of a run into ``summary``; forced marks it wrote are cleared.

        Raises:
            RunError: an endpoint cannot be used (see :meth:`run`).
        """
        link_name = request.link
        link = self.config.link(link_name)
        summary.streams[stream] = StreamCounts()
        part = StreamRun(link_name, link, stream, connectors, self.store,
                         summary.run_id or 0, request, progress,
                         counts=summary.streams[stream], planned=summary.planned,
                         marks_possible=ceiling > 0)
        try:
            part.run()
        finally:
            summary.messages.extend(part.messages)
        if summary.run_id is not None and ceiling > 0:  # forced records written: clear marks
            clear_written_marks(self.store, scope_id=self.store.scope_id(link_name, stream),
                                run_id=summary.run_id, ceiling=ceiling)
        if part.blocked:
            summary.outcome = RunOutcome.ERROR


def _outcome(summary: RunSummary, failure: BaseException | None) -> RunOutcome:
    if failure is not None:
        return RunOutcome.FAILED
    if summary.outcome is RunOutcome.ERROR or any(c.errors for c in summary.streams.values()):
        return RunOutcome.ERROR
    if any(c.warnings for c in summary.streams.values()):
        return RunOutcome.WARNING
    return RunOutcome.OK


def _scope_json(request: RunRequest, link_streams: Sequence[str]) -> dict[str, object]:
    """The run row's scope: the streams asked for (in the link's order; none: all of them),
    the dates and key range, and consent to mass deletions."""
    scope = request.scope
    return {"streams": list(request.ordered_streams(link_streams)), "since": scope.since,
            "until": scope.until, "from_key": scope.from_key, "to_key": scope.to_key,
            "allow_mass_delete": request.allow_mass_delete}
