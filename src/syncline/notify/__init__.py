"""Notifications: telling people when a run failed or left records behind.

On a **failed** run (it could not proceed) or a run with **blocking errors** (records that
could not go and stay pending; outcome ``error``), and optionally on a run with warnings,
each link's ``[links.NAME.notify]`` settings (see :mod:`syncline.service_config`) say who
hears of it:

* **e-mail** (:mod:`.email`) through the SMTP server of ``[notify.smtp]``: a plain-text
  message with the run's outcome, counts and first errors;
* a **webhook** (:mod:`.webhook`): an HTTP ``POST`` of the :class:`RunNotice` as JSON,
  signed with HMAC-SHA256 over ``<timestamp>.<body>`` with the link's ``webhook_secret``;
  the receiver checks it with :func:`verify_signature`.

:class:`Notifier` is a run listener of the sync service (``syncline serve`` adds one): it
decides, builds the notice, and delivers it in a background thread so that a slow mail
server never holds up a run. Runs started from the command line (``syncline sync`` from
cron, ``syncline post``, ``syncline force --now``) are notified too, before the command
ends (:func:`syncline.service.run_link`, the one way in for every run). The notice names
everyone who asked for the run (all the requesters of a coalesced request). Nothing sent
ever holds a secret of the configuration.

The webhook's body (``Content-Type: application/json``)::

    {"event": "run.error", "link": "crm-books", "run_id": 42, "outcome": "error",
     "trigger": "schedule", "mode": "incremental", "requested_by": [],
     "started_at": "...", "finished_at": "...", "duration_s": 3.2,
     "counts": {"contact": {"A": 1, "M": 0, "D": 0, "R": 0, "errors": 1, ...}},
     "error": null, "messages": [], "pending": 1,
     "items": [{"stream": "contact", "side": "a", "key": "17", "attempts": 1,
                "message": "..."}]}

A receiver checks it with the raw body and two headers::

    from syncline.notify import verify_signature
    ok = verify_signature(body, headers["X-Syncline-Signature"],
                          headers["X-Syncline-Timestamp"], secret)
"""

from __future__ import annotations

from syncline.notify.email import send_email
from syncline.notify.notice import RunNotice, build_notice
from syncline.notify.notifier import Delivery, Notifier
from syncline.notify.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    post_webhook,
    sign,
    verify_signature,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Delivery",
    "Notifier",
    "RunNotice",
    "build_notice",
    "post_webhook",
    "send_email",
    "sign",
    "verify_signature",
]
