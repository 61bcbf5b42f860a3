"""The gateway's image and audio endpoints: ``POST /v1/images/generations``, ``/v1/audio/transcriptions``
(a multipart upload) and ``/v1/audio/speech`` (a binary answer), handed to ``services.gateway.media``.

They are FastAPI routes, not on the raw fast path: they are rare and slow next to a chat call, and a
multipart body wants the framework's form parser (python-multipart). The body limit lets a
transcription's form reach ``MAX_AUDIO_BYTES`` (``app.api.body_limit``).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from app.api.deps import HubDep, PrincipalDep
from app.api.v1 import GatewayAnswer, meta_headers, parse_json
from services.errors import GatewayError
from services.gateway.adapters.media import AudioFile
from services.gateway.calls import CallMeta
from services.gateway.media import MAX_AUDIO_BYTES, generate_images, speak, transcribe

router = APIRouter(prefix="/v1", tags=["gateway"])
FORM_FIELDS = 50
FORM_FIELD_BYTES = 64 * 1024


def json_body(*required: str) -> dict[str, Any]:
    schema = {"type": "object", "required": ["model", *required]}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


TRANSCRIPTION_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["model", "file"],
    "properties": {"model": {"type": "string"}, "file": {"type": "string", "format": "binary"},
                   "language": {"type": "string"}, "prompt": {"type": "string"},
                   "response_format": {"type": "string", "enum": ["json", "text", "srt", "verbose_json", "vtt"]}},
}}}}}


@router.post("/images/generations", openapi_extra=json_body("prompt"), summary="Create images (OpenAI-compatible)")
async def images_generations(request: Request, hub: HubDep, principal: PrincipalDep) -> Response:
    images, meta = await generate_images(hub.gateway, principal, parse_json(await request.body()), request.state.request_id)
    return GatewayAnswer(orjson.dumps(images), meta_headers(meta))


@router.post("/audio/speech", openapi_extra=json_body("input", "voice"), summary="Create speech audio from text (OpenAI-compatible)",
             responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def audio_speech(request: Request, hub: HubDep, principal: PrincipalDep) -> Response:
    answer, meta = await speak(hub.gateway, principal, parse_json(await request.body()), request.state.request_id)
    return Response(answer.content, media_type=answer.content_type, headers=_headers(meta))


@router.post("/audio/transcriptions", openapi_extra=TRANSCRIPTION_BODY, summary="Transcribe audio (OpenAI-compatible, multipart)")
async def audio_transcriptions(request: Request, hub: HubDep, principal: PrincipalDep) -> Response:
    fields, file = await _read_form(request)
    answer, meta = await transcribe(hub.gateway, principal, fields, file, request.state.request_id)
    return Response(answer.content, media_type=answer.content_type, headers=_headers(meta))


async def _read_form(request: Request) -> tuple[dict[str, str], AudioFile]:
    """The form's text fields and its one audio file; a 400 in OpenAI's shape for anything else."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise GatewayError(400, "invalid_request", "A transcription is a multipart/form-data upload with `file` and `model`.")
    try:
        form = await request.form(max_files=1, max_fields=FORM_FIELDS, max_part_size=FORM_FIELD_BYTES)
    except (HTTPException, MultiPartException, ValueError) as error:
        detail = error.detail if isinstance(error, HTTPException) else str(error)
        raise GatewayError(400, "invalid_request", f"The multipart form could not be read: {detail}.") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise GatewayError(400, "invalid_value", "Invalid value for `file`: is required (an audio file).", param="file")
    content = await upload.read(MAX_AUDIO_BYTES + 1)
    fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
    return fields, AudioFile(upload.filename or "audio", content, upload.content_type or "application/octet-stream")


def _headers(meta: CallMeta) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in meta_headers(meta)}
