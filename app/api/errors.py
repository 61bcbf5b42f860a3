"""How the API answers a refused request: service errors and FastAPI's validation errors in
OpenAI's error shape (``{"error": {"message", "type", "param", "code"}}``)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

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


def install(api: FastAPI) -> None:
    api.add_exception_handler(RequestError, request_error_handler)
    api.add_exception_handler(RequestValidationError, validation_error_handler)
