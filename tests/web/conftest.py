"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, and the console
served over a real SQLite-to-SQLite link (see :mod:`.server`).

Without ``/usr/bin/chromium`` the tests are skipped, except on CI (``CI=true``), where they
fail: there ``make test`` installs it. Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import PASSWORD, Mailbox, Served, build, serve

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium; make test installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    _need_chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # the machine may be busy: wait, never sleep
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-background-networking"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    """A local SMTP server the world's ``[notify.smtp]`` points at."""
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[Served]:
    """The console over a fresh world, shared by the tests of one module (in order)."""
    _need_chromium()
    world = build(tmp_path_factory.mktemp("web"), mailbox)
    try:
        yield from serve(world)
    finally:
        world.store.close()


@pytest.fixture
def new_page(browser: Any, served: Served) -> Iterator[Any]:
    """``new_page(user)``: a page in a fresh browser context, signed in as ``user``."""
    contexts: list[Any] = []

    def make(user: str | None, width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      base_url=served.url)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            page.goto("/login")
            page.get_by_label("User name").fill(user)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{served.url}/")
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
