"""E-mailing the detailed log of a forced synchronisation (web console, API, CLI).

When a force request asks for it, the request is stored with a log file (CSV, in
``force-logs/`` beside the configuration file, unless one is given); the run that sends the
marked records writes it (:mod:`syncline.service.forcelog`). :class:`ForceLogMailer`, a run
listener of the service, then sends the file's lines as a plain-text e-mail through
``[notify.smtp]`` and forgets the request. A request whose log is not written yet waits for
a later run of the same process; ``syncline force --now --email`` sends at once with
:meth:`ForceLogMailer.send`.

Errors while sending are logged (secrets never appear: the SMTP module names the server,
never the password) and the request is dropped: the log file stays on disk.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from syncline.config import Config
from syncline.engine import RunSummary
from syncline.engine.options import RunRequest
from syncline.errors import SynclineError, UsageError
from syncline.notify.email import send_email
from syncline.state.service_store import force_requests
from syncline.state.store import StateStore

__all__ = ["MAX_BODY", "ForceLogMailer", "parse_recipients"]

log = logging.getLogger("syncline.service")

_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
MAX_BODY = 2_000_000
"""Characters of the log put into the e-mail at most (the rest: see the file)."""


def parse_recipients(text: str) -> list[str]:
    """The e-mail addresses in ``text`` (separated by commas, semicolons or spaces).

    Raises:
        UsageError: an address is not one.
    """
    parts = [part for part in text.replace(";", ",").replace(" ", ",").split(",") if part]
    wrong = [part for part in parts if not _ADDRESS.match(part)]
    if wrong:
        raise UsageError(f"e-mail: {', '.join(repr(part) for part in wrong)} is not an "
                         f"e-mail address")
    return parts


@dataclass(frozen=True)
class _Waiting:
    link: str
    recipients: tuple[str, ...]
    path: Path


class ForceLogMailer:
    """Sends the logs of force requests once their run wrote them (see the module
    docstring). Register :meth:`run_finished` with ``SyncService.add_listener``."""

    def __init__(self, config: Config, store: StateStore) -> None:
        self.config = config
        self.store = store
        self._lock = threading.Lock()
        self._waiting: dict[int, _Waiting] = {}
        self.sent: list[int] = []

    @property
    def enabled(self) -> bool:
        """Whether a mail server is configured (``[notify.smtp]``)."""
        return self.config.notify.smtp is not None

    def log_path(self, link: str) -> Path:
        """A new log file's path for a forced run of ``link``."""
        folder = self.config.base_dir / "force-logs"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return folder / f"{link}-{stamp}.csv"

    def expect(self, request_id: int, link: str, recipients: list[str], path: Path) -> None:
        """Mail the log of force request ``request_id`` once it is written (at once when
        its run, started before this call, already wrote it)."""
        with self._lock:
            self._waiting[request_id] = _Waiting(link, tuple(recipients), path)
        self._send_written([request_id])

    def run_finished(self, request: RunRequest, _summary: RunSummary | None,
                     _error: str | None) -> None:
        """A run listener: send the logs the run wrote."""
        with self._lock:
            mine = [key for key, item in self._waiting.items() if item.link == request.link]
        if mine:
            self._send_written(mine)

    def _send_written(self, request_ids: list[int]) -> None:
        """Send the logs of those of ``request_ids`` whose run wrote them, once each."""
        written = {int(row["id"]) for row in force_requests(self.store,
                                                            request_ids=request_ids)
                   if row.get("log_written")}
        for request_id in sorted(written):
            with self._lock:
                item = self._waiting.pop(request_id, None)
            if item is not None:
                self._send(request_id, item)

    def send(self, request_id: int, link: str, recipients: list[str], path: Path) -> bool:
        """E-mail the log ``path`` of force request ``request_id`` now; whether it went
        (failures are logged, never raised)."""
        self._send(request_id, _Waiting(link, tuple(recipients), path))
        return request_id in self.sent

    def _send(self, request_id: int, item: _Waiting) -> None:
        smtp = self.config.notify.smtp
        if smtp is None:
            return
        try:
            text = item.path.read_text(encoding="utf-8")
        except OSError as error:
            log.error("force request %s: its log %s cannot be read: %s", request_id,
                      item.path, error.strerror)
            return
        lines = max(0, text.count("\n") - 1)
        body = (f"The detailed log of forced synchronisation request {request_id} of link "
                f"{item.link}: {lines} records (CSV below; the file is {item.path}).\n\n"
                + (text if len(text) <= MAX_BODY else text[:MAX_BODY] + "\n[… cut]\n"))
        try:
            send_email(smtp, item.recipients,
                       f"syncline: forced synchronisation of {item.link} (request "
                       f"{request_id})", body)
        except SynclineError as error:
            log.error("force request %s: the log could not be e-mailed: %s", request_id,
                      error)
            return
        self.sent.append(request_id)
        log.info("force request %s: log e-mailed to %s", request_id,
                 ", ".join(item.recipients))
