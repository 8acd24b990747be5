"""Browser tests: the pages in public/ served by the real Worker (`worker`, tests/conftest.py), driven by
Playwright in Debian's headless Chromium (scripts/install_chromium.sh; Playwright's own browser download
needs a host the build machines cannot reach).

Each test gets a fresh browser context (empty localStorage and sessionStorage) whose requests are
recorded, and leaves a full-page screenshot in test-artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
# No sandbox: the tests run as root, which Chromium's sandbox refuses. The rest keeps the browser off
# the network (no QUIC probes, component or sync updates) and deterministic.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts" / "browser"
# The Worker shares 2 cores with other Workers and browsers: generous, since every wait is on a condition.
expect.set_options(timeout=20_000)


@dataclass
class Traffic:
    """What a page asked for: every request's method and URL, WebSockets, uncaught script errors."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def urls(self, pattern: str, method: str | None = None) -> list[str]:
        return [url for m, url in self.requests if re.search(pattern, url) and method in (None, m)]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install_chromium.sh (scripts/test does)")
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
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=ARTIFACTS / f"{_safe(request.node.name)}.png", full_page=True)
        finally:
            context.close()
    # A script error is a bug of the page even when the test's own checks passed.
    assert not traffic.page_errors, f"uncaught errors in the page: {traffic.page_errors}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]


def screenshot(page: Page, name: str, **kwargs) -> Path:
    """Save a screenshot under test-artifacts/browser/ (what a person would have seen at this point)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{_safe(name)}.png"
    page.screenshot(path=path, **kwargs)
    return path
