"""The Worker's JSON API as a FastAPI app, wrapped in the CORS and guard ASGI layers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from app.cors import CORSMiddleware
from app.errors import install_error_handlers
from app.guard import GuardMiddleware
from app.routes import auth, callbacks, downloads, export, health, storage


def create_api() -> FastAPI:
    api = FastAPI(
        title="reel-ballers-api",
        version="0.1.0",
        description="Video-export jobs on RunPod with live progress, R2 storage URLs and an encode queue.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_error_handlers(api)
    api.include_router(health.router)
    api.include_router(auth.router)
    api.include_router(export.router)
    api.include_router(callbacks.router)
    api.include_router(storage.router)
    api.include_router(downloads.router)
    return api


def create_app() -> Any:
    """The ASGI app `workers.asgi.fetch` runs: CORS outermost, so even a 500 carries its headers."""
    return CORSMiddleware(GuardMiddleware(create_api()))


app = create_app()
