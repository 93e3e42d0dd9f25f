"""Ctrl-C during a run: the first stops it cleanly within two seconds, a second at once.

Terms:

clean stop
    The first Ctrl-C (SIGINT) prints ``stopping…`` on stderr at once and asks the run to
    stop (:class:`~syncline.run_context.StopSignal`): the engine and the connectors stop
    between two requests, settle what was written, record the run as failed with the
    reason, and the command exits 130. The rest goes with the next run.
hard stop
    A second Ctrl-C, or a run still going :data:`HARD_AFTER` seconds after the first (a
    request in flight that does not end), ends the process at once (exit 130). Batches in
    flight keep their intents; the next run settles them (crash recovery).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TextIO

from syncline.run_context import DEFAULT_GRACE, StopSignal

__all__ = ["HARD_AFTER", "ctrl_c_stops"]

HARD_AFTER = DEFAULT_GRACE + 0.4
"""Seconds after the first Ctrl-C at which a run still going is ended at once."""

EXIT_INTERRUPTED = 130


def _say(errors: TextIO, text: str) -> None:
    """Write ``text`` on ``errors`` straight to its file descriptor when it has one: a
    signal handler may interrupt a write to the same buffered stream, which must not be
    entered again."""
    try:
        os.write(errors.fileno(), text.encode(errors.encoding or "utf-8", "replace"))
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        errors.write(text)
        errors.flush()


def _hard_stop(errors: TextIO, why: str) -> None:
    """End the process at once (see the module docstring)."""
    try:
        _say(errors, f"{why}: stopping at once; the next run settles what was in flight\n")
        with contextlib.suppress(Exception):
            sys.stdout.flush()
    finally:
        os._exit(EXIT_INTERRUPTED)


@contextmanager
def ctrl_c_stops(stop: StopSignal, errors: TextIO | None = None,
                 hard_after: float = HARD_AFTER) -> Iterator[StopSignal]:
    """While the ``with`` block runs, Ctrl-C sets ``stop`` (and a second one, or a run not
    stopped after ``hard_after`` seconds, ends the process; see the module docstring).
    Outside the main thread this changes nothing (signals reach only the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    out = errors if errors is not None else sys.stderr
    finished = threading.Event()

    def watchdog() -> None:
        if not finished.wait(hard_after):
            _hard_stop(out, f"the run did not stop within {hard_after:.1f} s")

    def interrupted(number: int, frame: FrameType | None) -> None:
        if stop.requested:
            _hard_stop(out, "Ctrl-C again")
        _say(out, "stopping… (the run ends after the request in flight; Ctrl-C again to "
                  "stop at once)\n")
        stop.request("Ctrl-C")
        threading.Thread(target=watchdog, name="ctrl-c-watchdog", daemon=True).start()

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield stop
    finally:
        finished.set()
        signal.signal(signal.SIGINT, previous)
