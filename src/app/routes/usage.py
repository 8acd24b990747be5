"""GPU usage: a user's totals, and users ranked by what they cost (docs/api.md, "GPU usage")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.deps import get_env
from app.errors import ApiError
from app.jobs_access import plain, user_jobs
from app.responses import errors
from app.schemas import UsageRanking, UsageReport
from app.security import current_user, server_identity
from auth.identity import Identity
from clock import iso
from jobs.usage_ledger import LEDGER_NAME

router = APIRouter(prefix="/api/usage", tags=["usage"])
DEFAULT_SPAN = timedelta(days=30)
_RANGE = {400: "`invalid_range`: `from` or `to` is not an ISO 8601 date or time, or `from` is not before `to`"}
# The pattern is documentation (a date that matches it may still not exist: 400 `invalid_range`).
_ISO = {"pattern": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"}
From = Annotated[str | None, Query(alias="from", max_length=40, json_schema_extra=_ISO,
                                   description="ISO 8601 date or time (UTC unless it says); default: `to` minus 30 days")]
To = Annotated[str | None, Query(alias="to", max_length=40, json_schema_extra=_ISO,
                                 description="ISO 8601 date or time, exclusive; default: now")]


def _moment(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"{name}: not an ISO 8601 date or time", "invalid_range") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def time_range(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """[from, to) of a usage query, checked (jobs count by when they were created)."""
    try:
        to = (_moment(end, "to") if end else datetime.now(UTC)).astimezone(UTC)
        since = (_moment(start, "from") if start else to - DEFAULT_SPAN).astimezone(UTC)
    except OverflowError:  # a time at the very edge of the calendar, shifted past it
        raise ApiError(400, "from or to is outside the supported range of times", "invalid_range") from None
    if since >= to:
        raise ApiError(400, "from must be before to", "invalid_range")
    return since, to


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@router.get("", summary="The caller's GPU usage: totals, by type and by status",
            responses={200: {"model": UsageReport}, **errors(400, 401, 403, 422, 500, user_scoped=True, notes=_RANGE)})
async def my_usage(request: Request, user_id: str = Depends(current_user), start: From = None,
                   end: To = None) -> dict:
    since, to = time_range(start, end)
    report = plain(await user_jobs(get_env(request), user_id).usage(_ms(since), _ms(to)))
    return {"from": iso(since), "to": iso(to), **report}


@router.get("/users", summary="Users ranked by GPU cost, then GPU time (server key)",
            responses={200: {"model": UsageRanking}, **errors(400, 401, 403, 422, 500, notes=_RANGE)})
async def users_usage(request: Request, _: Identity = Depends(server_identity), start: From = None, end: To = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    since, to = time_range(start, end)
    ledger = get_env(request).USAGE_LEDGER.getByName(LEDGER_NAME)
    return {"from": iso(since), "to": iso(to), "users": plain(await ledger.ranking(_ms(since), _ms(to), limit))}
