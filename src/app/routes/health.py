"""`GET /health`: liveness, unauthenticated."""

from fastapi import APIRouter, Depends

from app.deps import get_settings
from settings import Settings

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness check")
async def health(settings: Settings = Depends(get_settings)) -> dict:
    return {"status": "ok", "env": settings.environment}
