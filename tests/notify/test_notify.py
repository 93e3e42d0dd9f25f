"""Notifications of failed runs and runs with blocking errors: e-mail to a real SMTP server
(aiosmtpd, with a login) and a signed JSON webhook to a real HTTP receiver that checks the
signature; ok runs send nothing; failures to deliver are recorded, never raised."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.support import serve_api, wait_for
from service.support import MemoryLink, memory_link
from syncline.api import ApiContext, build_context
from syncline.cli import app
from syncline.config import load_config
from syncline.errors import ConfigError, RunError
from syncline.notify import post_webhook, sign, verify_signature
from syncline.state.store import StateStore
from syncline.state.users_store import Role

from .support import free_port, smtp_server, webhook_receiver

pytestmark = pytest.mark.filterwarnings(  # the test server takes a login without TLS
    "ignore:Requiring AUTH while not requiring TLS:UserWarning")

SMTP_PASSWORD = "smtp-Pa55-7c1e9a"
HOOK_SECRET = "hook-secret-4f0b2d"


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("TEST_HOOK_SECRET", HOOK_SECRET)


def _link(folder: Path, smtp_port: int, hook_url: str, on: str = '["failed", "error"]',
          ) -> MemoryLink:
    return memory_link(folder, link_extra='schedule = "manual"', extra=f"""
[links.lr.notify]
on = {on}
email = ["ops@example.com", "lead@example.com"]
webhook = "{hook_url}"
webhook_secret = "env:TEST_HOOK_SECRET"

[notify.smtp]
host = "127.0.0.1"
port = {smtp_port}
sender = "syncline@example.com"
username = "syncline"
password = "env:TEST_SMTP_PASSWORD"
timeout = 10
""")


@contextmanager
def _service(link: MemoryLink) -> Iterator[ApiContext]:
    """The service as ``syncline serve`` builds it (notifier included), started."""
    config = link.config()
    store = StateStore.open(config.resolve_url(config.state.url))
    context = build_context(config, store, workers=1, with_host=False)
    context.service.start()
    try:
        yield context
    finally:
        context.service.shutdown(wait=True)
        assert context.notifier is not None
        context.notifier.close()
        store.close()


def _run(context: ApiContext) -> str:
    notifier = context.notifier
    assert notifier is not None
    seen = notifier.runs_seen
    context.service.trigger("lr", requested_by="olivia")
    deadline = time.monotonic() + 60
    while notifier.runs_seen == seen:  # the listener is told just after the run ends
        assert time.monotonic() < deadline, "the notifier was not told of the run"
        time.sleep(0.02)
    notifier.flush(60)
    return str(context.store.runs("lr")[0]["outcome"])


def test_failed_run_sends_mail_and_signed_webhook(tmp_path: Path) -> None:
    with smtp_server(login=("syncline", SMTP_PASSWORD)) as (port, mailbox), \
            webhook_receiver(HOOK_SECRET) as (url, hooks):
        link = _link(tmp_path, port, url)
        link.a.unavailable = True
        with _service(link) as context:
            assert _run(context) == "failed"
            assert context.notifier is not None
            deliveries = list(context.notifier.deliveries)
            run_id = context.store.runs("lr")[0]["id"]
    assert [(item.channel, item.ok) for item in deliveries] == [("email", True),
                                                                ("webhook", True)]
    assert mailbox.logins == [("syncline", SMTP_PASSWORD)]
    (recipients, message), = mailbox.messages
    assert sorted(recipients) == ["lead@example.com", "ops@example.com"]
    assert message["From"] == "syncline@example.com"
    assert message["Subject"].startswith("[syncline] lr: run failed")
    text = message.get_content()
    assert "Outcome:   failed" in text and "unavailable" in text and "olivia" in text
    assert SMTP_PASSWORD.encode() not in mailbox.raw[0] and HOOK_SECRET.encode() \
        not in mailbox.raw[0]
    (request,) = hooks.requests
    assert request["verified"] and request["path"] == "/hooks/syncline"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Syncline-Signature"].startswith("sha256=")
    notice = json.loads(request["body"])
    assert notice["event"] == "run.failed" and notice["link"] == "lr"
    assert notice["outcome"] == "failed" and "unavailable" in notice["error"]
    assert notice["requested_by"] == ["olivia"]
    assert notice["run_id"] == run_id
    assert HOOK_SECRET.encode() not in request["body"]


def test_blocking_errors_notify_and_ok_runs_do_not(tmp_path: Path) -> None:
    with smtp_server(login=("syncline", SMTP_PASSWORD)) as (port, mailbox), \
            webhook_receiver(HOOK_SECRET) as (url, hooks):
        link = _link(tmp_path, port, url)
        link.a.put("contact", "c1", {"name": "Ada"})
        with _service(link) as context:
            assert _run(context) == "ok"
            assert mailbox.messages == [] and hooks.requests == []
            (b_key,) = link.b.stream("contact")
            link.b.fail_keys.add(b_key)
            link.a.put("contact", "c1", {"name": "Ada Lovelace"})
            assert _run(context) == "error"
    (_, message), = mailbox.messages
    assert "records could not go" in message["Subject"]
    text = message.get_content()
    assert "1 record(s) could not go" in text and "contact a:c1 (attempt 1)" in text
    assert "rejected by the memory store" in text
    notice = json.loads(hooks.verified[0]["body"])
    assert notice["event"] == "run.error" and notice["pending"] == 1
    assert notice["items"][0]["key"] == "c1" and notice["counts"]["contact"]["errors"] == 1


def test_webhook_is_tried_again_and_signatures_are_checked(tmp_path: Path) -> None:
    body = b'{"event":"run.failed","link":"lr"}'
    with webhook_receiver(HOOK_SECRET, fail_first=2) as (url, hooks):
        assert post_webhook(url, body, "env:TEST_HOOK_SECRET", pause=0.01) == 204
        assert len(hooks.requests) == 3 and len(hooks.verified) == 3
        deliveries = {item["headers"]["X-Syncline-Delivery"] for item in hooks.requests}
        assert len(deliveries) == 1  # one delivery id over its tries
    with webhook_receiver("another secret") as (url, hooks), \
            pytest.raises(RunError, match="401"):
        post_webhook(url, body, HOOK_SECRET, pause=0.01)
    assert len(hooks.requests) == 1  # a refusal is not tried again
    now = int(time.time())
    good = sign(body, HOOK_SECRET, now)
    assert verify_signature(body, good, str(now), HOOK_SECRET)
    assert not verify_signature(body + b" ", good, str(now), HOOK_SECRET)
    assert not verify_signature(body, good, str(now), HOOK_SECRET + "x")
    assert not verify_signature(body, good, str(now + 1), HOOK_SECRET)
    old = now - 3600
    assert not verify_signature(body, sign(body, HOOK_SECRET, old), str(old), HOOK_SECRET)
    assert not verify_signature(body, None, str(now), HOOK_SECRET)


def test_undeliverable_notifications_are_recorded_not_raised(tmp_path: Path) -> None:
    link = _link(tmp_path, free_port(), f"http://127.0.0.1:{free_port()}/nothing-here",
                 on='["failed"]')
    link.a.unavailable = True
    with _service(link) as context:
        assert context.notifier is not None
        assert _run(context) == "failed"
        deliveries = list(context.notifier.deliveries)
        assert _run(context) == "failed"  # still serving, still telling
        assert len(context.notifier.deliveries) == 4
    assert [(item.channel, item.ok) for item in deliveries] == [("email", False),
                                                                ("webhook", False)]
    assert "cannot be reached" in str(deliveries[0].error)
    assert "did not take the notice" in str(deliveries[1].error)
    assert all(SMTP_PASSWORD not in str(item.error) for item in deliveries)


def test_notify_settings_are_checked(tmp_path: Path) -> None:
    link = memory_link(tmp_path, extra='[links.lr.notify]\nemail = ["ops@example.com"]\n')
    with pytest.raises(ConfigError, match=r"notify.email: .*\[notify.smtp\]"):
        load_config(link.path)
    link = memory_link(tmp_path, extra='[links.lr.notify]\nwebhook = "http://x.test/h"\n')
    with pytest.raises(ConfigError, match="webhook_secret is required"):
        load_config(link.path)
    link = memory_link(tmp_path, extra='[links.lr.notify]\nemail = ["not an address"]\n')
    with pytest.raises(ConfigError, match="not an e-mail address"):
        load_config(link.path)
    link = memory_link(tmp_path, extra='[links.lr.notify]\nwhen = ["failed"]\n')
    with pytest.raises(ConfigError, match=r"unknown setting 'when'.*allowed: on, email"):
        load_config(link.path)


def test_api_shows_the_notifications_of_a_link(tmp_path: Path) -> None:
    with smtp_server(login=("syncline", SMTP_PASSWORD)) as (port, mailbox), \
            webhook_receiver(HOOK_SECRET) as (url, hooks):
        link = _link(tmp_path, port, url)
        config = link.config()
        link.a.unavailable = True
        with serve_api(config) as api:
            viewer = api.client(Role.VIEWER)
            assert viewer.get("/api/links/lr").json()["notify"] == {
                "on": ["failed", "error"], "email": ["ops@example.com", "lead@example.com"],
                "webhook": url}
            assert api.client(Role.OPERATOR).post("/api/links/lr/sync",
                                                  json={}).status_code == 202
            shown = wait_for(lambda: (lambda rows: rows if len(rows) == 2 else None)(
                viewer.get("/api/links/lr/notifications").json()), "two deliveries")
    assert {(item["channel"], item["ok"], item["outcome"]) for item in shown} == {
        ("email", True, "failed"), ("webhook", True, "failed")}
    assert len(mailbox.messages) == 1 and len(hooks.verified) == 1
    assert HOOK_SECRET not in str(shown) and SMTP_PASSWORD not in str(shown)


def test_cli_runs_are_notified_too(tmp_path: Path) -> None:
    """``syncline sync`` (from cron, say) notifies a failed run before it exits; an ok run
    and a dry run send nothing."""
    with smtp_server(login=("syncline", SMTP_PASSWORD)) as (port, mailbox), \
            webhook_receiver(HOOK_SECRET) as (url, hooks):
        link = _link(tmp_path, port, url)
        link.a.put("contact", "c1", {"name": "Ada"})
        runner = CliRunner()
        assert runner.invoke(app, link.args("sync", "lr")).exit_code == 0
        assert runner.invoke(app, link.args("sync", "lr", "--dry-run")).exit_code == 0
        assert mailbox.messages == [] and hooks.requests == []
        link.a.unavailable = True
        failed = runner.invoke(app, link.args("sync", "lr"))
        assert failed.exit_code == 3, failed.output
        assert runner.invoke(app, link.args("sync", "lr", "--dry-run")).exit_code == 3
    assert len(mailbox.messages) == 1 and len(hooks.verified) == 1
    notice = json.loads(hooks.verified[0]["body"])
    assert notice["event"] == "run.failed" and notice["trigger"] == "manual"
    assert notice["run_id"] == max(row[0] for row in _run_ids(tmp_path))


def _run_ids(folder: Path) -> list[tuple[int]]:
    import sqlite3

    db = sqlite3.connect(folder / "state.db")
    try:
        return list(db.execute("SELECT id FROM runs"))
    finally:
        db.close()
