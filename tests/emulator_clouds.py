"""The emulator's cloud providers: Azure OpenAI (and its Entra ID token endpoint); AWS Bedrock
(``emulator_bedrock``); Google Vertex AI and its service-account token endpoint (``emulator_vertex``).

Azure OpenAI (from Microsoft's REST reference): ``POST /openai/deployments/{deployment}/chat/completions``,
``/embeddings``, ``/images/generations``, ``/audio/speech`` and ``/audio/transcriptions`` with an
``api-version`` query parameter (missing or unknown: 404 "Resource not found"); the key in an
``api-key`` header, or an Entra ID bearer token from the fake token endpoint
``POST /{tenant}/oauth2/v2.0/token`` (client-credentials grant, scope
``https://cognitiveservices.azure.com/.default``; a client secret ``wrong…`` is refused with
``invalid_client``). Bodies and streams are OpenAI's; the deployment is the model. A bearer token
behaves like the client secret it was issued for (its behaviour words, see ``upstream_emulator``);
an unknown one is refused with 401. A deployment named ``…@content-filter`` answers Azure's
content-filter refusal (400 ``content_filter``).

Mounted by ``Emulator.app`` (``cloud_routes``).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from aiohttp import web

from tests.emulator_bedrock import BEDROCK, refused_signature
from tests.emulator_media import MediaEndpoints
from tests.emulator_vertex import (
    CLAUDE_METHODS,
    GEMINI_METHODS,
    VERTEX_CLAUDE,
    VERTEX_GEMINI,
    VERTEX_TOKENS,
    form_of,
    token_url_of,
    unauthenticated,
)
from tests.upstream_emulator import OPENAI, OpenAIDialect, as_texts, bearer, json_response

if TYPE_CHECKING:
    from tests.upstream_emulator import Emulator

JSON = dict[str, Any]
AZURE_API_VERSIONS = frozenset({"2024-02-01", "2024-06-01", "2024-10-21", "2024-12-01-preview", "2025-01-01-preview", "2025-04-01-preview"})
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
MEDIA_OPERATIONS = {"images/generations": "images", "audio/speech": "speech", "audio/transcriptions": "transcriptions"}
"""A deployment's image and audio operations: OpenAI's bodies and answers (``emulator_media``)."""
CONTENT_FILTER_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
    "Please modify your prompt and retry."
)


class AzureDialect(OpenAIDialect):
    """OpenAI's bodies behind Azure's key header, or a bearer token the fake Entra ID endpoint issued."""

    name = "azure"
    chat_required = ("messages",)

    def __init__(self) -> None:
        self.issued: dict[str, str] = {}  # bearer token → the client secret it was issued for

    def api_key(self, request: web.Request) -> str | None:
        if (key := request.headers.get("api-key")) is not None:
            return key
        token = bearer(request)
        return self.issued.get(token) if token else None

    def error(self, kind: str, retry_after: float, message: str | None = None) -> tuple[int, JSON]:
        if kind == "unauthorized":
            text = "Access denied due to invalid subscription key or wrong API endpoint."
            return 401, {"error": {"code": "401", "message": message or text}}
        return super().error(kind, retry_after, message)


AZURE = AzureDialect()


def azure_error(status: int, message: str) -> web.Response:
    return json_response({"error": {"code": str(status), "message": message}}, status)


def content_filter_error() -> web.Response:
    categories = {name: {"filtered": name == "violence", "severity": "medium" if name == "violence" else "safe"}
                  for name in ("hate", "self_harm", "sexual", "violence")}
    error = {
        "message": CONTENT_FILTER_MESSAGE, "type": None, "param": "prompt", "code": "content_filter", "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": categories},
    }
    return json_response({"error": error}, 400)


class CloudEndpoints:
    """Route handlers for the cloud providers, on the emulator they are mounted on."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/openai/deployments/{deployment}/{operation:chat/completions|embeddings|images/generations|audio/speech|audio/transcriptions}",
                     self.azure),
            web.post("/{tenant}/oauth2/v2.0/token", self.entra_token),
            web.post("/model/{model}/{action:converse|converse-stream}", self.bedrock),
            web.post("/token", self.google_token),
            web.post("/_emulator/service-accounts", self.register_service_account),
            web.post("/{version:v1|v1beta1}/projects/{project}/locations/{location}/publishers/{publisher:google|anthropic}/models/{target}",
                     self.vertex),
        ]

    async def vertex(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        claude = request.match_info["publisher"] == "anthropic"
        methods = CLAUDE_METHODS if claude else GEMINI_METHODS
        if method not in methods:
            return await self.emulator.unknown(request)
        dialect = VERTEX_CLAUDE if claude else VERTEX_GEMINI
        if dialect.api_key(request) is None:
            self.emulator._record(request, dialect.name, None, None)
            return unauthenticated()
        return await self.emulator._chat(request, dialect, stream=lambda _: methods[method], model=model)

    async def google_token(self, request: web.Request) -> web.StreamResponse:
        form = await form_of(request)
        status, answer = VERTEX_TOKENS.grant(form, token_url_of(request))
        self.emulator._record(request, "google-oauth", None, {"grant_type": form.get("grant_type")})
        return json_response(answer, status)

    async def register_service_account(self, request: web.Request) -> web.StreamResponse:
        account = await request.json()
        VERTEX_TOKENS.register(account["client_email"], account["public_key"])
        return json_response({"registered": account["client_email"]})

    async def bedrock(self, request: web.Request) -> web.StreamResponse:
        if (refused := await refused_signature(request)) is not None:
            self.emulator._record(request, "bedrock", BEDROCK.api_key(request), None)
            return refused
        stream = request.match_info["action"] == "converse-stream"
        return await self.emulator._chat(request, BEDROCK, stream=lambda _: stream, model=request.match_info["model"])

    async def azure(self, request: web.Request) -> web.StreamResponse:
        deployment, operation = request.match_info["deployment"], request.match_info["operation"]
        if request.query.get("api-version") not in AZURE_API_VERSIONS:
            return azure_error(404, "Resource not found")
        if AZURE.api_key(request) is None:
            return json_response(AZURE.error("unauthorized", 0)[1], 401)
        if deployment.endswith("@content-filter"):
            return content_filter_error()
        if (media := MEDIA_OPERATIONS.get(operation)) is not None:
            return await getattr(MediaEndpoints(self.emulator), media)(request)
        if operation == "chat/completions":
            return await self.emulator._chat(request, AZURE, stream=lambda body: body.get("stream") is True, model=deployment)
        admitted = await self.emulator._admit(request, AZURE, ("input",), model=deployment)
        if isinstance(admitted, web.StreamResponse):
            return admitted
        body = admitted.body
        return json_response(OPENAI.embed_json(deployment, as_texts(body["input"]), body.get("encoding_format") or "float"))

    async def entra_token(self, request: web.Request) -> web.StreamResponse:
        form = {name: values[0] for name, values in parse_qs((await request.read()).decode()).items()}
        if form.get("grant_type") != "client_credentials" or form.get("scope") != ENTRA_SCOPE or not form.get("client_id"):
            return json_response({"error": "invalid_request", "error_description": "AADSTS900144: malformed request"}, 400)
        secret = form.get("client_secret", "")
        if not secret or secret.startswith("wrong"):
            return json_response({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}, 401)
        token = f"entra-{secrets.token_hex(12)}"
        AZURE.issued[token] = secret
        self.emulator._record(request, "entra", form["client_id"], None)
        return json_response({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})
