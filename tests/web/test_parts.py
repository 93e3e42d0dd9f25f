"""The console's parts without a browser: session cookies and form tokens, the sign-in
redirect, schedule editing of the configuration file, the fix found for an error cause,
the forced-sync form's criteria, relative times, and secrets kept out of pages."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.datastructures import FormData

from engine.rules_support import build_world
from syncline.config import load_config
from syncline.errors import UsageError
from syncline.model import Side
from syncline.service.force_mail import parse_recipients
from syncline.service.review import Fix, fix_for
from syncline.service.schedule_edit import edit_config_text
from syncline.state.users_store import Role, UsersStore
from syncline.web.routes_dashboard import _safe_next
from syncline.web.routes_force import criteria_from_form, read_form
from syncline.web.session import SessionKeys
from syncline.web.views import relative

from .server import serve

SECRET = "planted-Secret-7f3a9"
ADA_PASSWORD = "ada-password-long"


def test_session_cookie_round_trip_and_tampering() -> None:
    keys = SessionKeys(b"k" * 32)
    value = keys.issue("ada")
    body = keys.read(value)
    assert body is not None and body["u"] == "ada"
    text, signature = value.rsplit(".", 1)
    assert keys.read(text + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B")) \
        is None
    assert keys.read(value.replace(text, text[:-2] + "xx")) is None
    assert SessionKeys(b"o" * 32).read(value) is None  # another server's key
    assert keys.read(value, now=time.time() + 13 * 3600) is None  # expired
    assert keys.read(None) is None and keys.read("garbage") is None
    other = keys.read(keys.issue("ada"))
    assert other is not None and keys.csrf(body) != keys.csrf(other)


def test_only_local_paths_follow_sign_in() -> None:
    assert _safe_next("/links/x/review?y=1") == "/links/x/review?y=1"
    for hostile in ("//evil.example/", "https://evil.example/", "", None, "javascript:x"):
        assert _safe_next(hostile) == "/"


def test_fix_for_a_missing_xref_entry() -> None:
    tables = ["ledger_account", "tax_rate"]
    assert fix_for("no ledger account mapped for product 'CONSULT-HR'", tables) == Fix(
        "ledger_account", "CONSULT-HR", "product")
    assert fix_for("no tax rate mapped for tax code 'EX'", tables) == Fix("tax_rate", "EX",
                                                                          "tax code")
    assert fix_for("no cost centre mapped for product 'X'", tables) is None
    assert fix_for("totals differ by 0.05", tables) is None


CONFIG = """\
[state]
url = "sqlite:///state.db"

[links."crm-books"]  # the link
a = "crm"
b = "books"
streams = ["contact", "invoice"]
schedule = "every 30m"
schedules = { contact = "daily" }

[links."crm-books".rules.invoice]
send_all = true

[links.other]
a = "crm"
b = "books"
streams = ["contact"]
schedule = "hourly"
"""


def test_edit_config_text_replaces_only_the_links_schedule_settings() -> None:
    edited = edit_config_text(CONFIG, "crm-books", "every 10m", True,
                              {"invoice": "*/5 * * * *"})
    assert 'schedule = "every 10m"\non_startup = true\n' in edited
    assert "every 30m" not in edited and "daily" not in edited
    assert '[links.crm-books.schedules]\ninvoice = "*/5 * * * *"\n' in edited
    assert 'schedule = "hourly"' in edited and "send_all = true" in edited
    again = edit_config_text(edited, "crm-books", "manual", False, {})
    assert "schedules]" not in again and 'schedule = "manual"' in again
    with pytest.raises(UsageError, match=r"no \[links.missing\] table"):
        edit_config_text(CONFIG, "missing", "manual", False, {})
    dotted = 'links.crm-books.a = "crm"\n'
    with pytest.raises(UsageError):
        edit_config_text(dotted, "crm-books", "manual", False, {})


def test_forced_sync_form_criteria(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    try:
        settings = world.config.link("crm-books")
        fields = read_form(FormData([("streams", "invoice"), ("from_key", "2"),
                                     ("since", "2026-11-01"), ("until", "2026-11-30"),
                                     ("due_to", "2026-12-31"), ("owner", " sam "),
                                     ("with_related", "1"), ("source", "a")]))
        criteria = criteria_from_form("crm-books", settings, fields)
        assert criteria.streams == ("invoice",) and criteria.from_key == "2"
        assert criteria.to_key is None and criteria.owner == "sam"
        assert criteria.since == datetime(2026, 11, 1, tzinfo=UTC)
        assert criteria.until == datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)
        assert criteria.due_from is None and criteria.due_to is not None
        assert criteria.with_related and criteria.source is Side.A
        mine = criteria_from_form("crm-books", settings, read_form(FormData([("mine", "1")])),
                                  "ada")
        assert mine.owner == "ada" and mine.streams == ()
        for wrong, message in (([("since", "1 Nov")], "not a date"),
                               ([("since", "2026-12-02"), ("until", "2026-12-01")],
                                "start is after the end"),
                               ([("from_key", "9"), ("to_key", "1")], "'from' is after"),
                               ([("streams", "bill")], "does not sync bill"),
                               ([("mine", "1"), ("owner", "sam")], "not both")):
            with pytest.raises(UsageError, match=message):
                criteria_from_form("crm-books", settings, read_form(FormData(wrong)))
    finally:
        world.store.close()


def test_relative_times_and_recipients() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert relative(now - timedelta(seconds=10), now) == "just now"
    assert relative(now - timedelta(minutes=5), now) == "5 min ago"
    assert relative(now + timedelta(minutes=25), now) == "in 25 min"
    assert relative(now - timedelta(hours=3), now) == "3 h ago"
    assert relative(now - timedelta(days=2), now) == "2 days ago"
    assert relative(None, now) == "never"
    assert parse_recipients("a@x.example, b@y.example;c@z.example") == [
        "a@x.example", "b@y.example", "c@z.example"]
    with pytest.raises(UsageError, match="'nobody' is not an e-mail address"):
        parse_recipients("a@x.example nobody")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    """A client of the application (API and console) served over the posting world, with a
    planted secret in the mail server's settings."""
    world = build_world(tmp_path)
    path = tmp_path / "syncline.toml"
    path.write_text(f'[notify.smtp]\nhost = "127.0.0.1"\nsender = "s@x.example"\n'
                    f'username = "u"\npassword = "{SECRET}"\n\n'
                    + path.read_text(encoding="utf-8"), encoding="utf-8")
    world.config = load_config(path)
    UsersStore(world.store).add_user("ada", Role.ADMIN, ADA_PASSWORD)
    try:
        for served in serve(world):
            with httpx.Client(base_url=served.url) as http:
                yield http
    finally:
        world.store.close()


def test_pages_need_sign_in_and_never_show_a_secret(client: httpx.Client) -> None:
    answer = client.get("/links/crm-books/journal?stream=invoice")
    assert answer.status_code == 303
    assert answer.headers["location"] == \
        "/login?next=/links/crm-books/journal%3Fstream%3Dinvoice"
    client.cookies.set("syncline_session", "forged.value")
    form = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert form is not None
    assert client.post("/login", data={"name": "ada", "password": "wrong",
                                       "csrf": form.group(1)}).status_code == 401
    assert client.get("/").status_code == 303
    signed = client.post("/login", data={"name": "ada", "password": ADA_PASSWORD,
                                         "next": "//x.example", "csrf": form.group(1)})
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    page = client.get("/connections")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    # a notice quoting a secret (here: the secret typed as a schedule) shows it masked
    answer = client.post("/links/crm-books/schedule",
                         data={"csrf": token.group(1), "schedule": SECRET})
    assert answer.status_code == 303
    saved = client.get(answer.headers["location"])
    assert saved.status_code == 200 and "is not a schedule" in saved.text
    assert SECRET not in saved.text and "***" in saved.text
    missing = client.get("/links/nope/review", headers={"accept": "text/html"})
    assert missing.status_code == 404 and "no link &#39;nope&#39;" in missing.text
    assert client.get("/links/nope/review").json()["detail"].startswith("no link 'nope'")
    assert client.get("/api/links").status_code == 401  # the API keeps its own rules
