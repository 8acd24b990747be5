"""`GET /docs`: Swagger UI from the Worker's own static assets, so the page works offline.

FastAPI's built-in page loads Swagger UI from a CDN: blank without internet, and a third party
learns of every visit. This page is FastAPI's own HTML pointed at copies of the pinned npm package
`swagger-ui-dist` that `python -m dev_runtime.prepare` puts in public/vendor/swagger-ui/ (git-ignored;
see dev_runtime/swagger_ui.py) and the Worker serves as static assets, in development and deployed.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse

SWAGGER_UI = "/vendor/swagger-ui"
DOCS_PATH = "/docs"


def install_docs(api: FastAPI) -> None:
    """Serve the Swagger UI page at /docs (create the app with `docs_url=None`)."""

    async def swagger_ui(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=api.openapi_url or "/openapi.json",
            title=f"{api.title} — API",
            swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
            # No validator badge: it would send the document to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    api.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
