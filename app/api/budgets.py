"""Budgets, alerts and the usage settings for scripts: what the Usage, Logs and Alerts pages set.

Reading budgets and alerts follows the usage rules (admins see everyone, a user their own);
changing a budget or a setting needs an admin token and lands in the audit log.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.api.deps import AdminDep, HubDep, PathId, PrincipalDep, json_response
from app.api.usage import viewer_of
from services.accounts.audit import Actor
from services.accounts.tokens import Principal
from services.errors import GatewayError, SettingError
from services.hub import Hub
from services.usage.alerts import acknowledge, list_alerts, run_alert_check
from services.usage.budgets import BudgetLine, budget_lines, set_user_budget
from services.usage.settings import (
    alert_settings,
    body_logging,
    checked_alert_settings,
    checked_retention_days,
    retention_days,
    set_alert_settings,
    set_body_logging,
    set_retention_days,
)

router = APIRouter(prefix="/api", tags=["budgets and alerts"])


class UserBudgetBody(BaseModel):
    monthly_budget_usd: float | None = Field(description="null removes the budget", ge=0, le=10_000_000)


class UsageSettingsBody(BaseModel):
    """Only the fields sent are changed."""

    log_bodies: bool | None = None
    retention_days: int | None = None
    alert_levels: list[int] | None = Field(None, description="percent of a quota or budget, e.g. [80, 100]")
    error_rate_percent: float | None = None
    error_min_calls: int | None = None
    webhook_url: str | None = Field(None, description='"" removes the webhook')


class AcknowledgeBody(BaseModel):
    ids: list[int] | None = Field(None, description="null marks every open alert you may see")


def _actor(hub: Hub, principal: Principal, request: Request) -> Actor:
    return hub.accounts.api_actor(principal, request.client.host if request.client else None)


def _usd(micros: int) -> float:
    return micros / 1_000_000


def _budget(line: BudgetLine) -> dict[str, object]:
    return {"kind": line.kind, "id": line.subject_id, "name": line.name, "user_id": line.owner_id,
            "budget_usd": _usd(line.budget_micros), "spent_usd": _usd(line.spent_micros),
            "projected_usd": _usd(line.projected_micros), "used": round(line.share, 4)}


@router.get("/budgets", summary="Month-to-date spend against every budget you may see, with a month-end projection")
async def budgets(hub: HubDep, principal: PrincipalDep) -> Response:
    lines = await run_in_threadpool(budget_lines, hub.engine, viewer_of(principal), datetime.now(UTC))
    return json_response({"object": "list", "data": [_budget(line) for line in lines]})


@router.put("/budgets/users/{user_id}", summary="Set or (with null) remove a person's monthly budget")
async def put_user_budget(hub: HubDep, admin: AdminDep, request: Request, user_id: PathId, body: UserBudgetBody) -> Response:
    micros = None if body.monthly_budget_usd is None else round(body.monthly_budget_usd * 1_000_000)
    try:
        await run_in_threadpool(set_user_budget, hub.engine, _actor(hub, admin, request), user_id, micros)
    except SettingError as error:
        raise GatewayError(404, "user_not_found", str(error), param="user_id") from None
    return json_response({"user_id": user_id, "monthly_budget_usd": body.monthly_budget_usd})


@router.get("/alerts", summary="Alerts, newest first (admins: all; users: their own tokens and budget)")
async def alerts(
    hub: HubDep,
    principal: PrincipalDep,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    rows, total = await run_in_threadpool(list_alerts, hub.engine, viewer_of(principal), limit=limit, offset=offset, open_only=open_only)
    return json_response({"object": "list", "total": total, "data": [row.model_dump() for row in rows]})


@router.post("/alerts/check", summary="Check every threshold now (the scheduled job does this every 20 s)")
async def check_alerts_now(hub: HubDep, _: AdminDep) -> Response:
    fired = await run_alert_check(hub.engine, hub.client)
    return json_response({"object": "list", "data": [row.model_dump() for row in fired]})


@router.post("/alerts/acknowledge", summary="Mark alerts as seen")
async def acknowledge_alerts(hub: HubDep, principal: PrincipalDep, request: Request, body: AcknowledgeBody) -> Response:
    changed = await run_in_threadpool(acknowledge, hub.engine, _actor(hub, principal, request), viewer_of(principal), body.ids)
    return json_response({"acknowledged": changed})


def _settings(hub: Hub) -> dict[str, object]:
    alerting = alert_settings(hub.engine)
    return {"log_bodies": body_logging(hub.engine), "retention_days": retention_days(hub.engine),
            "alert_levels": list(alerting.levels), "error_rate_percent": alerting.error_rate_percent,
            "error_min_calls": alerting.error_min_calls, "webhook_url_set": alerting.webhook_url is not None}


@router.get("/settings/usage", summary="Body logging, retention and alert thresholds")
async def usage_settings(hub: HubDep, _: AdminDep) -> Response:
    return json_response(await run_in_threadpool(_settings, hub))


@router.patch("/settings/usage", summary="Change body logging, retention or alert thresholds (only the fields sent)")
async def patch_usage_settings(hub: HubDep, admin: AdminDep, request: Request, body: UsageSettingsBody) -> Response:
    await run_in_threadpool(_apply_settings, hub, _actor(hub, admin, request), body)
    return json_response(await run_in_threadpool(_settings, hub))


def _apply_settings(hub: Hub, actor: Actor, body: UsageSettingsBody) -> None:
    """Check every change first, then write: a bad field leaves all settings as they were."""
    current = alert_settings(hub.engine)
    alerting = replace(
        current,
        levels=tuple(body.alert_levels) if body.alert_levels is not None else current.levels,
        error_rate_percent=body.error_rate_percent if body.error_rate_percent is not None else current.error_rate_percent,
        error_min_calls=body.error_min_calls if body.error_min_calls is not None else current.error_min_calls,
        webhook_url=body.webhook_url if body.webhook_url is not None else current.webhook_url,
    )
    try:
        days = None if body.retention_days is None else checked_retention_days(body.retention_days)
        alerting = checked_alert_settings(alerting)
    except SettingError as error:
        raise GatewayError(400, "invalid_setting", str(error)) from None
    if days is not None:
        set_retention_days(hub.engine, actor, days)
    if alerting != current:
        set_alert_settings(hub.engine, actor, alerting)
    if body.log_bodies is not None:
        set_body_logging(hub.engine, actor, body.log_bodies)
