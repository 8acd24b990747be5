"""FastAPI dependencies shared by routes: the bindings and the typed settings."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from settings import Settings


def get_env(request: Request) -> Any:
    """The Worker's `env` (bindings, vars, secrets), as `bindings.asgi` puts it in the scope."""
    return request.scope["env"]


async def get_settings(request: Request) -> Settings:
    # A coroutine for FastAPI's sake (app/security.py says why).
    return Settings.from_env(request.scope["env"])


def public_base_url(request: Request, settings: Settings) -> str:
    """Base of URLs handed out (callbacks, signed URLs): PUBLIC_BASE_URL, or this request's origin."""
    return settings.public_base_url or f"{request.url.scheme}://{request.url.netloc}"
