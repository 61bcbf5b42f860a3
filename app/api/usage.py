"""Usage for scripts: the request log, the user × model table and streamed CSV/JSON exports.

Admin tokens (and the master key) see everyone; a user's token only that user's usage, whatever
filters it sends (the services scope every query to the caller).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import AdminDep, HubDep, PathId, PrincipalDep, json_response
from services.accounts.tokens import Principal
from services.db import MAX_ROW_ID
from services.errors import GatewayError, UsageError
from services.usage.analytics import (
    BREAKDOWN_SORTS,
    RANGE_PRESETS,
    TimeRange,
    aligned_range,
    breakdown,
    preset_range,
)
from services.usage.exports import MEDIA_TYPES, export_stream, filename
from services.usage.failover import failover_report
from services.usage.queries import UsageFilter, Viewer, list_usage, usage_detail
from services.usage.rollups import HOUR
from services.usage.route_choice import route_choice

router = APIRouter(prefix="/api", tags=["usage"])
if TYPE_CHECKING:  # the choices are only known at run time, where FastAPI turns them into an enum in the schema
    RangeName = str
    SortName = str
else:
    RangeName = Literal[tuple(RANGE_PRESETS)]
    SortName = Literal[BREAKDOWN_SORTS]


def viewer_of(principal: Principal) -> Viewer:
    return Viewer(principal.user_id, principal.is_admin)


@dataclass(frozen=True, slots=True)
class FilterParams:
    """Query parameters shared by the usage endpoints (``user_id`` only narrows an admin's view)."""

    user_id: int | None = Query(None, ge=0, le=MAX_ROW_ID, description="0 = the master key")
    token_id: int | None = Query(None, ge=1, le=MAX_ROW_ID)
    provider: str | None = None
    model: str | None = Query(None, description="the requested (logical or provider/model) name")
    key_id: int | None = Query(None, ge=1, le=MAX_ROW_ID)
    status: Literal["ok", "error", "cancelled"] | None = None
    cache_hit: bool | None = Query(None, description="only calls answered from the response cache (true), or only the others")

    def filter(self, **extra: object) -> UsageFilter:
        return UsageFilter(user_id=self.user_id, token_id=self.token_id, provider=self.provider, model=self.model,
                           key_id=self.key_id, status=self.status, cache_hit=self.cache_hit, **extra)  # type: ignore[arg-type]


Filters = Annotated[FilterParams, Depends()]


def time_range(
    range: Annotated[RangeName | None, Query(description="a preset; default 30d unless since is given")] = None,
    since: Annotated[datetime | None, Query(description="ISO time, UTC unless a zone is given")] = None,
    until: Annotated[datetime | None, Query(description="ISO time; default now")] = None,
) -> TimeRange:
    """The window, rounded out to whole buckets (hours up to seven days, UTC days beyond)."""
    now = datetime.now(UTC)
    if since is None:
        return preset_range(range or "30d", now)
    try:
        return aligned_range(_utc(since), _utc(until) if until else now)
    except UsageError as error:
        raise GatewayError(400, "invalid_range", str(error), param="until") from None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


Window = Annotated[TimeRange, Depends(time_range)]


def _range_body(window: TimeRange) -> dict[str, str]:
    return {"since": window.since.isoformat(), "until": window.until.isoformat(), "bucket": "hour" if window.width == HOUR else "day"}


@router.get("/usage", summary="Usage records, newest first")
async def usage(
    hub: HubDep,
    principal: PrincipalDep,
    filters: Filters,
    request_id: str | None = None,
    search: str | None = Query(None, description="request id, model or error text"),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Response:
    query = filters.filter(request_id=request_id, search=search, since=since, until=until)
    rows = await run_in_threadpool(list_usage, hub.engine, query, viewer=viewer_of(principal), limit=limit, offset=offset)
    return json_response({"object": "list", "data": rows})


@router.get("/usage/aggregate", summary="Requests, tokens and cost per user × model in a time range")
async def aggregate(
    hub: HubDep,
    principal: PrincipalDep,
    filters: Filters,
    window: Window,
    sort: SortName = "cost",
    descending: bool = True,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Response:
    page = await run_in_threadpool(
        breakdown, hub.engine, filters.filter(), viewer_of(principal), window, limit=limit, offset=offset, sort=sort, descending=descending
    )
    return json_response({"object": "list", "range": _range_body(window), "total": page.total, "data": page.rows})


@router.get("/usage/export", summary="Stream the filtered records or the aggregated table as CSV or JSON")
def export(
    hub: HubDep,
    principal: PrincipalDep,
    filters: Filters,
    window: Window,
    format: Literal["csv", "json"] = "csv",
    kind: Literal["records", "aggregate"] = "records",
    bodies: bool = Query(False, description="records only: add the request and response bodies logged while body logging was on"),
) -> StreamingResponse:
    if bodies and kind != "records":
        raise GatewayError(400, "invalid_export", "Only the records export can include bodies (kind=records).", param="bodies")
    chunks = export_stream(hub.engine, kind, format, filters.filter(), viewer_of(principal), window, with_bodies=bodies)
    headers = {"content-disposition": f'attachment; filename="{filename(kind, format, window)}"', "cache-control": "no-store"}
    return StreamingResponse(chunks, media_type=MEDIA_TYPES[format], headers=headers)


@router.get("/usage/failover", summary="What retries, cooling keys and open circuits cost, and each key pool's headroom at its peak")
async def failover(hub: HubDep, _: AdminDep, window: Window) -> Response:
    answer = await run_in_threadpool(failover_report, hub.engine, window)
    return json_response({**answer, "range": _range_body(window)})


@router.get("/usage/{usage_id}", summary="One usage record with its attempt trail, every candidate of its model and why it was "
            "skipped or not reached, and, if body logging was on, its bodies")
async def usage_record(hub: HubDep, principal: PrincipalDep, usage_id: PathId) -> Response:
    detail = await run_in_threadpool(usage_detail, hub.engine, usage_id, viewer=viewer_of(principal))
    if detail is None:
        raise GatewayError(404, "usage_not_found", f"There is no usage record {usage_id} you may see.", param="usage_id")
    detail["candidates"] = route_choice(detail, hub.table, hub.pricing)
    return json_response(detail)
