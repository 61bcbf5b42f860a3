"""Provider adapters: one stateless instance per wire format, looked up by provider kind.

Base URL conventions (``resolve_base_url`` returns them without a trailing slash):

* ``openai`` / ``openai_compatible``: includes ``/v1``; calls ``{base}/chat/completions``.
* ``anthropic``: no version; calls ``{base}/v1/messages``.
* ``gemini``: no version (``/v1beta`` is added) unless it already ends in one; calls
  ``{base}/v1beta/models/{model}:generateContent``.
* ``ollama``: the server root; calls ``{base}/api/chat``.
* ``azure``: the resource's host (required); calls
  ``{base}/openai/deployments/{deployment}/chat/completions?api-version=…``.
* ``bedrock``: the host, by default ``bedrock-runtime.{options.region}.amazonaws.com``
  (``cloud_options``); calls ``{base}/model/{model}/converse`` and ``/converse-stream``.
* ``vertex``: the host, by default ``{options.location}-aiplatform.googleapis.com``; calls
  ``{base}/v1/projects/{project}/locations/{location}/publishers/{google|anthropic}/models/{model}:…``.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.gateway.adapters.anthropic import AnthropicAdapter
from services.gateway.adapters.azure import AzureAdapter
from services.gateway.adapters.base import Adapter
from services.gateway.adapters.bedrock import BedrockAdapter
from services.gateway.adapters.cloud_options import cloud_base_url
from services.gateway.adapters.gemini import GeminiAdapter
from services.gateway.adapters.ollama import OllamaAdapter
from services.gateway.adapters.openai import OpenAIAdapter
from services.gateway.adapters.vertex import VertexAdapter

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "ollama": "http://127.0.0.1:11434",
}

_OPENAI = OpenAIAdapter()
ADAPTERS: dict[str, Adapter] = {
    "openai": _OPENAI,
    "openai_compatible": _OPENAI,
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "ollama": OllamaAdapter(),
    "azure": AzureAdapter(),
    "bedrock": BedrockAdapter(),
    "vertex": VertexAdapter(),
}


def get_adapter(kind: str) -> Adapter:
    try:
        return ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"unknown provider kind {kind!r}; expected one of {', '.join(ADAPTERS)}") from None


def resolve_base_url(kind: str, base_url: str | None, options: Mapping[str, str] | None = None) -> str:
    """The configured base URL, else the kind's default; ``""`` for ``openai_compatible`` and ``azure``
    without one (the catalog refuses to save that, and a call to it fails as a connection error)."""
    return (base_url or DEFAULT_BASE_URLS.get(kind) or cloud_base_url(kind, options)).rstrip("/")


__all__ = ["ADAPTERS", "DEFAULT_BASE_URLS", "get_adapter", "resolve_base_url"]
