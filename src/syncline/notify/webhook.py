"""Posting a notice to a webhook, signed so the receiver can trust it.

Terms:

signature
    ``X-Syncline-Signature: sha256=<hex>``: the HMAC-SHA256, keyed with the link's
    ``webhook_secret``, of ``<timestamp>.<body>`` — the value of the
    ``X-Syncline-Timestamp`` header (Unix seconds), a dot, and the exact bytes of the JSON
    body. Signing the timestamp lets a receiver refuse replays of old notices
    (:func:`verify_signature` allows :data:`TOLERANCE` seconds).
delivery
    A ``POST`` with ``Content-Type: application/json`` answered with a 2xx status. Other
    answers and network errors are tried again (:data:`ATTEMPTS` tries in all, waiting
    1 s, then 2 s ...), except 4xx answers other than 408 and 429, which will not change.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import TYPE_CHECKING

from syncline import __version__
from syncline.errors import RunError
from syncline.redaction import mask_text_urls
from syncline.secret_values import resolve_secret

if TYPE_CHECKING:  # httpx loads when a notice is posted: every run imports this module
    import httpx

__all__ = ["ATTEMPTS", "DELIVERY_HEADER", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "TOLERANCE",
           "post_webhook", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Syncline-Signature"
TIMESTAMP_HEADER = "X-Syncline-Timestamp"
DELIVERY_HEADER = "X-Syncline-Delivery"
TOLERANCE = 300
ATTEMPTS = 3


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (see the module
    docstring)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body,
                      hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, signature: str | None, timestamp: str | None, secret: str,
                     *, now: float | None = None, tolerance: int = TOLERANCE) -> bool:
    """Whether ``signature`` and ``timestamp`` (the headers' values) prove that ``body`` was
    signed with ``secret`` within ``tolerance`` seconds of ``now``."""
    if not signature or not timestamp or not timestamp.isdigit():
        return False
    moment = int(timestamp)
    if abs((time.time() if now is None else now) - moment) > tolerance:
        return False
    return hmac.compare_digest(sign(body, secret, moment), signature)


def post_webhook(url: str, body: bytes, secret: str, *, timeout: float = 10.0,
                 attempts: int = ATTEMPTS, client: httpx.Client | None = None,
                 pause: float = 1.0) -> int:
    """POST ``body`` (JSON) to ``url`` signed with ``secret`` (``env:NAME`` allowed);
    the status code of the answer that took it.

    Raises:
        ConfigError: the secret's environment variable is not set.
        RunError: no try was answered with 2xx (the message names the URL without any
            password, and the last answer or error).
    """
    import httpx

    key = resolve_secret(secret, key="notify.webhook_secret")
    shown = mask_text_urls(url)
    delivery = uuid.uuid4().hex
    own = client or httpx.Client(timeout=timeout)
    last = "no try"
    try:
        for attempt in range(1, attempts + 1):
            timestamp = int(time.time())
            headers = {"Content-Type": "application/json",
                       "User-Agent": f"syncline/{__version__}",
                       SIGNATURE_HEADER: sign(body, key, timestamp),
                       TIMESTAMP_HEADER: str(timestamp), DELIVERY_HEADER: delivery}
            try:
                answer = own.post(url, content=body, headers=headers)
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}: {mask_text_urls(str(error)) or 'no answer'}"
            else:
                if 200 <= answer.status_code < 300:
                    return answer.status_code
                last = f"answered {answer.status_code} {answer.reason_phrase}"
                if 400 <= answer.status_code < 500 and answer.status_code not in (408, 429):
                    break
            if attempt < attempts:
                time.sleep(pause * 2 ** (attempt - 1))
    finally:
        if client is None:
            own.close()
    raise RunError(f"webhook {shown} did not take the notice: {last}")
