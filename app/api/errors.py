"""How the API answers a refused request: service errors, FastAPI's validation errors and starlette's
unknown path / wrong method in OpenAI's error shape (``{"error": {"message", "type", "param", "code"}}``).

An unknown path must not answer FastAPI's ``{"detail": "Not Found"}``: clients read that as a
missing model or retry it (Codex retried five times, Claude Code blamed the model)."""

from __future__ import annotations

import re
from functools import lru_cache

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
    if any(item["loc"][:1] == ("path",) for item in error.errors()):
        return error_response(GatewayError(404, "not_found", "There is no such item: an id in the path is out of range."))
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


HTTP_ERROR_CODES = {404: "unknown_url", 405: "method_not_allowed", 413: "request_too_large"}


def allowed_methods(request: Request) -> list[str]:
    """Every method the API's spec lists at the request's path (starlette's 405 names only one route's)."""
    path = request.url.path
    for template, operations in request.app.openapi()["paths"].items():
        if _template_pattern(template).fullmatch(path):
            return sorted(method.upper() for method in operations)
    return []


@lru_cache(maxsize=512)
def _template_pattern(template: str) -> re.Pattern[str]:
    """``/api/keys/{key_id}`` as a pattern matching its paths."""
    return re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template)))


def http_error_handler(request: Request, error: Exception) -> Response:
    """starlette's and FastAPI's own refusals (no route, wrong method, body too large) in the API's error
    shape, worded as OpenAI words them (``unknown_url``)."""
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})
    where = f"{request.method} {request.url.path}"
    message = str(error.detail)
    if error.status_code == 405:
        allowed = ", ".join(allowed_methods(request))
        headers = {"allow": allowed}
        message = f"Invalid method for URL ({where}); allowed: {allowed}."
    elif error.status_code == 404:
        message = f"Invalid URL ({where})."
    code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
    return error_response(GatewayError(error.status_code, code, message), headers)


def install(api: FastAPI) -> None:
    api.add_exception_handler(HTTPException, http_error_handler)
    api.add_exception_handler(RequestError, request_error_handler)
    api.add_exception_handler(RequestValidationError, validation_error_handler)
