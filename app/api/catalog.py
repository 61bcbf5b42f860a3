"""The catalog's management API under ``/api``: providers, keys, logical models, the config file.

Every endpoint needs an admin (the master key or an admin user's gateway token). Handlers are thin:
they hand validated bodies and the acting admin to ``services.catalog`` (which writes and audits)
and return its public shapes, which never carry a secret. Handlers are plain ``def`` so FastAPI runs
their synchronous database work in its thread pool, off the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.api.deps import ActorDep, AdminDep, HubDep, PathId
from services.catalog.config_export import export_config
from services.catalog.config_file import ConfigReport, apply_config_text
from services.catalog.inputs import KeyCreate, KeyUpdate, ModelCreate, ModelPatch, ProviderCreate, ProviderUpdate, Secret
from services.catalog.views import KeyPublic, ModelPublic, PresetPublic, ProviderPublic, preset_views
from services.errors import ConfigError, GatewayError

router = APIRouter(prefix="/api")
YAML_BODY = {"requestBody": {"required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}}}


class KeyRotate(BaseModel):
    secret: Secret


class Cooldown(BaseModel):
    seconds: float = Field(gt=0, le=30 * 86400, description="how long the key stays out of rotation")


# -- providers ---------------------------------------------------------------------------------


@router.get("/providers", tags=["providers"], summary="List providers with their keys")
def list_providers(hub: HubDep, _: AdminDep) -> list[ProviderPublic]:
    return hub.catalog.list_providers()


@router.post("/providers", tags=["providers"], status_code=201, summary="Create a provider (optionally with keys)")
def create_provider(hub: HubDep, actor: ActorDep, body: ProviderCreate) -> ProviderPublic:
    return hub.catalog.create_provider(actor, body)


@router.get("/presets", tags=["providers"], summary="The OpenAI-compatible services a provider can be made from")
def list_presets(_: AdminDep) -> list[PresetPublic]:
    return preset_views()


@router.get("/providers/{name}", tags=["providers"], summary="One provider with its keys")
def get_provider(hub: HubDep, _: AdminDep, name: str) -> ProviderPublic:
    return hub.catalog.get_provider(name)


@router.patch("/providers/{name}", tags=["providers"], summary="Change a provider's name, kind, base URL or enabled flag")
def update_provider(hub: HubDep, actor: ActorDep, name: str, body: ProviderUpdate) -> ProviderPublic:
    return hub.catalog.update_provider(actor, name, body)


@router.delete("/providers/{name}", tags=["providers"], status_code=204, summary="Delete a provider, its keys and every route to it")
def delete_provider(hub: HubDep, actor: ActorDep, name: str) -> Response:
    hub.catalog.delete_provider(actor, name)
    return Response(status_code=204)


# -- keys --------------------------------------------------------------------------------------


@router.get("/keys", tags=["keys"], summary="List keys (secrets masked) with their live status")
def list_keys(hub: HubDep, _: AdminDep, provider: str | None = None) -> list[KeyPublic]:
    return hub.catalog.list_keys(provider)


@router.post("/providers/{name}/keys", tags=["keys"], status_code=201, summary="Add a key to a provider")
def create_key(hub: HubDep, actor: ActorDep, name: str, body: KeyCreate) -> KeyPublic:
    return hub.catalog.create_key(actor, name, body)


@router.get("/keys/{key_id}", tags=["keys"], summary="One key (secret masked) with its live status")
def get_key(hub: HubDep, _: AdminDep, key_id: PathId) -> KeyPublic:
    return hub.catalog.get_key(key_id)


@router.patch("/keys/{key_id}", tags=["keys"], summary="Change a key's label, limits, priority, weight or enabled flag")
def update_key(hub: HubDep, actor: ActorDep, key_id: PathId, body: KeyUpdate) -> KeyPublic:
    return hub.catalog.update_key(actor, key_id, body)


@router.post("/keys/{key_id}/rotate", tags=["keys"], summary="Replace a key's secret (same key, history kept; health reset)")
def rotate_key(hub: HubDep, actor: ActorDep, key_id: PathId, body: KeyRotate) -> KeyPublic:
    return hub.catalog.rotate_key_secret(actor, key_id, body.secret.get_secret_value())


@router.post("/keys/{key_id}/reset", tags=["keys"], summary="Clear a key's cooldown and invalid/exhausted marks")
def reset_key(hub: HubDep, actor: ActorDep, key_id: PathId) -> KeyPublic:
    return hub.catalog.reset_key_health(actor, key_id)


@router.post("/keys/{key_id}/cooldown", tags=["keys"], summary="Take a key out of rotation for a number of seconds")
def cool_key(hub: HubDep, actor: ActorDep, key_id: PathId, body: Cooldown) -> KeyPublic:
    return hub.catalog.force_cooldown(actor, key_id, body.seconds)


@router.delete("/keys/{key_id}", tags=["keys"], status_code=204, summary="Delete a key")
def delete_key(hub: HubDep, actor: ActorDep, key_id: PathId) -> Response:
    hub.catalog.delete_key(actor, key_id)
    return Response(status_code=204)


# -- logical models ----------------------------------------------------------------------------


@router.get("/models", tags=["models"], summary="List logical models with their routes")
def list_models(hub: HubDep, _: AdminDep) -> list[ModelPublic]:
    return hub.catalog.list_models()


@router.post("/models", tags=["models"], status_code=201, summary="Create a logical model with an ordered route list")
def create_model(hub: HubDep, actor: ActorDep, body: ModelCreate) -> ModelPublic:
    return hub.catalog.create_model(actor, body)


@router.get("/models/{name}", tags=["models"], summary="One logical model with its routes")
def get_model(hub: HubDep, _: AdminDep, name: str) -> ModelPublic:
    return hub.catalog.get_model(name)


@router.put("/models/{name}", tags=["models"], summary="Replace a logical model (fields and all routes)")
def replace_model(hub: HubDep, actor: ActorDep, name: str, body: ModelCreate) -> ModelPublic:
    return hub.catalog.replace_model(actor, name, body)


@router.patch("/models/{name}", tags=["models"], summary="Change some of a logical model's settings (cache, retries…); routes stay")
def patch_model(hub: HubDep, actor: ActorDep, name: str, body: ModelPatch) -> ModelPublic:
    return hub.catalog.update_model(actor, name, body)


@router.delete("/models/{name}", tags=["models"], status_code=204, summary="Delete a logical model")
def delete_model(hub: HubDep, actor: ActorDep, name: str) -> Response:
    hub.catalog.delete_model(actor, name)
    return Response(status_code=204)


# -- config file -------------------------------------------------------------------------------


@router.get("/config/export", tags=["config"], response_class=PlainTextResponse, summary="The whole catalog as config YAML (no secrets)")
def export(hub: HubDep, actor: ActorDep) -> PlainTextResponse:
    return PlainTextResponse(export_config(hub, actor), media_type="application/yaml")


@router.post(
    "/config/import", tags=["config"], openapi_extra=YAML_BODY,
    summary="Apply a config YAML: ours (all or nothing) or a LiteLLM config.yaml (answered with its migration report)",
)
async def import_config(
    request: Request, hub: HubDep, actor: ActorDep, dry_run: Annotated[bool, Query(description="validate and count, write nothing")] = False
) -> ConfigReport:
    text = (await request.body()).decode("utf-8", errors="replace")
    try:
        return await run_in_threadpool(
            lambda: apply_config_text(text, catalog=hub.catalog, source="request body", actor=actor, dry_run=dry_run)
        )
    except ConfigError as exc:
        raise GatewayError(400, "invalid_config", str(exc)) from None
