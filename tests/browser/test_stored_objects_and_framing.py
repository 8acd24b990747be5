"""What a browser does with the Worker's origin (issue 17), in headless Chromium against the real Worker.

A user's stored object never runs script on the origin whose pages hold secrets in sessionStorage,
whether it is served inline (media) or as an attachment, and no page of the origin can be framed.
Each check first shows its detector works: the same markup, served without the Worker's headers,
does run and is seen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.conftest import token_headers, write_user_blob
from tests.waiting import wait_for

USER = "mallory"
# If this ever runs on the Worker's origin, it reports what it could read to /leak (a 404, but seen).
LEAK = ("<html><body><h1 id=x>page</h1><script>"
        "fetch('/leak?' + encodeURIComponent(sessionStorage.getItem('probe') + ',' + localStorage.getItem('probe')))"
        ".catch(() => {})</script></body></html>")
SVG = ('<svg xmlns="http://www.w3.org/2000/svg"><script>'
       "fetch('/leak?' + encodeURIComponent(sessionStorage.getItem('probe')))</script></svg>")


@pytest.fixture
def other_origin() -> Iterator[dict[str, str]]:
    """Another origin on this machine that serves the HTML put in the returned dict (path → markup):
    a page of Playwright's own (`route.fulfill`) counts as a public page, which Chromium forbids to
    reach loopback addresses at all, so it would prove nothing about the Worker."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = pages.get(self.path.split("?")[0], "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    pages["base"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield pages
    finally:
        server.shutdown()
        server.server_close()


def signed_get(client, key: str) -> str:
    r = client.get("/api/storage/presigned-url", params={"key": key}, headers=token_headers(USER))
    assert r.status_code == 200, r.text
    return r.json()["url"]


def seed_secrets(page) -> None:
    """What an operator's tab holds on the origin: something in each storage."""
    page.goto("/")
    page.evaluate("sessionStorage.setItem('probe', 'session-secret'); localStorage.setItem('probe', 'local-secret')")


def test_the_leak_detector_sees_a_page_that_runs(page, traffic, other_origin):
    # Control: the same markup served as a plain page (another origin, no Worker headers) runs and leaks.
    other_origin["/blank"], other_origin["/control.html"] = "<p>blank</p>", LEAK
    page.goto(other_origin["base"] + "/blank")  # the origin's storage first, then the page, loaded once
    page.evaluate("sessionStorage.setItem('probe', 'session-secret')")
    page.goto(other_origin["base"] + "/control.html")
    leaked = wait_for(lambda: traffic.urls("/leak"), what="the control page's leak")
    assert leaked == [f"{other_origin['base']}/leak?session-secret%2Cnull"]


def test_a_stored_html_object_served_inline_as_video_runs_no_script(page, traffic, client):
    # Stored under a video type (the only way through an upload URL for .mp4), it is a video here.
    write_user_blob(client, USER, "working_videos/trap.mp4", LEAK.encode(), content_type="video/mp4")
    seed_secrets(page)
    url = signed_get(client, "working_videos/trap.mp4")
    page.goto(url)
    # The browser made a media document of it (nosniff: never sniffed into HTML); no h1, no script.
    expect(page.locator("video")).to_have_count(1)
    assert page.locator("#x").count() == 0
    page.goto("/")  # a last page load: anything the object had started would have been sent by now
    assert traffic.urls("/leak") == []


def test_stored_html_and_svg_are_downloads_that_run_nothing(page, traffic, client):
    write_user_blob(client, USER, "notes/trap.html", LEAK.encode(), content_type="text/html")
    write_user_blob(client, USER, "notes/trap.svg", SVG.encode(), content_type="image/svg+xml")
    seed_secrets(page)
    for key in ("notes/trap.html", "notes/trap.svg"):
        url = signed_get(client, key)
        with page.expect_download() as download:
            try:
                page.goto(url)
            except PlaywrightError as exc:  # a navigation that becomes a download is reported as an error
                assert "Download is starting" in str(exc), exc
        assert download.value.suggested_filename == key.split("/")[-1]
    page.goto("/")
    assert traffic.urls("/leak") == []
    # Its sandbox CSP means that even a browser that ignored the attachment would give it no origin.
    assert "sandbox" in httpx.get(signed_get(client, "notes/trap.svg")).headers["content-security-policy"]


def test_no_page_of_the_origin_can_be_framed(page, traffic, worker, other_origin):
    pages = ["/", "/add-jobs/", "/view-jobs/", "/docs"]
    frames = "".join(f'<iframe name="f{i}" src="{worker.base_url}{p}"></iframe>' for i, p in enumerate(pages))
    # Control: the same page of another origin frames a Worker answer that is not a page (/health).
    other_origin["/framer"] = frames + f'<iframe name="control" src="{worker.base_url}/health"></iframe>'
    page.goto(other_origin["base"] + "/framer")
    shown = wait_for(lambda: page.frame(name="control"), what="the control frame")
    expect(shown.locator("body")).to_contain_text('"status":"ok"')
    for i, path in enumerate(pages):
        frame = page.frame(name=f"f{i}")
        assert frame is not None
        # Chromium replaces a frame that frame-ancestors (and X-Frame-Options) refuse with its error page.
        wait_for(lambda f=frame: f.url.startswith("chrome-error://"), what=f"{path} refused as a frame")
        assert frame.locator("header.site, #swagger-ui").count() == 0, path
    # Chromium says why, once per page: these refusals are the point here, not a page's fault.
    refused = [v for v in traffic.csp_violations if "frame-ancestors 'none'" in v]
    assert len(refused) == len(pages), traffic.csp_violations
    traffic.csp_violations.clear()
