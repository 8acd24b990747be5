"""`GET /health`: liveness, unauthenticated."""

from fastapi import APIRouter, Depends

from app.deps import get_settings
from app.json_route import BoundedJsonRoute
from app.schemas import Health
from settings import Settings

router = APIRouter(tags=["health"], route_class=BoundedJsonRoute)


@router.get("/health", summary="Liveness check", response_model=Health)
async def health(settings: Settings = Depends(get_settings)) -> dict:
    return {"status": "ok", "env": settings.environment}
