"""Routing decisions with evidence, for scripts and the console: the what-if replay of a proposed route list.

Admin only (it reads every caller's traffic). The replay reads the window's records in batches in
FastAPI's thread pool; refusals (an unknown model, provider or key, a window that ends before it
starts) come back in OpenAI's error shape naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.api.deps import AdminDep, HubDep, json_response
from services.usage.whatif import WhatIfRequest, what_if

router = APIRouter(prefix="/api/routing", tags=["routing"])


@router.post("/what-if", summary="Replay a window of recorded calls to a model against a proposed route list")
async def routing_what_if(hub: HubDep, _: AdminDep, body: WhatIfRequest) -> Response:
    answer = await run_in_threadpool(
        what_if, hub.engine, hub.table, hub.pricing, body, now=datetime.now(UTC), policy=hub.replay_policy(),
    )
    return json_response(answer)
