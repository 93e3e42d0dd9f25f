"""The run listener that sends notifications (see :mod:`syncline.notify`).

Terms:

delivery
    One attempt to tell one channel (``email`` to its recipients, or ``webhook`` to its URL)
    about one run: :class:`Delivery` records whether it went and, if not, why. The last
    :data:`HISTORY` deliveries are kept in memory (the API shows them).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from syncline.config import Config
from syncline.engine.options import RunRequest, RunSummary
from syncline.errors import SynclineError
from syncline.notify.email import send_email
from syncline.notify.notice import RunNotice, build_notice
from syncline.notify.webhook import post_webhook
from syncline.redaction import config_secrets, mask_text_urls, scrub
from syncline.service_config import LinkNotify
from syncline.state.store import StateStore

__all__ = ["HISTORY", "Delivery", "Notifier"]

log = logging.getLogger("syncline.notify")

HISTORY = 200


@dataclass(frozen=True)
class Delivery:
    """See the module docstring. ``target`` is the recipients or the URL (no password)."""

    link: str
    run_id: int | None
    outcome: str
    channel: str
    target: str
    ok: bool
    error: str | None
    at: datetime

    def to_json(self) -> dict[str, object]:
        return {"link": self.link, "run_id": self.run_id, "outcome": self.outcome,
                "channel": self.channel, "target": self.target, "ok": self.ok,
                "error": self.error, "at": self.at.isoformat()}


class Notifier:
    """A :data:`~syncline.service.service.RunListener`: notifies per the link's
    ``notify`` settings, delivering in one background thread (in order)."""

    def __init__(self, config: Config, store: StateStore | None = None) -> None:
        self.config = config
        self.store = store
        self.secrets = config_secrets(config)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="syncline-notify")
        self._lock = threading.Lock()
        self._futures: list[Future[None]] = []
        self.deliveries: deque[Delivery] = deque(maxlen=HISTORY)
        self.runs_seen = 0
        """How many ended runs the notifier was told of (notified or not)."""

    def wanted(self, link: str, outcome: str) -> LinkNotify | None:
        """The link's notify settings when a run with ``outcome`` is to be notified."""
        settings = self.config.links.get(link)
        notify = settings.notify if settings is not None else None
        if notify is None or outcome not in {event.value for event in notify.on}:
            return None
        if not notify.email and notify.webhook is None:
            return None
        return notify

    def __call__(self, request: RunRequest, summary: RunSummary | None,
                 error: str | None) -> None:
        outcome = "failed" if summary is None else summary.outcome.value
        notify = self.wanted(request.link, outcome)
        try:
            if notify is not None:
                notice = self.notice(request, summary, error)
                future = self._executor.submit(self.deliver, notice, notify)
                with self._lock:
                    self._futures = [item for item in self._futures if not item.done()] \
                        + [future]
        finally:
            with self._lock:
                self.runs_seen += 1

    def notice(self, request: RunRequest, summary: RunSummary | None,
               error: str | None) -> RunNotice:
        """The notice of a run (see :func:`~syncline.notify.notice.build_notice`)."""
        return build_notice(request, summary, error, self.store, self.secrets)

    def deliver(self, notice: RunNotice, notify: LinkNotify) -> None:
        """Send ``notice`` on every channel of ``notify`` now (failures are logged and
        recorded, never raised)."""
        if notify.email:
            self._attempt(notice, "email", ", ".join(notify.email), lambda: self._email(
                notice, notify))
        if notify.webhook is not None:
            assert notify.webhook_secret is not None  # checked by the config
            url, secret = notify.webhook, notify.webhook_secret
            self._attempt(notice, "webhook", mask_text_urls(url), lambda: post_webhook(
                url, notice.body(), secret, timeout=notify.webhook_timeout))

    def _email(self, notice: RunNotice, notify: LinkNotify) -> None:
        smtp = self.config.notify.smtp
        assert smtp is not None  # checked by the config
        send_email(smtp, notify.email, notice.subject, notice.text())

    def _attempt(self, notice: RunNotice, channel: str, target: str,
                 send: Callable[[], object]) -> None:
        problem: str | None = None
        try:
            send()
        except SynclineError as caught:
            problem = scrub(str(caught), self.secrets)
        except Exception as caught:  # a bug must not stop the notifier
            problem = scrub(f"{type(caught).__name__}: {caught}", self.secrets)
            log.exception("%s: %s notification failed unexpectedly", notice.link, channel)
        self.deliveries.append(Delivery(notice.link, notice.run_id, notice.outcome, channel,
                                        target, problem is None, problem, datetime.now(UTC)))
        if problem is None:
            log.info("%s: run %s %s: notified by %s (%s)", notice.link, notice.run_id,
                     notice.outcome, channel, target)
        else:
            log.warning("%s: run %s %s: %s notification to %s failed: %s", notice.link,
                        notice.run_id, notice.outcome, channel, target, problem)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every notification asked for so far was delivered (or failed)."""
        with self._lock:
            pending = list(self._futures)
        for future in pending:
            future.result(timeout)

    def close(self) -> None:
        """Deliver what is waiting, then stop the background thread."""
        self._executor.shutdown(wait=True)
