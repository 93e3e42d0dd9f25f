"""The web console in a real browser (Debian's Chromium through Playwright) over a real
SQLite-to-SQLite link run by the service: roles, a sync watched live, the journal and its
filters, the review page (fix a missing mapping, retry, resolve a conflict), Force sync,
the forced-synchronisation screen, and the connections page.

The tests of this module share one world and run in order: the first sync creates what
the later ones look at. Screenshots for the README are saved to ``docs/screenshots``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from .server import LINK, PASSWORD, Mailbox, Pace, Served, wait_for

ACTION_BUTTONS = ["Sync now", "Force sync…", "Sync all", "Pause"]


def _visible_buttons(page: Any) -> set[str]:
    names = page.locator("button:visible, summary.button:visible").all_inner_texts()
    return {" ".join(name.split()) for name in names}


def _csrf(page: Any) -> str:
    return str(page.locator('input[name="csrf"]').first.get_attribute("value"))


def test_sign_in_is_required_and_a_wrong_password_is_refused(new_page: Any,
                                                              served: Served) -> None:
    page = new_page(None)
    page.goto("/links/crm-books/review")
    assert page.url.startswith(f"{served.url}/login")
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The name or the password is wrong")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{served.url}/links/crm-books/review")


def test_each_role_sees_only_its_controls_and_the_server_refuses_the_rest(
        new_page: Any, served: Served) -> None:
    viewer = new_page("vera")
    shown = _visible_buttons(viewer)
    assert not shown & {"Sync now", "Force sync…", "Sync all", "Pause", "Sync"}, shown
    assert viewer.locator("form[action$='/sync']").count() == 0
    expect(viewer.locator(".role")).to_have_text("viewer")
    expect(viewer.get_by_role("link", name="Forced sync")).to_have_count(0)
    refused = viewer.goto(f"/links/{LINK}/force")
    assert refused is not None and refused.status == 403
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(viewer.get_by_role("alert")).to_contain_text("it needs the admin role")
    viewer.goto("/")

    operator = new_page("otto")
    shown = _visible_buttons(operator)
    assert {"Sync now", "Pause", "Sync"} <= shown
    assert not shown & {"Force sync…", "Sync all"}, shown
    expect(operator.get_by_role("button", name="Sync contact of crm-books")).to_be_visible()

    admin = new_page("ada")
    assert {"Sync now", "Force sync…", "Sync all", "Pause", "Sync"} <= _visible_buttons(admin)
    expect(admin.get_by_role("link", name="Forced sync")).to_be_visible()

    # forged requests, carrying the user's own valid session and form token
    cookies = {item["name"]: item["value"] for item in viewer.context.cookies()}
    headers = viewer.evaluate("document.body.getAttribute('hx-headers')")
    viewer_token = re.search(r'"X-CSRF-Token": "([^"]+)"', headers or "")
    assert viewer_token is not None
    runs_before = len(served.world.store.runs(LINK, limit=100))
    with httpx.Client(base_url=served.url, cookies=cookies) as client:
        for path in (f"/links/{LINK}/sync", f"/links/{LINK}/force-sync", "/sync-all",
                     f"/links/{LINK}/force", f"/links/{LINK}/pause"):
            answer = client.post(path, data={"csrf": viewer_token.group(1)})
            assert answer.status_code == 403, (path, answer.text)
            assert "needs the" in answer.json()["detail"]
    operator_cookies = {item["name"]: item["value"] for item in operator.context.cookies()}
    with httpx.Client(base_url=served.url, cookies=operator_cookies) as client:
        refused = client.post(f"/links/{LINK}/force-sync", data={"csrf": _csrf(operator)})
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
        no_token = client.post(f"/links/{LINK}/sync", data={})
        assert no_token.status_code == 403 and "form token" in no_token.json()["detail"]
    with httpx.Client(base_url=served.url) as anonymous:
        assert anonymous.post(f"/links/{LINK}/sync").status_code == 401
    assert len(served.world.store.runs(LINK, limit=100)) == runs_before
    assert served.context.controls.controls(LINK).paused is False


def test_sync_now_shows_live_progress_until_done(new_page: Any, served: Served,
                                                 screenshots: Path) -> None:
    page = new_page("otto")
    page.wait_for_function("document.body.getAttribute('data-events') === 'open'")
    Pace.delay = 0.25
    try:
        page.get_by_role("button", name="Sync now").click()
        page.wait_for_url(re.compile(r".*/#link-crm-books$"))
        expect(page.get_by_role("status").first).to_contain_text("Sync of crm-books")
        panel = page.locator("#progress-crm-books")
        contact = panel.get_by_role("progressbar", name="contact")
        expect(panel).to_be_visible()
        # part-way: the bar moves without a reload
        page.wait_for_function(
            "() => { const bar = document.querySelector("
            "'#progress-crm-books [data-stream=\"contact\"] [role=progressbar]');"
            " const now = bar && Number(bar.getAttribute('aria-valuenow'));"
            " return now >= 30 && now < 100; }")
        expect(panel.locator(".progress-state")).to_contain_text("Running")
        page.screenshot(path=str(screenshots / "running-sync.png"), full_page=True)
    finally:
        Pace.delay = 0.0
    expect(panel).to_have_attribute("data-state", "done", timeout=60_000)
    expect(contact).to_have_attribute("aria-valuenow", "100")
    expect(panel.get_by_role("progressbar", name="invoice")).to_have_attribute(
        "aria-valuenow", "100")
    expect(panel.locator(".progress-state")).to_contain_text("Finished: error")
    served.wait_idle()
    # the card's status refreshed by itself: the run's outcome and counts by action
    card = page.locator("#status-crm-books")
    expect(card.locator(".card-outcome")).to_contain_text("Errors")
    created = 1203 + 4  # customers (one paired by e-mail, web ones excluded) and invoices
    expect(card.locator(".count-A .n")).to_have_text(str(created))
    expect(card).to_contain_text("2 records waiting (errors)")
    expect(card.locator("tr[data-stream='contact'] time")).to_be_visible()
    assert served.query("books", "SELECT COUNT(*) FROM invoices") == [(4,)]
    expect(card.locator(".count-warnings .n")).to_have_text("1")
    page.reload()
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)


def test_run_history_and_journal_filters(new_page: Any, served: Served) -> None:
    page = new_page("vera")
    page.get_by_role("link", name="Runs").click()
    first = page.locator("table.runs tbody tr").first
    expect(first).to_contain_text("otto")
    expect(first).to_contain_text("api")
    expect(first).to_contain_text("incremental")
    first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("run #")
    rows = page.locator("table.journal tbody tr")
    expect(rows.first).to_be_visible()
    page.get_by_label("Stream").select_option("invoice")
    expect(page.locator(".row-count")).to_have_text("6")  # 4 created, 2 errors
    page.get_by_label("Outcome").select_option("error")
    expect(page.locator(".row-count")).to_have_text("2")
    expect(rows.first.locator(".outcome")).to_have_text("✕ Error")
    expect(rows.first).to_contain_text("no ledger account mapped for product 'CONSULT-HR'")
    page.get_by_label("Outcome").select_option("ok")
    page.get_by_label("Action").select_option("A")
    expect(page.locator(".row-count")).to_have_text("3")
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.action)")) == {"A"}
    # each row shows the record on both sides
    assert all(text.strip() not in ("", "—")
               for text in rows.locator(".key-b").all_inner_texts())
    page.get_by_label("Stream").select_option("")
    page.get_by_label("Action").select_option("")
    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Key contains").fill("5011")
    expect(page.locator(".row-count")).to_have_text("1")
    expect(rows.first.locator(".key-a")).to_have_text("5011")
    assert "key=5011" in page.url  # the filters are in the address: a link can be shared
    # paging keeps the filters: 1203 contacts created, 200 rows a page
    page.goto(f"/links/{LINK}/journal?stream=contact&action=A")
    newest = rows.first.locator(".key-a").inner_text()
    page.get_by_role("link", name="older rows").click()
    page.wait_for_url(re.compile(r".*before=\d+"))
    assert "stream=contact" in page.url and "action=A" in page.url and "before=" in page.url
    expect(page.locator(".row-count")).to_have_text("200")
    keys = rows.locator(".key-a").all_inner_texts()
    assert newest not in keys and len(set(keys)) == 200
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.action)")) == {"A"}


def test_review_fix_mapping_retry_and_resolve_conflict(new_page: Any, served: Served,
                                                       screenshots: Path) -> None:
    world = served.world
    # the same customer edited on both sides: held for review (conflict = "manual")
    world.execute(world.crm, "UPDATE customers SET name = 'Harbour Lights Limited', "
                             "email = 'ap@harbourlights.example' WHERE id = 1")
    b_key = served.query("books", "SELECT contact_id FROM contacts WHERE email = "
                                  "'accounts@harbourlights.example'")[0][0]
    world.execute(world.books, "UPDATE contacts SET name = 'Harbour Lights (Bristol)' "
                               "WHERE contact_id = ?", b_key)
    page = new_page("ada")
    page.locator("#link-crm-books").get_by_role("button", name="Sync now").click()
    expect(page.get_by_role("status").first).to_contain_text("Sync of crm-books")
    served.wait_idle()
    assert len(world.store.conflicts(LINK)) == 1

    page.get_by_role("link", name="Review").click()
    group = page.locator(".group").first
    expect(group.locator(".cause")).to_have_text(
        "no ledger account mapped for product 'CONSULT-HR'")
    expect(group.locator(".group-count")).to_have_text("2")
    expect(group).to_contain_text("INV-1001 line 2, INV-1003 line 1")
    # grouped by the cause as data: the rule, the xref table, the missing value
    expect(group).to_have_attribute("data-kind", "RuleRejected")
    expect(group).to_have_attribute("data-field", "ledger_account")
    conflict = page.locator("form.conflict").first
    expect(conflict.locator("tr.differs-row")).to_have_count(2)  # name and email differ
    expect(conflict.locator("tr[data-field='name'] td.differs").first).to_contain_text(
        "Harbour Lights Limited")
    expect(conflict.locator("tr[data-field='name'] td.differs").nth(1)).to_contain_text(
        "Harbour Lights (Bristol)")
    expect(page.locator("#warnings tbody tr")).to_have_count(1)
    expect(page.locator("#warnings")).to_contain_text(
        "invoice INV-1006: books total differs by 0.01; rounding line added")
    page.screenshot(path=str(screenshots / "review.png"), full_page=True)

    # the fix: add the missing mapping, then retry
    group.get_by_label("Map product 'CONSULT-HR' to ledger account").fill("270")
    group.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("status")).to_contain_text("'CONSULT-HR' now maps to '270'")
    page.locator(".group").first.get_by_role("button", name=re.compile("^Retry")).click()
    expect(page.get_by_role("status")).to_contain_text("Retrying invoice")
    served.wait_idle()
    wait_for(lambda: not world.store.pending_items(LINK), "the blocked invoices to go")
    assert served.query("books", "SELECT COUNT(*) FROM invoices") == [(6,)]
    accounts = served.query("books", "SELECT DISTINCT account FROM invoice_lines l JOIN "
                                     "invoices i ON i.inv_id = l.inv_id WHERE item_code = "
                                     "'CONSULT-HR'")
    assert accounts == [("270",)]
    page.reload()
    expect(page.locator("#errors")).to_contain_text("Nothing is blocked")

    # resolve the conflict field by field: the name from the books, the e-mail from the crm
    conflict = page.locator("form.conflict").first
    conflict.locator("tr[data-field='name']").get_by_label("Harbour Lights (Bristol)").check()
    conflict.locator("tr[data-field='email']").get_by_label(
        "ap@harbourlights.example").check()
    conflict.get_by_role("button", name="Use the chosen fields").click()
    expect(page.get_by_role("status")).to_contain_text("chose the fields")
    served.wait_idle()
    wait_for(lambda: not world.store.conflicts(LINK, status="resolved"),
             "the resolution to be written")
    assert served.query("crm", "SELECT name, email FROM customers WHERE id = 1") == [
        ("Harbour Lights (Bristol)", "ap@harbourlights.example")]
    assert served.query("books", "SELECT name, email FROM contacts WHERE contact_id = ?",
                        b_key) == [("Harbour Lights (Bristol)", "ap@harbourlights.example")]
    page.reload()
    expect(page.locator("#conflicts")).to_contain_text("No conflicts wait")


def test_force_sync_asks_first_then_runs_in_full(new_page: Any, served: Served) -> None:
    page = new_page("ada")
    before = served.world.store.runs(LINK, limit=1)[0]["id"]
    page.get_by_text("Force sync…").click()
    explanation = page.locator("details.confirm .confirm-body")
    expect(explanation).to_contain_text("reconciles them completely")
    explanation.get_by_role("button", name="Yes, force sync crm-books").click()
    expect(page.get_by_role("status").first).to_contain_text("Force Sync of crm-books")
    served.wait_idle()
    last = served.world.store.runs(LINK, limit=1)[0]
    assert last["id"] > before and last["mode"] == "full" and last["trigger"] == "force"
    assert last["user"] == "ada" and last["outcome"] == "ok"


def test_one_stream_is_paused_and_resumed_from_its_row(new_page: Any, served: Served) -> None:
    page = new_page("otto")
    row = page.locator(f"#link-{LINK} tr[data-stream='invoice']")
    row.get_by_role("button", name=f"Pause invoice of {LINK}").click()
    expect(page.get_by_role("status").first).to_contain_text("paused")
    row = page.locator(f"#link-{LINK} tr[data-stream='invoice']")
    expect(row.locator(".tag")).to_have_text("paused")
    controls = served.context.controls.controls(LINK)
    assert controls.paused is False and "invoice" in controls.paused_streams
    expect(page.locator(f"#link-{LINK} tr[data-stream='contact'] .tag")).to_have_count(0)
    row.get_by_role("button", name=f"Resume invoice of {LINK}").click()
    expect(page.locator(f"#link-{LINK} tr[data-stream='invoice'] .tag")).to_have_count(0)
    assert "invoice" not in served.context.controls.controls(LINK).paused_streams


def test_forced_synchronisation_screen_counts_then_sends_r_rows(
        new_page: Any, served: Served, screenshots: Path, mailbox: Mailbox) -> None:
    page = new_page("ada")
    page.get_by_role("link", name="Forced sync").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Forced synchronisation of crm-books")
    page.get_by_label("invoice", exact=True).check()
    page.get_by_label("Key from").fill("2")
    page.get_by_label("Key to").fill("4")
    page.get_by_label("With related records").check()
    page.get_by_label("crm → books").check()
    page.get_by_label("Run now").check()
    page.get_by_label("E-mail the detailed log to").fill("controller@finance.example")
    page.get_by_role("button", name="Count records").click()
    count = page.locator("#force-count")
    expect(count.locator(".selected-total")).to_have_text("6")  # 3 invoices, their 3 customers
    expect(count).to_contain_text("3 of them related")
    expect(count).to_contain_text("invoice 3")
    page.screenshot(path=str(screenshots / "forced-sync.png"), full_page=True)
    # changing a criterion asks for a new count before sending
    page.get_by_label("Key to").fill("3")
    expect(page.get_by_role("button", name="Send 6 records again")).to_be_disabled()
    page.get_by_role("button", name="Count records").click()
    expect(count.locator(".selected-total")).to_have_text("4")
    page.get_by_role("button", name="Send 4 records again").click()
    expect(page.get_by_role("status").first).to_contain_text("Marked 4 records of crm-books")
    assert "action=R" in page.url
    served.wait_idle()
    rows = page.locator("table.journal tbody tr")
    expect(page.locator(".row-count")).to_have_text("4", timeout=30_000)
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.action)")) == {"R"}
    assert sorted(rows.locator(".key-a").all_inner_texts()) == ["2", "2", "3", "3"]
    run = served.world.store.runs(LINK, limit=1)[0]
    assert run["mode"] == "forced" and run["counts"]["invoice"]["R"] == 2
    # the detailed log of the run, e-mailed as asked
    wait_for(lambda: bool(mailbox.messages), "the log e-mail")
    recipients, message = mailbox.messages[0]
    assert recipients == ["controller@finance.example"]
    assert "Subject: syncline: forced synchronisation of crm-books" in message
    log_lines = [line for line in message.splitlines() if line.startswith(f"{run['id']},")]
    assert sorted((line.split(",")[2], line.split(",")[3]) for line in log_lines) == [
        ("contact", "R"), ("contact", "R"), ("invoice", "R"), ("invoice", "R")]


def test_connections_matrix_test_schedule_and_sync_all(new_page: Any, served: Served) -> None:
    viewer = new_page("vera")
    viewer.goto("/connections")
    # before connecting, incremental reading is not known (change capture is checked then)
    row = viewer.locator("#endpoint-crm table.capabilities tr[data-stream='invoice']")
    expect(row.locator(".cap-yes")).to_have_count(5)
    expect(row.locator("td").nth(4).locator(".cap-no")).to_have_count(1)
    expect(viewer.get_by_role("button", name="Test connection")).to_have_count(0)
    expect(viewer.get_by_role("button", name="Save schedule")).to_have_count(0)

    page = new_page("ada")
    page.goto("/connections")
    endpoint = page.locator("#endpoint-books")
    endpoint.get_by_role("button", name="Test connection").click()
    endpoint = page.locator("#endpoint-books")
    expect(endpoint.locator(".test-result")).to_contain_text("Connection OK")
    expect(endpoint.locator("tr[data-stream='invoice'] .cap-yes")).to_have_count(6)
    expect(endpoint.locator("tr[data-stream='invoice'] td").last).to_have_text("6")
    page.get_by_label("Schedule of the link").fill("every 2 weeks")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("alert")).to_contain_text("is not a schedule")
    page.get_by_label("Schedule of the link").fill("every 45m")
    page.get_by_label("invoice (empty: as the link)").fill("*/10 * * * *")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("status")).to_contain_text("saved to the configuration file")
    text = (served.world.folder / "syncline.toml").read_text(encoding="utf-8")
    assert 'schedule = "every 45m"' in text and 'invoice = "*/10 * * * *"' in text
    jobs = {job.describe() for job in served.context.service.scheduler.jobs}
    assert jobs == {"crm-books (contact): every 45m", "crm-books (invoice): */10 * * * *"}

    # Sync All takes only the links an admin switched on: none at first
    runs = len(served.world.store.runs(LINK, limit=1000))
    page.goto("/")
    page.get_by_role("button", name="Sync all").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Sync All started nothing. Left out: crm-books (Sync All is off for it).")
    served.wait_idle()
    assert len(served.world.store.runs(LINK, limit=1000)) == runs
    page.goto("/connections")
    page.get_by_role("button", name="Include in Sync All").click()
    expect(page.get_by_role("status")).to_contain_text("crm-books takes part in Sync All")
    page.goto("/")
    page.get_by_role("button", name="Sync all").click()
    expect(page.get_by_role("status")).to_contain_text("Sync All started crm-books.")
    served.wait_idle()
    assert len(served.world.store.runs(LINK, limit=1000)) == runs + 1
    page.goto("/connections")
    page.get_by_role("button", name="Leave out of Sync All").click()
    expect(page.get_by_role("status")).to_contain_text("crm-books is left out of Sync All")


CONTRAST = (Path(__file__).parent / "contrast.js").read_text(encoding="utf-8")


def test_phone_width_labels_contrast_and_keyboard(new_page: Any, served: Served,
                                                  screenshots: Path) -> None:
    page = new_page("ada", width=390, height=844)
    for path in ("/", "/runs", f"/links/{LINK}/journal", f"/links/{LINK}/review",
                 f"/links/{LINK}/force", "/connections"):
        page.goto(path)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, (path, wide)
        unlabelled = page.evaluate(
            "Array.from(document.querySelectorAll('input:not([type=hidden]), select'))"
            ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))"
            ".map(e => e.name)")
        assert unlabelled == [], (path, unlabelled)
        assert page.evaluate(CONTRAST) == [], path  # WCAG AA: 4.5:1, large text 3:1
    page.goto("/")
    page.screenshot(path=str(screenshots / "dashboard-phone.png"), full_page=True)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    # Force sync by keyboard alone: open the explanation, reach the confirm button
    page.locator("summary[data-action='force-sync']").focus()
    page.keyboard.press("Enter")
    expect(page.locator("details.confirm")).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.dataset.action")
    assert focused == "force-sync-confirm"
