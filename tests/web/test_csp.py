"""The console works under its content security policy (no inline script or style): in
Chromium, every page of an admin, a sync started and watched live (htmx and the progress
stream), and the page's own requests give no policy violation; a page of another site
cannot frame the console."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .server import LINK, Served

PAGES = ["/", "/runs", f"/links/{LINK}/runs", f"/links/{LINK}/journal",
         f"/links/{LINK}/review", "/review", "/force", f"/links/{LINK}/force", "/connections"]


def _violations(page: Any) -> list[str]:
    """Collects what Chromium says about the policy (console errors) as they come."""
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: found.append(f"page error: {error}"))
    return found


def test_no_page_breaks_the_content_security_policy(new_page: Any, served: Served) -> None:
    page = new_page("ada")
    violations = _violations(page)
    for path in PAGES:
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        page.wait_for_load_state("load")
    page.goto("/")
    page.locator(f"#link-{LINK}").get_by_role("button", name="Sync now").click()
    panel = page.locator(f"#progress-{LINK}")
    expect(panel).to_have_attribute("data-state", "done", timeout=60_000)
    widths = page.locator(f"#progress-{LINK} .bar > span").evaluate_all(
        "spans => spans.map(s => s.style.width)")
    assert widths and all(width == "100%" for width in widths), widths
    assert violations == [], violations


def test_another_site_cannot_frame_the_console(new_page: Any, served: Served) -> None:
    page = new_page(None)
    page.set_content(f'<iframe id="f" src="{served.url}/login"></iframe>')
    page.wait_for_timeout(1500)
    frame = page.frame_locator("#f")
    expect(frame.get_by_role("button", name="Sign in")).to_have_count(0)
    direct = new_page(None)
    direct.goto("/login")  # the same page, not framed, shows its form
    expect(direct.get_by_role("button", name="Sign in")).to_have_count(1)
