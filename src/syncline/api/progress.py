"""Progress of running syncs, published to API subscribers (server-sent events).

Terms:

hub
    :class:`ProgressHub`: holds, per link, the progress of the run going on (a
    *snapshot*) and the subscribers that want its events. The service asks it for a
    :class:`RunProgress` reporter per run (see
    :data:`~syncline.service.service.ProgressFactory`) and tells it when a run ends.
event
    A dict with ``event`` (its kind: ``run_started``, ``stream_started``, ``progress``,
    ``stream_finished``, ``message``, ``run_finished``), ``link``, ``at`` (ISO time) and the
    kind's own fields (``stream``, ``total``, ``done``, ``text``, ``outcome``, ``run_id``,
    ``counts``, ``error``). ``done`` counts records read so far in the stream; ``written``
    the records written so far, ``to_write`` those planned so far (it grows as the run
    reads on), ``write_rate`` records written per second since the first write. A
    ``progress`` event is sent as records are read and as they are written.
run of another process
    A run a ``syncline sync`` (or another service) on the same state store makes: the hub
    follows it through the state store (:meth:`ProgressHub.follow`, see
    :mod:`syncline.service.progress_watch`), about once a second, and publishes the same
    events for it (``run_started`` when first seen, ``progress`` per stream as it moves,
    ``run_finished`` with its outcome); its snapshot has ``"process": "other"``.
subscriber
    An asyncio queue on the API's event loop, for one link or for all; the engine's worker
    threads hand events to it with ``call_soon_threadsafe``, so they never block on a slow
    client (a subscriber more than :data:`QUEUE_LIMIT` events behind loses the oldest
    progress events, never a ``run_finished``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncline.service import RunRequest
from syncline.service.outcomes import RunSummary
from syncline.service.progress_watch import RunWatcher
from syncline.service.stores import StateStore

__all__ = ["QUEUE_LIMIT", "ProgressHub", "RunProgress", "Subscription"]

QUEUE_LIMIT = 1000
CLOSED: dict[str, Any] = {"event": "closed"}
"""Put on every subscription when the hub closes (the server stops)."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class _StreamProgress:
    total: int | None = None
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: bool = False
    written: int = 0
    to_write: int = 0
    write_started: float | None = None

    def to_json(self) -> dict[str, Any]:
        moment = time.monotonic()
        elapsed = moment - self.started
        writing = moment - self.write_started if self.write_started is not None else 0.0
        return {"total": self.total, "done": self.done, "finished": self.finished,
                "elapsed_s": round(elapsed, 3),
                "rate": round(self.done / elapsed, 1) if elapsed > 0 else None,
                "written": self.written, "to_write": self.to_write,
                "write_rate": round(self.written / writing, 1) if writing > 0 else None}


@dataclass
class Subscription:
    """One subscriber: its queue, its loop, and the link it follows (``None``: all)."""

    queue: asyncio.Queue[dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    link: str | None

    def offer(self, event: dict[str, Any]) -> None:
        """Put ``event`` on the queue (from any thread); drops the oldest event when full."""
        def put() -> None:
            if self.queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()
            self.queue.put_nowait(event)

        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
            self.loop.call_soon_threadsafe(put)


class ProgressHub:
    """See the module docstring. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, dict[str, Any]] = {}
        self._streams: dict[str, dict[str, _StreamProgress]] = {}
        self._subscriptions: list[Subscription] = []
        self._closed = False
        self._external: dict[str, dict[str, Any]] = {}
        """Per link, the run of another process the hub follows: its snapshot."""
        self._watcher: RunWatcher | None = None

    # -- the service's side -----------------------------------------------------------------
    def reporter(self, request: RunRequest) -> RunProgress:
        """The reporter of a run about to start (a :data:`ProgressFactory`)."""
        started = {"mode": request.mode.value, "trigger": request.trigger.value,
                   "streams": sorted(request.streams),
                   "requested_by": list(request.requested_by), "started_at": _now()}
        with self._lock:
            self._running[request.link] = started
            self._streams[request.link] = {}
        self.publish(request.link, "run_started", **started)
        return RunProgress(self, request.link)

    def run_finished(self, request: RunRequest, summary: RunSummary | None,
                     error: str | None) -> None:
        """A :data:`~syncline.service.service.RunListener`: the run of ``request`` ended."""
        with self._lock:
            self._running.pop(request.link, None)
            self._streams.pop(request.link, None)
        if summary is not None:
            self.publish(request.link, "run_finished", run_id=summary.run_id,
                         outcome=summary.outcome.value, duration_s=summary.duration_s,
                         counts={name: counts.to_json()
                                 for name, counts in summary.streams.items()},
                         error=error)
        else:
            self.publish(request.link, "run_finished", run_id=None, outcome="failed",
                         duration_s=None, counts={}, error=error)

    def _stream(self, link: str, stream: str) -> _StreamProgress:
        streams = self._streams.setdefault(link, {})
        return streams.setdefault(stream, _StreamProgress())

    def stream_started(self, link: str, stream: str, total: int | None) -> None:
        with self._lock:
            self._streams.setdefault(link, {})[stream] = _StreamProgress(total=total)
        self.publish(link, "stream_started", stream=stream, total=total)

    def advanced(self, link: str, stream: str, done: int) -> None:
        with self._lock:
            progress = self._stream(link, stream)
            progress.done = done
            shown = progress.to_json()
        self.publish(link, "progress", stream=stream, **shown)

    def written(self, link: str, stream: str, done: int, total: int) -> None:
        with self._lock:
            progress = self._stream(link, stream)
            if progress.write_started is None:
                progress.write_started = time.monotonic()
            progress.written, progress.to_write = done, total
            shown = progress.to_json()
        self.publish(link, "progress", stream=stream, **shown)

    def stream_finished(self, link: str, stream: str) -> None:
        with self._lock:
            progress = self._stream(link, stream)
            progress.finished = True
            shown = progress.to_json()
        self.publish(link, "stream_finished", stream=stream, **shown)

    # -- runs of other processes (see the module docstring) --------------------------------
    def follow(self, store: StateStore, interval: float = 1.0) -> None:
        """Follow the runs other processes make on ``store`` until :meth:`close`."""
        if self._watcher is None:
            self._watcher = RunWatcher(store, self, interval)
            self._watcher.start()

    def external_progress(self, link: str, run: dict[str, Any]) -> None:
        """A :class:`~syncline.service.progress_watch.RunFollower` method."""
        streams = dict(run["progress"].get("streams") or {})
        with self._lock:
            if link in self._running:
                return  # our own run of the link is the one to show
            known = self._external.get(link)
            fresh = known is None or known["run_id"] != run["id"]
            before = {} if fresh or known is None else known["streams"]
            started = run["started_at"]
            snapshot = {"mode": run["mode"], "trigger": run["trigger"], "streams": streams,
                        "requested_by": [run["user"]] if run["user"] else [],
                        "started_at": started.isoformat() if isinstance(started, datetime)
                        else str(started), "run_id": run["id"], "process": "other"}
            self._external[link] = snapshot
        if fresh:
            self.publish(link, "run_started", **{key: value for key, value in snapshot.items()
                                                 if key != "streams"})
        for stream, values in streams.items():
            if before.get(stream) != values:
                self.publish(link, "progress", stream=stream, **values)

    def external_finished(self, link: str, run_id: int,
                          outcome: dict[str, Any] | None) -> None:
        """A :class:`~syncline.service.progress_watch.RunFollower` method."""
        with self._lock:
            known = self._external.pop(link, None)
        if known is None:
            return
        found = outcome or {}
        self.publish(link, "run_finished", run_id=run_id,
                     outcome=found.get("outcome", "failed"),
                     duration_s=found.get("duration_s"), counts=found.get("counts") or {},
                     error=found.get("message") if found.get("outcome") == "failed" else None)

    # -- the API's side -----------------------------------------------------------------------
    def snapshot(self, link: str) -> dict[str, Any] | None:
        """The progress of the run of ``link`` going on (``None``: none), per stream: this
        process's run, else one of another process the hub follows."""
        with self._lock:
            running = self._running.get(link)
            if running is None:
                external = self._external.get(link)
                return copy.deepcopy(external) if external is not None else None
            streams = {name: progress.to_json()
                       for name, progress in self._streams.get(link, {}).items()}
        return {**running, "streams": streams}

    def subscribe(self, link: str | None) -> Subscription:
        """A new subscription (call from the event loop that will read it)."""
        subscription = Subscription(asyncio.Queue(QUEUE_LIMIT), asyncio.get_running_loop(),
                                    link)
        with self._lock:
            if self._closed:
                subscription.queue.put_nowait(CLOSED)
            self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    def publish(self, link: str, kind: str, **fields: Any) -> None:
        """Send an event to the subscribers of ``link`` and of all links."""
        event = {"event": kind, "link": link, "at": _now(), **fields}
        with self._lock:
            targets = [item for item in self._subscriptions
                       if item.link is None or item.link == link]
        for subscription in targets:
            subscription.offer(event)

    def close(self) -> None:
        """End every subscription (the server stops), and stop following other processes'
        runs; later subscriptions end at once."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
        with self._lock:
            self._closed = True
            targets = list(self._subscriptions)
        for subscription in targets:
            subscription.offer(CLOSED)


class RunProgress:
    """The :class:`~syncline.engine.ProgressReporter` of one run: forwards to the hub."""

    def __init__(self, hub: ProgressHub, link: str) -> None:
        self.hub = hub
        self.link = link

    def stream_started(self, stream: str, total: int | None) -> None:
        self.hub.stream_started(self.link, stream, total)

    def advanced(self, stream: str, done: int) -> None:
        self.hub.advanced(self.link, stream, done)

    def written(self, stream: str, done: int, total: int) -> None:
        self.hub.written(self.link, stream, done, total)

    def stream_finished(self, stream: str) -> None:
        self.hub.stream_finished(self.link, stream)

    def message(self, text: str) -> None:
        self.hub.publish(self.link, "message", text=text)
