"""Google Vertex AI: Gemini and Claude at a project's location, authenticated by a service account.

* URL: ``{base}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}``.
  A route model whose name starts with ``claude`` is Claude on Vertex (publisher ``anthropic``,
  ``:rawPredict`` / ``:streamRawPredict`` with Anthropic's Messages body, no ``model`` field and
  ``anthropic_version: vertex-2023-10-16`` in the body); any other is Gemini (publisher ``google``,
  ``:generateContent`` / ``:streamGenerateContent?alt=sse`` with the Gemini API's body). The
  translations are the Gemini and Anthropic adapters', only the URL, the payload's edges and the
  credential differ.
* A key's secret is the service account's JSON key file. The hub signs a JWT with its ``private_key``
  (RS256) and exchanges it by the JWT bearer grant (RFC 7523) at ``options.token_url`` (default
  Google's; the assertion's audience is Google's either way, as google-auth writes it) for an access
  token, cached until shortly before it expires (``access_tokens``).
* Embeddings are not served on Vertex (its ``:predict`` text-embedding API is another format): they are
  refused as the caller's request.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from urllib.parse import quote

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.errors import ErrorKind, UpstreamError
from services.gateway.adapters.access_tokens import ACCESS_TOKENS, DEFAULT_LIFETIME, exchange, json_credential
from services.gateway.adapters.anthropic import AnthropicAdapter
from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.cloud_options import DEFAULT_GOOGLE_TOKEN_URL, option
from services.gateway.adapters.gemini import GeminiAdapter
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.transport import UpstreamClient
from services.gateway.adapters.wire import JSON_CONTENT_TYPE

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ANTHROPIC_VERSION = "vertex-2023-10-16"
ACCOUNT_FIELDS = ("client_email", "private_key")
ACCOUNT_REFUSAL = "a vertex key's secret is a service account's JSON key file, with client_email and private_key"


def models_path(target: Target, publisher: str) -> str:
    project = quote(option(target.options, "project"), safe="")
    location = quote(option(target.options, "location"), safe="")
    return f"{target.base_url}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{quote(target.model, safe='@')}"


class _VertexGemini(GeminiAdapter):
    def url(self, target: Target, method: str) -> str:
        return f"{models_path(target, 'google')}:{method}"


class _VertexClaude(AnthropicAdapter):
    def url(self, target: Target, stream: bool) -> str:
        return f"{models_path(target, 'anthropic')}:{'streamRawPredict' if stream else 'rawPredict'}"

    def payload(self, body: Json, target: Target) -> Json:
        payload = super().payload(body, target)
        del payload["model"]  # the model is in the URL; Vertex refuses it in the body
        return {"anthropic_version": ANTHROPIC_VERSION, **payload}


class VertexAdapter:
    def __init__(self) -> None:
        self._gemini = _VertexGemini()
        self._claude = _VertexClaude()

    async def chat(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        headers = await vertex_headers(client, target)
        if is_claude(target.model):
            return await self._claude.chat_with(client, target, body, headers)
        return await self._gemini.chat_with(client, target, body, headers)

    async def stream_chat(
        self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally
    ) -> AsyncGenerator[list[bytes], None]:
        headers = await vertex_headers(client, target)
        publisher = self._claude if is_claude(target.model) else self._gemini
        async with aclosing(publisher.stream_with(client, target, body, tally, headers)) as events:
            async for chunks in events:
                yield chunks

    async def embed(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        refusal = "embeddings are not served on vertex providers: route them to a gemini or openai provider"
        raise UpstreamError(ErrorKind.BAD_REQUEST, refusal, status=400)


def is_claude(model: str) -> bool:
    return model.startswith("claude")


async def vertex_headers(client: UpstreamClient, target: Target) -> dict[str, str]:
    """A bearer token minted from the key's service account (cached until shortly before it expires)."""
    token_url = option(target.options, "token_url", DEFAULT_GOOGLE_TOKEN_URL)

    async def mint() -> tuple[str, float]:
        account = service_account(target.api_key)
        grant = {"grant_type": JWT_BEARER, "assertion": signed_assertion(account, time.time())}
        return await exchange(client, token_url, grant, account["private_key"])

    token = await ACCESS_TOKENS.token(f"{token_url}\n{target.api_key}", mint)
    return target.with_headers({"content-type": JSON_CONTENT_TYPE, "authorization": f"Bearer {token}"})


def service_account(secret: str) -> dict[str, str]:
    """The service account's JSON key file, checked for what the grant needs."""
    return json_credential(secret, ACCOUNT_FIELDS, ACCOUNT_REFUSAL)


def signed_assertion(account: dict[str, str], now: float) -> str:
    """The JWT of the bearer grant: the account asks for a cloud-platform token, signed RS256. Its audience
    is Google's token endpoint whatever ``token_url`` is, as google-auth writes it: a proxy in front of
    Google passes the assertion on to Google."""
    header: Json = {"alg": "RS256", "typ": "JWT"}
    if account.get("private_key_id"):
        header["kid"] = account["private_key_id"]
    issued = int(now)
    claims = {"iss": account["client_email"], "scope": SCOPE, "aud": DEFAULT_GOOGLE_TOKEN_URL,
              "iat": issued, "exp": issued + int(DEFAULT_LIFETIME)}
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}".encode()
    signature = _private_key(account["private_key"]).sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{_b64(signature)}"


def _private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UpstreamError(ErrorKind.AUTH, "the service account's private_key is not an unencrypted PEM RSA private key")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
