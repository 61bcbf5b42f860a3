"""``GET /health``: database status, key health counts and per-provider status (from memory only, so it stays cheap)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from app.api.deps import HubDep, json_response
from services.db import database_ok
from services.gateway.provider_health import KEY_STATUSES, live_status

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and key health")
async def health(hub: HubDep) -> Response:
    now = hub.clock.now()
    providers = live_status(hub.table, hub.states, now)
    counts = {status: sum(p["keys"][status] for p in providers.values()) for status in KEY_STATUSES}
    db_ok = database_ok(hub.engine)
    body = {
        "status": "ok" if db_ok else "degraded",
        "database": "ok" if db_ok else "unavailable",
        "keys": {"healthy": counts["active"], "cooling": counts["cooling"], **{k: counts[k] for k in ("invalid", "exhausted", "disabled")}},
        "providers": len(hub.table.providers),
        "models": len(hub.table.models),
        "provider_status": providers,
    }
    return json_response(body, 200 if db_ok else 503)
