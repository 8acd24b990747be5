"""What the browser tests share besides fixtures: Chromium's path and flags, recorded traffic, screenshots."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, expect

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
    """What a page asked for: every request's method and URL, WebSockets, uncaught script errors, and
    what the CSP blocked (Chromium reports each violation on the console)."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)

    def urls(self, pattern: str, method: str | None = None) -> list[str]:
        return [url for m, url in self.requests if re.search(pattern, url) and method in (None, m)]


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]


def screenshot(page: Page, name: str, **kwargs) -> Path:
    """Save a screenshot under test-artifacts/browser/ (what a person would have seen at this point)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{safe_name(name)}.png"
    page.screenshot(path=path, **kwargs)
    return path
