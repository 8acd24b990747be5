"""`/docs` offline and the export dashboard `/`, in headless Chromium against the real Worker."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect


def test_docs_render_offline_from_the_workers_own_assets(page, traffic, worker):
    page.goto("/docs")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 10
    expect(page.locator(".opblock-summary-path", has_text="/api/export/jobs").first).to_be_visible()
    # Everything came from the Worker: Swagger UI's files, the OpenAPI document, the favicon.
    hosts = {urlsplit(url).netloc for _, url in traffic.requests}
    assert hosts == {urlsplit(worker.base_url).netloc}, hosts
    for asset in ("/vendor/swagger-ui/swagger-ui-bundle.js", "/vendor/swagger-ui/swagger-ui.css", "/openapi.json"):
        assert traffic.urls(asset), f"{asset} was not loaded"
