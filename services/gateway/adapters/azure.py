"""Azure OpenAI: OpenAI's wire format at a resource's deployment, authenticated by ``api-key`` or Entra ID.

* URL: ``{base}/openai/deployments/{deployment}/chat/completions?api-version={api_version}`` (and
  ``/embeddings``); the route's model is the deployment name. Bodies, streams and answers are
  OpenAI's, so the OpenAI adapter does the work (its byte relay included).
* A key's secret is the resource's api-key, sent as ``api-key``; or, for Entra ID, a JSON object
  with ``tenant_id``, ``client_id`` and ``client_secret``, exchanged for a bearer token by the
  client-credentials flow at ``options.token_url`` (default Microsoft's for the tenant) and cached
  until shortly before it expires (``access_tokens``).
* A content-filter refusal (400 ``content_filter``) is the caller's request, not the key's fault: it
  is classified as a bad request like any other 400.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from urllib.parse import quote

from services.gateway.adapters.access_tokens import ACCESS_TOKENS, exchange, json_credential
from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.cloud_options import DEFAULT_AZURE_API_VERSION, option
from services.gateway.adapters.openai import OpenAIAdapter
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.transport import UpstreamClient

ENTRA_TOKEN_URL = "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
ENTRA_FIELDS = ("tenant_id", "client_id", "client_secret")


class AzureAdapter(OpenAIAdapter):
    def endpoint(self, target: Target, path: str) -> str:
        version = option(target.options, "api_version", DEFAULT_AZURE_API_VERSION)
        return f"{target.base_url}/openai/deployments/{quote(target.model, safe='')}/{path}?api-version={quote(version, safe='')}"

    async def auth_headers(self, client: UpstreamClient, target: Target) -> dict[str, str]:
        return await azure_headers(client, target)

    async def chat(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        return await self.chat_with(client, target, body, await azure_headers(client, target))

    async def stream_chat(
        self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally
    ) -> AsyncGenerator[list[bytes], None]:
        headers = await azure_headers(client, target)
        async with aclosing(self.stream_with(client, target, body, tally, headers)) as events:
            async for chunks in events:
                yield chunks

    async def embed(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        return await self.embed_with(client, target, body, await azure_headers(client, target))


async def azure_headers(client: UpstreamClient, target: Target) -> dict[str, str]:
    """``api-key`` for a plain key; a bearer token for an Entra ID credential (a JSON object)."""
    if not target.api_key.startswith("{"):
        return target.with_headers({"content-type": "application/json", "api-key": target.api_key})
    fields = entra_credential(target.api_key)
    token_url = option(target.options, "token_url", ENTRA_TOKEN_URL).replace("{tenant_id}", quote(fields["tenant_id"], safe=""))
    grant = {
        "grant_type": "client_credentials", "scope": ENTRA_SCOPE,
        "client_id": fields["client_id"], "client_secret": fields["client_secret"],
    }
    token = await ACCESS_TOKENS.token(f"{token_url}\n{target.api_key}", lambda: exchange(client, token_url, grant, fields["client_secret"]))
    return target.with_headers({"content-type": "application/json", "authorization": f"Bearer {token}"})


def entra_credential(secret: str) -> dict[str, str]:
    return json_credential(secret, ENTRA_FIELDS, f"an Entra ID secret is a JSON object with {', '.join(ENTRA_FIELDS)}")
