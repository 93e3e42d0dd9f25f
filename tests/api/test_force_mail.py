"""A forced resynchronisation asked for through the API may e-mail its detailed log: the
run that sends the records writes it, and the service mails it (real SMTP server)."""

from __future__ import annotations

from pathlib import Path

from notify.support import smtp_server
from service.support import memory_link
from syncline.state.users_store import Role

from .support import serve_api, wait_for


def test_forced_resync_mails_its_log_once_the_run_wrote_it(tmp_path: Path) -> None:
    with smtp_server() as (port, mailbox):
        link = memory_link(tmp_path, link_extra='schedule = "manual"', extra=f"""
[notify.smtp]
host = "127.0.0.1"
port = {port}
sender = "syncline@example.com"
timeout = 10
""")
        for number in range(4):
            link.a.put("contact", f"k{number}", {"name": f"Contact {number}",
                                                 "email": f"c{number}@example.com"})
        with serve_api(link.config()) as api:
            admin = api.client(Role.ADMIN)
            assert admin.post("/api/links/lr/sync", json={}).status_code == 202
            wait_for(lambda: [run for run in api.store.runs("lr")
                              if run["outcome"] == "ok"], "the first sync")
            answer = admin.post("/api/links/lr/force", json={
                "streams": ["contact"], "from_key": "k2", "now": True,
                "email": ["ops@example.com"]})
            assert answer.status_code == 200, answer.text
            assert answer.json()["email"] == ["ops@example.com"]
            assert answer.json()["log"].endswith(".csv")
            wait_for(lambda: mailbox.messages, "the log e-mail", timeout=30)
            refused = admin.post("/api/links/lr/force", json={"email": ["not-an-address"]})
            assert refused.status_code == 422 and "not an e-mail address" in refused.text
    [(recipients, message)] = mailbox.messages
    assert recipients == ["ops@example.com"]
    body = message.get_content()
    assert ",contact,R,a>b,k2," in body and ",contact,R,a>b,k3," in body and "k1," not in body


def test_no_mail_server_no_mail(tmp_path: Path) -> None:
    link = memory_link(tmp_path, link_extra='schedule = "manual"')
    with serve_api(link.config()) as api:
        answer = api.client(Role.ADMIN).post("/api/links/lr/force", json={
            "email": ["ops@example.com"]})
        assert answer.status_code == 422 and "[notify.smtp]" in answer.text
        assert api.store.runs("lr") == []
