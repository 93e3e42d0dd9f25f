"""Secrets in URLs never show: a token planted in a webhook URL's query and a password
planted both in a database URL's user-info and in its query are looked for in every API
answer (to a viewer and an admin), every console page and the service's log, after a
failed run was notified to the webhook (which really received the token). Each shows as
``***``; the rest of the URL stays readable."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from service.support import memory_link
from syncline.connectors.base import Connector
from syncline.connectors.memory import MemoryConnector
from syncline.errors import EndpointUnavailable
from syncline.redaction import install_log_scrubbing, mask_text_urls, secret_values
from syncline.state.users_store import Role

from .support import Served, serve_api, sign_in, wait_for

HOOK_TOKEN = "hookTok3n-4c1d9e7f"
DB_PASSWORD = "dbPassw0rd-77ab21"
DB_QUERY_PASSWORD = "dbQueryPw-0e5f93"
HOOK_SECRET = "hook-signing-9a8b7c6d"


class _Receiver(BaseHTTPRequestHandler):
    paths: list[str] = []  # what the webhook receiver was sent, in order

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        _Receiver.paths.append(self.path)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        """Keep the test's output free of the receiver's access log."""


@pytest.fixture
def receiver() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.paths.clear()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class _Down(MemoryConnector):
    """A memory endpoint that cannot be reached (so the run fails and is notified)."""

    def open(self) -> None:
        raise EndpointUnavailable(self.endpoint, "connection refused")


@pytest.fixture
def planted(tmp_path: Path, receiver: int,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("HOOK_SIGNING", HOOK_SECRET)
    hook = f"http://127.0.0.1:{receiver}/hook?channel=ops&token={HOOK_TOKEN}"
    link = memory_link(tmp_path, streams=["contact"], link_extra='schedule = "manual"',
                       extra=f'[links.lr.notify]\nwebhook = "{hook}"\n'
                             f'webhook_secret = "env:HOOK_SIGNING"\non = ["failed"]\n')
    dsn = (f"postgresql+psycopg://app:{DB_PASSWORD}@db.example.invalid:5432/crm"
           f"?password={DB_QUERY_PASSWORD}&sslmode=require")
    link.path.write_text(link.path.read_text().replace(
        "[endpoints.right]\n", f'[endpoints.right]\ndsn = "{dsn}"\n'))
    config = link.config()

    def factory(name: str) -> Connector:
        endpoint = config.endpoints[name]
        cls = _Down if name == "right" else MemoryConnector
        return cls(name, endpoint.settings, config.base_dir)

    with serve_api(config, factory=factory) as served:
        yield served


def test_one_masking_function_hides_query_values_and_user_info() -> None:
    assert mask_text_urls("https://hooks.example.com/hook?token=abc123") == \
        "https://hooks.example.com/hook?token=***"
    assert mask_text_urls("postgresql+psycopg://app:pw@db/crm?password=x&sslmode=require") \
        == "postgresql+psycopg://app:***@db/crm?password=***&sslmode=***"
    assert mask_text_urls("failed: see https://h.example/x?sig=abc, then retry.") == \
        "failed: see https://h.example/x?sig=***, then retry."
    # a bare user name is kept; a token given as the user-info is not
    assert mask_text_urls("postgresql://postgres@127.0.0.1/db") == \
        "postgresql://postgres@127.0.0.1/db"
    assert mask_text_urls("https://ghp_0123456789abcdefXYZ@git.example/r") == \
        "https://***@git.example/r"
    assert mask_text_urls('<a href="https://h/x?a=1&amp;token=zz">') == \
        '<a href="https://h/x?a=***&amp;token=***">'
    assert mask_text_urls("no address ?token=plain") == "no address ?token=plain"
    # free text quoting the value elsewhere is scrubbed too: the value is a known secret
    assert sorted(secret_values({"url": "https://u:pw12@h/x?token=t0k3n&page=2"})) == \
        ["pw12", "t0k3n"]


def test_tokens_in_urls_are_found_nowhere(planted: Served) -> None:
    api = planted
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    install_log_scrubbing(api.context.secrets)  # what 'syncline serve' does at start
    secrets = (HOOK_TOKEN, DB_PASSWORD, DB_QUERY_PASSWORD, HOOK_SECRET)
    answers: list[str] = []
    try:
        admin, viewer = api.client(Role.ADMIN), api.client(Role.VIEWER)
        assert admin.post("/api/links/lr/sync", json={}).status_code == 202
        wait_for(lambda: api.store.runs("lr") and api.store.runs("lr")[0]["outcome"]
                 == "failed", "the failed run")
        wait_for(lambda: api.context.service.wait_idle(0.1), "the run to end")
        assert api.context.notifier is not None
        api.context.notifier.flush(30)
        # the webhook was really called with its token: the secret had its way out
        assert _Receiver.paths == [f"/hook?channel=ops&token={HOOK_TOKEN}"]
        for client in (viewer, admin):
            for path in ("/api/links", "/api/links/lr", "/api/links/lr/notifications",
                         "/api/endpoints", "/api/links/lr/runs", "/api/runs"):
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.text)
                answers.append(answer.text)
        endpoints = {item["endpoint"]: item for item in viewer.get("/api/endpoints").json()}
        assert endpoints["right"]["settings"]["dsn"] == (
            "postgresql+psycopg://app:***@db.example.invalid:5432/crm"
            "?password=***&sslmode=***")
        link = viewer.get("/api/links/lr").json()
        assert link["notify"]["webhook"].endswith("/hook?channel=***&token=***")
        (delivery,) = viewer.get("/api/links/lr/notifications").json()
        assert delivery["ok"] is True and delivery["target"].endswith("&token=***")
        with httpx.Client(base_url=api.url, timeout=30.0) as console:
            assert sign_in(console, "viewer", "viewer-password").status_code == 303
            for page in ("/", "/connections", "/runs", "/links/lr/runs",
                         "/links/lr/journal", "/links/lr/review", "/links/lr/card"):
                shown = console.get(page)
                assert shown.status_code == 200, (page, shown.text)
                answers.append(shown.text)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    log_text = buffer.getvalue()
    assert "token=***" in log_text  # the notification and its HTTP request were logged
    for where, texts in (("API or console", answers), ("log", [log_text])):
        for secret in secrets:
            assert not any(secret in text for text in texts), f"{where} shows {secret}"
