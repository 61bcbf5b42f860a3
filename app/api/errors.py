"""How the API answers a refused request: service errors, FastAPI's validation errors and starlette's
unknown path / wrong method in OpenAI's error shape (``{"error": {"message", "type", "param", "code"}}``).

An unknown path must not answer FastAPI's ``{"detail": "Not Found"}``: clients read that as a
missing model or retry it (Codex retried five times, Claude Code blamed the model)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from app.api.deps import error_response
from services.catalog.inputs import clean_message, field_path
from services.errors import GatewayError, RequestError


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


def http_error_handler(request: Request, error: Exception) -> Response:
    """Starlette's 404 and 405 (with its ``Allow`` header kept) as OpenAI answers them: ``unknown_url``."""
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        allowed = headers.get("Allow", "")
        message = f"Invalid method for URL ({request.method} {request.url.path}); allowed: {allowed}."
        return error_response(GatewayError(405, "method_not_allowed", message), headers)
    if error.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})."
        return error_response(GatewayError(404, "unknown_url", message), headers)
    return error_response(GatewayError(error.status_code, "http_error", str(error.detail)), headers)


def install(api: FastAPI) -> None:
    api.add_exception_handler(HTTPException, http_error_handler)
    api.add_exception_handler(RequestError, request_error_handler)
    api.add_exception_handler(RequestValidationError, validation_error_handler)
