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
* Embeddings are Google's text embedding models' ``:predict`` (``instances`` of ``content``, answered as
  ``predictions[].embeddings`` with ``values`` and ``statistics.token_count``); Claude has none.
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
from services.gateway.adapters.shapes import embedding_inputs, embedding_list, embedding_usage
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.transport import UpstreamClient
from services.gateway.adapters.wire import JSON_CONTENT_TYPE, post_json

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
        """Google's text embedding models by ``:predict`` (one instance per input), as google-genai calls them on Vertex."""
        if is_claude(target.model):
            raise UpstreamError(ErrorKind.BAD_REQUEST, "Claude on Vertex has no embeddings: route them to an embedding model", status=400)
        inputs = embedding_inputs(body)
        payload: Json = {"instances": [{"content": text} for text in inputs]}
        if body.get("dimensions"):
            payload["parameters"] = {"outputDimensionality": body["dimensions"]}
        url = f"{models_path(target, 'google')}:predict"
        answer = await post_json(client, url, await vertex_headers(client, target), payload, target.api_key, target.timeout)
        embeddings = [p.get("embeddings") or {} for p in answer.get("predictions") or () if isinstance(p, dict)]
        counted = [n for e in embeddings if isinstance(n := (e.get("statistics") or {}).get("token_count"), int)]
        tokens = sum(counted) if counted and len(counted) == len(embeddings) else None
        return embedding_list([e.get("values") or [] for e in embeddings], target.model, embedding_usage(tokens, inputs),
                              body.get("encoding_format"))


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
