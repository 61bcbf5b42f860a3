"""The OpenAPI document, made true to what the server answers (issue #16, finding 13).

FastAPI documents a 422 with its own ``HTTPValidationError`` body for every operation; this API answers
a refused request with 400 (and 401, 403, 404, 409, 413, 429 as the case may be) in OpenAI's error
shape (``app.api.errors``), and the gateway's ``/v1`` calls also with 502/503/504 when no upstream
could answer. Those answers are listed on every operation here, with the one error schema; answers
that are not JSON (the config as YAML, usage exports as CSV, metrics as text) name their media types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "code"],
        "properties": {
            "message": {"type": "string"}, "type": {"type": "string"},
            "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]},
        },
    }},
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ANTHROPIC_ERROR_SCHEMA = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {"type": {"type": "string"}, "error": {
        "type": "object", "required": ["type", "message"], "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
    }},
}
ANTHROPIC_ERROR_REF = {"$ref": "#/components/schemas/AnthropicError"}
"""The Messages API (``/v1/messages``…) answers refusals in Anthropic's shape, as Anthropic's clients expect."""
REFUSALS = {
    "400": "The request is invalid; `param` names the field",
    "401": "No valid token",
    "403": "The token may not do this",
    "404": "No such item, or an id out of range",
    "409": "It conflicts with what exists",
    "413": "The body is larger than LLMHUB_MAX_BODY_BYTES",
    "429": "A rate limit or budget is reached",
}
UPSTREAM_FAILURES = {"502": "No upstream could answer", "503": "The hub is shutting down", "504": "The upstream timed out"}
MEDIA_TYPES = {  # path → the media types its 200 answers in, besides or instead of JSON
    "/api/config/export": {"application/yaml": {"schema": {"type": "object"}}},
    "/api/usage/export": {"text/csv": {"schema": {"type": "string"}}, "application/json": {"schema": {}}},
    "/metrics": {"text/plain": {"schema": {"type": "string"}}},
    "/v1/audio/speech": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in (
        "audio/mpeg", "audio/ogg", "audio/aac", "audio/flac", "audio/wav", "audio/pcm", "application/octet-stream")},
    "/v1/audio/transcriptions": {"application/json": {"schema": {"type": "object"}}, "text/plain": {"schema": {"type": "string"}}},
}


def true_to_the_server(schema: dict[str, Any]) -> dict[str, Any]:
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    schema["components"]["schemas"]["AnthropicError"] = ANTHROPIC_ERROR_SCHEMA
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            failures = REFUSALS | (UPSTREAM_FAILURES if path.startswith("/v1/") else {})
            error = ANTHROPIC_ERROR_REF if path.startswith("/v1/messages") else ERROR_REF
            for status, description in failures.items():
                responses.setdefault(status, {"description": description, "content": {"application/json": {"schema": error}}})
            if path in MEDIA_TYPES and "200" in responses:
                responses["200"]["content"] = MEDIA_TYPES[path]
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(name, None)
    return schema


def install(api: FastAPI) -> None:
    """``api.openapi()`` answers the corrected document (built once, as FastAPI's own is)."""
    build: Callable[[], dict[str, Any]] = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = true_to_the_server(build())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
