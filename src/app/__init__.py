"""The Worker's JSON API as a FastAPI app, wrapped in the CORS and guard ASGI layers."""

from __future__ import annotations

import re
from functools import cache
from http import HTTPMethod
from typing import Any

from fastapi import FastAPI

from app.cors import CORSMiddleware
from app.errors import install_error_handlers
from app.guard import GuardMiddleware
from app.openapi import install_openapi
from app.routes import (
    auth,
    callbacks,
    deliveries,
    downloads,
    export,
    health,
    job_status,
    queue,
    scheduler,
    storage,
    usage,
)


def create_api() -> FastAPI:
    api = FastAPI(
        title="reel-ballers-api",
        version="0.1.0",
        description="Video-export jobs on RunPod with live progress, R2 storage URLs and an encode queue.",
        docs_url=None,  # /docs is a static page (public/docs.html) over the Worker's own Swagger UI copy
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_error_handlers(api)
    api.include_router(health.router)
    api.include_router(auth.router)
    api.include_router(export.router)
    api.include_router(job_status.router)
    api.include_router(deliveries.router)
    api.include_router(callbacks.router)
    api.include_router(storage.router)
    api.include_router(downloads.router)
    api.include_router(queue.router)
    api.include_router(usage.router)
    api.include_router(scheduler.router)
    install_openapi(api)
    return api


api = create_api()


# HEAD is answered wherever GET is (bindings.asgi runs it as a GET without the body), except where a
# GET changes something: a HEAD there (curl -I, a link checker) would claim a job and lose its lease.
GET_WITHOUT_HEAD = frozenset({queue.CLAIM_PATH})


@cache
def _routes() -> tuple[tuple[str, re.Pattern, frozenset[str]], ...]:
    paths = {path: {m.upper() for m in ops if m.upper() in HTTPMethod.__members__}
             for path, ops in api.openapi()["paths"].items()}
    paths.update({"/openapi.json": {"GET"}})
    return tuple((path, re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))),
                  frozenset(methods | ({"HEAD"} if "GET" in methods and path not in GET_WITHOUT_HEAD else set())))
                 for path, methods in paths.items())


def allowed_methods(path: str) -> list[str]:
    """The methods the API answers on `path` (for a 405's Allow header); empty when no route has it.
    A route whose path is exactly `path` wins over templated ones (`/api/jobs/claim`, not `/api/jobs/{id}`)."""
    exact = [methods for literal, _, methods in _routes() if literal == path]
    if exact:
        return sorted(exact[0])
    return sorted({m for _, pattern, methods in _routes() if pattern.fullmatch(path) for m in methods})


def create_app() -> Any:
    """The ASGI app `bindings.asgi.serve` runs: CORS outermost, so even a 500 carries its headers."""
    return CORSMiddleware(GuardMiddleware(api))


app = create_app()
