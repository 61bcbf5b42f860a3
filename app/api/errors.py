"""How the API answers a refused request: service errors and FastAPI's validation errors in
OpenAI's error shape (``{"error": {"message", "type", "param", "code"}}``)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

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


HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def http_error_handler(request: Request, error: Exception) -> Response:
    """starlette's and FastAPI's own refusals (no route, wrong method, body too large) in the API's error shape."""
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["allow"] = ", ".join(allowed_methods(request))
    code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
    return error_response(GatewayError(error.status_code, code, str(error.detail)), headers)


def install(api: FastAPI) -> None:
    api.add_exception_handler(HTTPException, http_error_handler)
    api.add_exception_handler(RequestError, request_error_handler)
    api.add_exception_handler(RequestValidationError, validation_error_handler)
