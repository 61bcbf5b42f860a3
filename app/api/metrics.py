"""``GET /metrics``: Prometheus text format (admin bearer token, like the management API)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from app.api.deps import AdminDep, HubDep
from services.gateway.metrics import CONTENT_TYPE, exposition

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics: requests, latency, tokens, cost, cooldowns, key and circuit state")
async def metrics(hub: HubDep, _: AdminDep) -> Response:
    return Response(exposition(hub.table, hub.states, hub.clock.now()), media_type=CONTENT_TYPE)
