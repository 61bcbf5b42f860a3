"""The admin management API under ``/api``: providers, keys, models, config, tokens, users.

Every endpoint needs an admin (the master key or an admin user's gateway token). Handlers are
thin: they hand validated bodies to ``services.catalog.service`` / ``services.accounts.users`` and return their
public shapes, which never carry a secret. Handlers are plain ``def`` so FastAPI runs their
synchronous database work in its thread pool, off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.api.deps import AdminDep, HubDep, error_response
from services.errors import ConfigError, GatewayError, RequestError
from services.catalog.service import (
    KeyCreate,
    KeyPublic,
    KeyUpdate,
    ModelCreate,
    ModelPublic,
    ProviderCreate,
    ProviderPublic,
    ProviderUpdate,
    Secret,
    clean_message,
    field_path,
)
from services.catalog.config_file import ConfigReport, apply_config_text, export_config
from services.db import session_scope
from services.hub import Hub
from services.accounts.tokens import Principal
from services.accounts.users import (
    TokenCreate,
    TokenCreated,
    TokenPublic,
    TokenUpdate,
    UserCreate,
    UserPublic,
    create_token,
    create_user,
    get_user_by_email,
    list_tokens,
    list_users,
    revoke_token,
    update_token,
)

router = APIRouter(prefix="/api")
YAML_BODY = {"requestBody": {"required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}}}


class KeyRotate(BaseModel):
    secret: Secret


class Cooldown(BaseModel):
    seconds: float = Field(gt=0, le=30 * 86400, description="how long the key stays out of rotation")


def catalog_auditor(hub: HubDep, admin: AdminDep, request: Request) -> Callable[..., None]:
    """For catalog handlers: ``audit(action, target, **detail)`` naming the admin behind the call."""
    return lambda action, target, **detail: _audit(hub, admin, request, action, target, **detail)


AuditDep = Annotated[Callable[..., None], Depends(catalog_auditor)]


# -- providers ---------------------------------------------------------------------------------


@router.get("/providers", tags=["providers"], summary="List providers with their keys")
def list_providers(hub: HubDep, _: AdminDep) -> list[ProviderPublic]:
    return hub.catalog.list_providers()


@router.post("/providers", tags=["providers"], status_code=201, summary="Create a provider (optionally with keys)")
def create_provider(hub: HubDep, audit: AuditDep, body: ProviderCreate) -> ProviderPublic:
    provider = hub.catalog.create_provider(body)
    audit("provider.create", provider.name, kind=provider.kind, keys=len(provider.keys))
    return provider


@router.get("/providers/{name}", tags=["providers"], summary="One provider with its keys")
def get_provider(hub: HubDep, _: AdminDep, name: str) -> ProviderPublic:
    return hub.catalog.get_provider(name)


@router.patch("/providers/{name}", tags=["providers"], summary="Change a provider's name, kind, base URL or enabled flag")
def update_provider(hub: HubDep, audit: AuditDep, name: str, body: ProviderUpdate) -> ProviderPublic:
    provider = hub.catalog.update_provider(name, body)
    audit("provider.update", name, fields=sorted(body.model_fields_set))
    return provider


@router.delete("/providers/{name}", tags=["providers"], status_code=204, summary="Delete a provider, its keys and every route to it")
def delete_provider(hub: HubDep, audit: AuditDep, name: str) -> Response:
    hub.catalog.delete_provider(name)
    audit("provider.delete", name)
    return Response(status_code=204)


# -- keys --------------------------------------------------------------------------------------


@router.get("/keys", tags=["keys"], summary="List keys (secrets masked) with their live status")
def list_keys(hub: HubDep, _: AdminDep, provider: str | None = None) -> list[KeyPublic]:
    return hub.catalog.list_keys(provider)


@router.post("/providers/{name}/keys", tags=["keys"], status_code=201, summary="Add a key to a provider")
def create_key(hub: HubDep, audit: AuditDep, name: str, body: KeyCreate) -> KeyPublic:
    key = hub.catalog.create_key(name, body)
    audit("key.create", key)
    return key


@router.get("/keys/{key_id}", tags=["keys"], summary="One key (secret masked) with its live status")
def get_key(hub: HubDep, _: AdminDep, key_id: int) -> KeyPublic:
    return hub.catalog.get_key(key_id)


@router.patch("/keys/{key_id}", tags=["keys"], summary="Change a key's label, limits, priority, weight or enabled flag")
def update_key(hub: HubDep, audit: AuditDep, key_id: int, body: KeyUpdate) -> KeyPublic:
    key = hub.catalog.update_key(key_id, body)
    audit("key.update", key, fields=sorted(body.model_fields_set))
    return key


@router.post("/keys/{key_id}/rotate", tags=["keys"], summary="Replace a key's secret (same key, history kept; health reset)")
def rotate_key(hub: HubDep, audit: AuditDep, key_id: int, body: KeyRotate) -> KeyPublic:
    key = hub.catalog.rotate_key_secret(key_id, body.secret.get_secret_value())
    audit("key.rotate", key)
    return key


@router.post("/keys/{key_id}/reset", tags=["keys"], summary="Clear a key's cooldown and invalid/exhausted marks")
def reset_key(hub: HubDep, audit: AuditDep, key_id: int) -> KeyPublic:
    key = hub.catalog.reset_key_health(key_id)
    audit("key.reset", key)
    return key


@router.post("/keys/{key_id}/cooldown", tags=["keys"], summary="Take a key out of rotation for a number of seconds")
def cool_key(hub: HubDep, audit: AuditDep, key_id: int, body: Cooldown) -> KeyPublic:
    key = hub.catalog.force_cooldown(key_id, body.seconds)
    audit("key.cooldown", key, seconds=body.seconds)
    return key


@router.delete("/keys/{key_id}", tags=["keys"], status_code=204, summary="Delete a key")
def delete_key(hub: HubDep, audit: AuditDep, key_id: int) -> Response:
    key = hub.catalog.get_key(key_id)
    hub.catalog.delete_key(key_id)
    audit("key.delete", key)
    return Response(status_code=204)


# -- logical models ----------------------------------------------------------------------------


@router.get("/models", tags=["models"], summary="List logical models with their routes")
def list_models(hub: HubDep, _: AdminDep) -> list[ModelPublic]:
    return hub.catalog.list_models()


@router.post("/models", tags=["models"], status_code=201, summary="Create a logical model with an ordered route list")
def create_model(hub: HubDep, audit: AuditDep, body: ModelCreate) -> ModelPublic:
    model = hub.catalog.create_model(body)
    audit("model.create", model.name, routes=len(model.routes))
    return model


@router.get("/models/{name}", tags=["models"], summary="One logical model with its routes")
def get_model(hub: HubDep, _: AdminDep, name: str) -> ModelPublic:
    return hub.catalog.get_model(name)


@router.put("/models/{name}", tags=["models"], summary="Replace a logical model (fields and all routes)")
def replace_model(hub: HubDep, audit: AuditDep, name: str, body: ModelCreate) -> ModelPublic:
    model = hub.catalog.replace_model(name, body)
    audit("model.update", name, routes=len(model.routes), **({"renamed_to": model.name} if model.name != name else {}))
    return model


@router.delete("/models/{name}", tags=["models"], status_code=204, summary="Delete a logical model")
def delete_model(hub: HubDep, audit: AuditDep, name: str) -> Response:
    hub.catalog.delete_model(name)
    audit("model.delete", name)
    return Response(status_code=204)


# -- config file -------------------------------------------------------------------------------


@router.get("/config/export", tags=["config"], response_class=PlainTextResponse, summary="The whole catalog as config YAML (no secrets)")
def export(hub: HubDep, _: AdminDep) -> PlainTextResponse:
    return PlainTextResponse(export_config(hub), media_type="application/yaml")


@router.post("/config/import", tags=["config"], openapi_extra=YAML_BODY, summary="Apply a config YAML (all or nothing)")
async def import_config(
    request: Request, hub: HubDep, audit: AuditDep, dry_run: Annotated[bool, Query(description="validate and count, write nothing")] = False
) -> ConfigReport:
    text = (await request.body()).decode("utf-8", errors="replace")
    try:
        report = await run_in_threadpool(lambda: apply_config_text(text, catalog=hub.catalog, source="request body", dry_run=dry_run))
    except ConfigError as exc:
        raise GatewayError(400, "invalid_config", str(exc)) from None
    if not dry_run:
        await run_in_threadpool(audit, "config.import", "request body", changes=report.changes, summary=str(report))
    return report


# -- gateway tokens ----------------------------------------------------------------------------


@router.get("/tokens", tags=["tokens"], summary="List gateway tokens (last four characters only)")
def get_tokens(hub: HubDep, _: AdminDep, user_id: int | None = None, user_email: str | None = None) -> list[TokenPublic]:
    with session_scope(hub.engine) as session:
        if user_email is not None:
            user = get_user_by_email(session, user_email)
            if user is None:
                return []
            user_id = user.id
        return list_tokens(session, user_id=user_id)


@router.post("/tokens", tags=["tokens"], status_code=201, summary="Issue a token; the raw token is in this answer only")
def post_token(hub: HubDep, admin: AdminDep, request: Request, body: TokenCreate) -> TokenCreated:
    with session_scope(hub.engine) as session:
        issued, owner = create_token(session=session, data=body)
        public = TokenPublic.of(issued.token, owner.email)
    hub.tokens.invalidate()
    _audit(hub, admin, request, "token.create", public, owner=public.user_email)
    return TokenCreated(**public.model_dump(), token=issued.raw)


@router.patch("/tokens/{token_id}", tags=["tokens"], summary="Change a token's name, budget, rpm, allowed models or expiry")
def patch_token(hub: HubDep, admin: AdminDep, request: Request, token_id: int, body: TokenUpdate) -> TokenPublic:
    with session_scope(hub.engine) as session:
        public = update_token(session=session, token_id=token_id, data=body)
    hub.tokens.invalidate()
    _audit(hub, admin, request, "token.update", public, fields=sorted(body.model_fields_set))
    return public


@router.delete("/tokens/{token_id}", tags=["tokens"], summary="Revoke a token (it stays listed, marked revoked)")
def delete_token(hub: HubDep, admin: AdminDep, request: Request, token_id: int) -> TokenPublic:
    with session_scope(hub.engine) as session:
        public = revoke_token(session=session, token_id=token_id)
    hub.tokens.invalidate()
    _audit(hub, admin, request, "token.revoke", public, owner=public.user_email)
    return public


# -- users -------------------------------------------------------------------------------------


@router.get("/users", tags=["users"], summary="List users")
def get_users(hub: HubDep, _: AdminDep) -> list[UserPublic]:
    with session_scope(hub.engine) as session:
        return [UserPublic.of(user) for user in list_users(session)]


@router.post("/users", tags=["users"], status_code=201, summary="Create a user with a password")
def post_user(hub: HubDep, admin: AdminDep, request: Request, body: UserCreate) -> UserPublic:
    with session_scope(hub.engine) as session:
        user = UserPublic.of(create_user(session=session, email=body.email, password=body.password.get_secret_value(), role=body.role, name=body.name))
    _audit(hub, admin, request, "user.create", user.email, role=user.role)
    return user


def _audit(hub: Hub, admin: Principal, request: Request, action: str, target: KeyPublic | TokenPublic | str, **detail: object) -> None:
    """Record a change in the audit log, naming the caller and its address. A key is named
    ``provider/label`` and a token by its name and masked value, each with its id in the detail."""
    actor = hub.accounts.api_actor(admin, request.client.host if request.client else None)
    if isinstance(target, KeyPublic):
        detail = {"key_id": target.id, **detail}
        target = f"{target.provider}/{target.label}"
    elif isinstance(target, TokenPublic):
        detail["token_id"] = target.id
        target = f"{target.name} {target.token_masked}"
    hub.accounts.record(actor, action, target, **detail)


# -- wiring ------------------------------------------------------------------------------------


def request_error_handler(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestError)
    return error_response(GatewayError(error.status, error.code, error.message, param=error.field))


def validation_error_handler(_request: Request, error: Exception) -> Response:
    """FastAPI's 422 as an OpenAI-style 400 naming each bad field (never echoing the input)."""
    assert isinstance(error, RequestValidationError)
    problems = []
    fields = []
    for item in error.errors():
        loc = list(item["loc"])
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        field = field_path(loc) if item["type"] != "json_invalid" else ""
        fields.append(field)
        message = "the body is not valid JSON" if item["type"] == "json_invalid" else clean_message(item["msg"])
        problems.append(f"{field}: {message}" if field else message)
    return error_response(GatewayError(400, "invalid_value", "; ".join(problems), param=next((f for f in fields if f), None)))


def install(api: FastAPI) -> None:
    api.include_router(router)
    api.add_exception_handler(RequestError, request_error_handler)
    api.add_exception_handler(RequestValidationError, validation_error_handler)

