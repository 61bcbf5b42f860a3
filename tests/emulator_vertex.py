"""The emulator's Google Vertex AI: an OAuth 2.0 token endpoint for service accounts, and Gemini and
Claude at a project's location behind the bearer tokens it issued.

From Google's references:

* ``POST /token`` is the JWT bearer grant (RFC 7523, Google's "OAuth 2.0 for server to server
  applications"): a form with ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and an
  ``assertion``, a JWT signed RS256 whose claims are ``iss`` (the service account's e-mail), ``scope``,
  ``aud`` (Google's token URL, which google-auth writes whatever its ``token_uri``; or this
  endpoint's own), ``iat`` and ``exp`` (at most an hour later). The emulator verifies the
  signature against the public key registered for the account (``POST /_emulator/service-accounts``
  with ``client_email`` and a PEM ``public_key``; tests generate a throwaway key pair), and answers
  ``{"access_token", "expires_in": 3599, "token_type": "Bearer"}``, or ``400 invalid_grant`` with
  Google's descriptions.
* ``POST /{v1|v1beta1}/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent``
  (``:streamGenerateContent?alt=sse``) speak the Gemini API's bodies; ``publishers/anthropic/models/{model}:rawPredict``
  (``:streamRawPredict``) speak Anthropic's Messages bodies with ``anthropic_version: "vertex-2023-10-16"``
  in the body (the documented value; anthropic 2.x's client sends its API version date, also taken) and no
  ``model`` (both refused otherwise, as Vertex does). Without a token this endpoint
  issued they answer 401 ``UNAUTHENTICATED`` in Google's error shape.

A token behaves like its service account's e-mail's local part (``tool-use@….iam.gserviceaccount.com``
is a ``tool-use`` key, see ``upstream_emulator``); a model's ``@behaviour`` suffix works as usual
(Claude's ``@20250929``-style version suffixes are not behaviours and change nothing).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.upstream_emulator import AnthropicDialect, GeminiDialect, bearer, json_response

JSON = dict[str, Any]
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
ANTHROPIC_VERSION = "vertex-2023-10-16"
API_VERSION_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
"""anthropic 2.x's AnthropicVertex sends its own API version (``2026-10-21``) in the body: accepted too."""
TOKEN_LIFETIME = 3599
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid "
    "authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class VertexTokens:
    """Registered service accounts' public keys, and the tokens issued to them."""

    def __init__(self) -> None:
        self.public_keys: dict[str, rsa.RSAPublicKey] = {}
        self.issued: dict[str, str] = {}  # bearer token → the service account's e-mail

    def behaviour_key(self, request: web.Request) -> str | None:
        """The behaviour of the account the request's token was issued to; None without a known token."""
        token = bearer(request)
        email = self.issued.get(token) if token else None
        return email.partition("@")[0] if email else None

    def register(self, email: str, public_pem: str) -> None:
        key = serialization.load_pem_public_key(public_pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("a service account's key is RSA")
        self.public_keys[email] = key

    def grant(self, form: dict[str, str], token_url: str) -> tuple[int, JSON]:
        if form.get("grant_type") != JWT_BEARER or not form.get("assertion"):
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: " + form.get("grant_type", "")}
        refused = self._refusal(form["assertion"], token_url)
        if isinstance(refused, str):
            return 400, {"error": "invalid_grant", "error_description": refused}
        token = f"ya29.emulated-{secrets.token_hex(16)}"
        self.issued[token] = refused["iss"]
        return 200, {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}

    def _refusal(self, assertion: str, token_url: str) -> str | JSON:
        """The assertion's claims when it is valid, else Google's description of what is wrong."""
        try:
            header_part, claims_part, signature_part = assertion.split(".")
            header, claims = orjson.loads(_unb64(header_part)), orjson.loads(_unb64(claims_part))
            signature = _unb64(signature_part)
        except (ValueError, orjson.JSONDecodeError):
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
            return "Invalid JWT: the header's alg must be RS256."
        key = self.public_keys.get(str(claims.get("iss")))
        if key is None:
            return "Invalid grant: account not found"
        try:
            key.verify(signature, f"{header_part}.{claims_part}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return "Invalid JWT Signature."
        now = time.time()
        issued, expires = claims.get("iat"), claims.get("exp")
        if not isinstance(issued, int) or not isinstance(expires, int) or not issued - 300 <= now < expires or expires - issued > 3600:
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        if claims.get("aud") not in (GOOGLE_TOKEN_URL, token_url):
            return "Invalid JWT: Failed audience check."
        if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
            return "Invalid OAuth scope or ID token audience provided."
        return claims


VERTEX_TOKENS = VertexTokens()


def unauthenticated() -> web.Response:
    return json_response({"error": {"code": 401, "message": UNAUTHENTICATED, "status": "UNAUTHENTICATED"}}, 401)


class VertexGeminiDialect(GeminiDialect):
    name = "vertex-gemini"

    def api_key(self, request: web.Request) -> str | None:
        return VERTEX_TOKENS.behaviour_key(request)


class VertexClaudeDialect(AnthropicDialect):
    name = "vertex-claude"
    chat_required = ("messages", "anthropic_version")

    def api_key(self, request: web.Request) -> str | None:
        return VERTEX_TOKENS.behaviour_key(request)

    def refusal(self, body: JSON, model: str) -> str | None:
        if body.get("anthropic_version") != ANTHROPIC_VERSION and not API_VERSION_DATE.fullmatch(str(body.get("anthropic_version"))):
            return f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'"
        if "model" in body:
            return "model: Extra inputs are not permitted"
        return super().refusal(body, model)


VERTEX_GEMINI, VERTEX_CLAUDE = VertexGeminiDialect(), VertexClaudeDialect()
GEMINI_METHODS = {"generateContent": False, "streamGenerateContent": True}
CLAUDE_METHODS = {"rawPredict": False, "streamRawPredict": True}


def token_url_of(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{request.path}"


async def form_of(request: web.Request) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs((await request.read()).decode()).items()}


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def throwaway_service_account(email: str, register_at: str | None = None, project: str = "hub-project") -> JSON:
    """A service account's JSON key file with a new RSA key pair; its public key registered with the
    emulator at ``register_at`` (an emulator's base URL) when given."""
    import httpx

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    if register_at is not None:
        httpx.post(f"{register_at}/_emulator/service-accounts", json={"client_email": email, "public_key": public_pem}).raise_for_status()
    return {
        "type": "service_account", "project_id": project, "private_key_id": secrets.token_hex(20), "private_key": private_pem,
        "client_email": email, "client_id": str(secrets.randbelow(10**20)), "token_uri": "https://oauth2.googleapis.com/token",
    }
