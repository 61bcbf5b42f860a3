"""Bearer tokens the cloud kinds mint from a key's credential (Entra ID, Google service accounts).

A token is minted on a provider's first call with a key and reused until shortly before it expires,
so the request path makes no extra round trip once it is warm; concurrent first calls wait for one
mint instead of each making their own. Tokens are kept by a hash of what minted them, never by the
credential itself. A token endpoint that refuses the credential makes the key's failure ``AUTH``
(the key is invalid until fixed), whatever status it answered with.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import httpx
import orjson

from services.errors import ErrorKind, UpstreamError
from services.gateway.adapters.errors import classify_response, transport_error
from services.gateway.adapters.shapes import Json
from services.gateway.adapters.transport import UpstreamClient

REFRESH_MARGIN = 60.0
"""Seconds before its expiry a token is replaced, so none expires on its way to the provider."""
DEFAULT_LIFETIME = 3600.0

Mint = Callable[[], Awaitable[tuple[str, float]]]
"""Makes a new token: (token, seconds it lives)."""


class AccessTokens:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def token(self, credential: str, mint: Mint) -> str:
        """The live token minted from ``credential`` (a secret plus where it is exchanged), else a new one."""
        key = hashlib.sha256(credential.encode()).hexdigest()
        if (live := self._live(key)) is not None:
            return live
        async with self._locks.setdefault(key, asyncio.Lock()):
            if (live := self._live(key)) is not None:
                return live
            token, lifetime = await mint()
            self._tokens[key] = (token, self._clock() + max(lifetime - REFRESH_MARGIN, 0.0))
            return token

    def _live(self, key: str) -> str | None:
        cached = self._tokens.get(key)
        return cached[0] if cached is not None and cached[1] > self._clock() else None


ACCESS_TOKENS = AccessTokens()
"""The process's tokens: shared by every adapter call, like the upstream client."""


def json_credential(secret: str, required: tuple[str, ...], refusal: str) -> dict[str, str]:
    """A credential kept as a JSON object (an Entra ID app, a service account's key file), with each of
    ``required`` a non-empty string; else the key's ``AUTH`` failure saying ``refusal``."""
    try:
        fields = orjson.loads(secret)
    except orjson.JSONDecodeError:
        fields = None
    if not isinstance(fields, dict) or not all(isinstance(fields.get(name), str) and fields[name] for name in required):
        raise UpstreamError(ErrorKind.AUTH, refusal)
    return fields


async def exchange(client: UpstreamClient, url: str, fields: dict[str, str], secret: str) -> tuple[str, float]:
    """POST an OAuth 2.0 token request (form-encoded) and read ``access_token`` and ``expires_in``."""
    headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
    try:
        async with client.open(url, headers, urlencode(fields).encode()) as response:
            content = await response.aread()
    except httpx.HTTPError as exc:
        raise transport_error(exc, secret) from None
    if not response.is_success:
        refused = classify_response(response.status_code, content, response.headers, secret)
        raise UpstreamError(ErrorKind.AUTH, f"the token endpoint refused the credential: {refused.message}", status=response.status_code)
    try:
        answer: Json = orjson.loads(content)
        return str(answer["access_token"]), float(answer.get("expires_in") or DEFAULT_LIFETIME)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise UpstreamError(ErrorKind.AUTH, "the token endpoint answered without an access_token", status=response.status_code) from None
