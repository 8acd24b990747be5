"""Browser tests: the pages in public/ served by the real Worker (`worker`, tests/conftest.py), driven by
Playwright in Debian's headless Chromium (scripts/install_debian_packages.sh; Playwright's own browser download
needs a host the build machines cannot reach).

Each test gets a fresh browser context (empty localStorage and sessionStorage) whose requests are
recorded, and leaves a full-page screenshot in test-artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Traffic, safe_name


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread while
# it lives, and every asyncio test after the browser tests would fail with "Runner.run() cannot be
# called from a running event loop" if it outlived them. (tests/ has no __init__.py, so "package"
# scope would be the session.) A launch costs about a second.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install_debian_packages.sh (scripts/test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def traffic() -> Traffic:
    return Traffic()


@pytest.fixture
def page(browser, worker, traffic, request) -> Iterator[Page]:
    context = browser.new_context(base_url=worker.base_url, viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.on("request", lambda r: traffic.requests.append((r.method, r.url)))
    page.on("websocket", lambda ws: traffic.websockets.append(ws.url))
    page.on("pageerror", lambda exc: traffic.page_errors.append(str(exc)))
    page.on("console", lambda msg: traffic.csp_violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=ARTIFACTS / f"{safe_name(request.node.name)}.png", full_page=True)
        finally:
            context.close()
    # A script error is a bug of the page even when the test's own checks passed; so is anything the
    # pages' CSP (public/_headers) had to block: the pages must work under it, not despite it.
    assert not traffic.page_errors, f"uncaught errors in the page: {traffic.page_errors}"
    assert not traffic.csp_violations, f"the CSP blocked: {traffic.csp_violations}"
