"""Real receivers for notification tests: an SMTP server (aiosmtpd) and an HTTP webhook
receiver that checks the HMAC signature, both on free ports of 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from syncline.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    """What the SMTP server received: one (envelope recipients, parsed message) per mail,
    and the logins it accepted."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: SMTP, session: Session,
                          envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) \
            else str(envelope.content).encode()
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.raw.append(content)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        self.arrived.set()
        return "250 OK"


@contextmanager
def smtp_server(login: tuple[str, str] | None = None) -> Iterator[tuple[int, Mailbox]]:
    """An SMTP server on 127.0.0.1; with ``login``, it requires that user and password."""
    mailbox = Mailbox()
    options: dict[str, Any] = {}
    if login is not None:
        def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                         data: Any) -> AuthResult:
            assert isinstance(data, LoginPassword)
            given = (data.login.decode(), data.password.decode())
            mailbox.logins.append(given)
            return AuthResult(success=given == login)

        options = {"authenticator": authenticate, "auth_require_tls": False,
                   "auth_required": True}
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@dataclass
class Hooks:
    """What the webhook receiver got: per request the path, headers, body and whether the
    signature was right. ``fail_first`` requests are answered 500 (to test retries)."""

    secret: str
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def verified(self) -> list[dict[str, Any]]:
        return [item for item in self.requests if item["verified"]]


@contextmanager
def webhook_receiver(secret: str, fail_first: int = 0) -> Iterator[tuple[str, Hooks]]:
    """An HTTP server taking POSTs; it answers 401 to a wrong signature, 204 otherwise."""
    hooks = Hooks(secret, fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            verified = verify_signature(body, self.headers.get(SIGNATURE_HEADER),
                                        self.headers.get(TIMESTAMP_HEADER), hooks.secret)
            hooks.requests.append({"path": self.path, "headers": dict(self.headers),
                                   "body": body, "verified": verified})
            failing = len(hooks.requests) <= hooks.fail_first
            self.send_response(500 if failing else 204 if verified else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if verified and not failing:
                hooks.arrived.set()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/syncline", hooks
    finally:
        server.shutdown()
        server.server_close()
