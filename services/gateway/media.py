"""Image generation, transcription and speech (OpenAI's ``/v1/images/generations``,
``/v1/audio/transcriptions`` and ``/v1/audio/speech``) through the gateway: admitted, routed with
failover and metered like a chat call, and relayed to the route's upstream as the client sent them
(only ``model`` is the route's).

Only providers that speak OpenAI's format serve them (``openai``, ``openai_compatible``, ``azure``:
the adapters with a ``media`` relay); a route of another kind refuses the call as the caller's 400,
naming the kind. Each call is priced by what it made or read (``MediaUnits``): the images in the
answer, the seconds of audio (the answer's ``usage.seconds`` or ``duration``, else a WAV file's own
length, else unknown), the characters to speak. A transcription's file is at most
``MAX_AUDIO_BYTES`` (OpenAI's limit); streamed transcriptions are not relayed.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from services.accounts.tokens import Principal
from services.errors import ErrorKind, GatewayError, UpstreamError
from services.gateway.adapters.base import Adapter, Json, Target
from services.gateway.adapters.media import AudioFile, MediaRequest
from services.gateway.adapters.openai import OpenAIAdapter
from services.gateway.adapters.wire import parse_answer
from services.gateway.pricing import MediaUnits
from services.gateway.validation import Check, count_at_least, invalid, number_between, of_type, validate_fields

if TYPE_CHECKING:
    from services.gateway.calls import CallMeta, Gateway

MAX_AUDIO_BYTES = 25 * 1024 * 1024
MAX_SPEECH_CHARACTERS = 4096
MAX_IMAGE_PROMPT = 32_000
TEXT = of_type(str, "a string")


def one_of(*choices: str) -> Check:
    return lambda value: None if value in choices else "must be one of " + ", ".join(choices)


def _text_up_to(limit: int) -> Check:
    return lambda value: None if isinstance(value, str) and 0 < len(value) <= limit else f"must be a string of 1 to {limit} characters"


def _voice(value: Any) -> str | None:
    return None if isinstance(value, str | dict) else "must be a voice name or an object with its id"


IMAGE_RULES: dict[str, Check] = {
    "prompt": _text_up_to(MAX_IMAGE_PROMPT), "n": count_at_least(1), "size": TEXT, "quality": TEXT, "style": TEXT,
    "response_format": one_of("url", "b64_json"), "user": TEXT,
}
SPEECH_RULES: dict[str, Check] = {
    "input": _text_up_to(MAX_SPEECH_CHARACTERS), "voice": _voice,
    "response_format": one_of("mp3", "opus", "aac", "flac", "wav", "pcm"), "speed": number_between(0.25, 4.0), "instructions": TEXT,
}
TRANSCRIPTION_RULES: dict[str, Check] = {
    "response_format": one_of("json", "text", "srt", "verbose_json", "vtt"), "stream": one_of("false"),
}


@dataclass(frozen=True, slots=True)
class MediaAnswer:
    content: bytes = field(repr=False)
    content_type: str


async def generate_images(gateway: Gateway, principal: Principal, body: Any, request_id: str | None = None) -> tuple[Json, CallMeta]:
    model = validate_fields(body, ("prompt",), IMAGE_RULES, gateway.limits)
    request = MediaRequest("images/generations", _fields(body))
    meta = _begin(gateway, principal, body, model, "images.generations", len(body["prompt"]), request_id)
    relay = _relay(gateway, request, "image generation")

    async def call(adapter: Adapter, target: Target) -> Json:
        answer = parse_answer((await relay(adapter, target)).content)  # bad JSON fails the attempt, not the hub
        if not isinstance(answer, dict):
            raise UpstreamError(ErrorKind.UPSTREAM_5XX, "the upstream answered an image request with something other than an object")
        return answer

    images = await gateway._execute(meta, call)
    count = len(images.get("data") or ())
    logged = {**images, "data": f"[{count} images]"} if meta.logged_request is not None else None
    gateway._record(meta, media=MediaUnits(images=count), logged_response=logged)
    return images, meta


async def speak(gateway: Gateway, principal: Principal, body: Any, request_id: str | None = None) -> tuple[MediaAnswer, CallMeta]:
    model = validate_fields(body, ("input", "voice"), SPEECH_RULES, gateway.limits)
    meta = _begin(gateway, principal, body, model, "audio.speech", len(body["input"]), request_id)
    answer = await gateway._execute(meta, _relay(gateway, MediaRequest("audio/speech", _fields(body)), "speech"))
    logged = {"content_type": answer.content_type, "bytes": len(answer.content)} if meta.logged_request is not None else None
    gateway._record(meta, media=MediaUnits(characters=len(body["input"])), logged_response=logged)
    return answer, meta


async def transcribe(gateway: Gateway, principal: Principal, form: dict[str, str], file: AudioFile,
                     request_id: str | None = None) -> tuple[MediaAnswer, CallMeta]:
    model = validate_fields(form, (), TRANSCRIPTION_RULES, gateway.limits)
    if not file.content:
        raise invalid("file", "must be a non-empty audio file")
    if len(file.content) > MAX_AUDIO_BYTES:
        raise GatewayError(413, "request_too_large", f"The audio file is larger than {MAX_AUDIO_BYTES // (1024 * 1024)} MB.", param="file")
    described = {**form, "file": {"filename": file.filename, "bytes": len(file.content)}}
    meta = _begin(gateway, principal, described, model, "audio.transcriptions", 0, request_id)
    request = MediaRequest("audio/transcriptions", _fields(form), file)
    answer = await gateway._execute(meta, _relay(gateway, request, "transcription"))
    seconds = answer_seconds(answer) or wav_seconds(file.content)
    logged = {"content_type": answer.content_type, "text": answer.content.decode("utf-8", "replace")} if meta.logged_request else None
    gateway._record(meta, media=MediaUnits(seconds=seconds), logged_response=logged)
    return answer, meta


def _fields(body: Json) -> Json:
    return {name: value for name, value in body.items() if name not in ("model", "tags", "metadata")}


def _begin(gateway: Gateway, principal: Principal, body: Json, model: str, endpoint: str, chars: int, request_id: str | None) -> CallMeta:
    return gateway._begin(principal, body, model, source="api", endpoint=endpoint, stream=False, request_id=request_id,
                          prompt_chars=lambda _: chars)


def _relay(gateway: Gateway, request: MediaRequest, what: str) -> Callable[[Adapter, Target], Awaitable[MediaAnswer]]:
    async def call(adapter: Adapter, target: Target) -> MediaAnswer:
        if not isinstance(adapter, OpenAIAdapter):
            raise UpstreamError(ErrorKind.BAD_REQUEST, f"{what} is not served on {target.kind} providers: route this model to an "
                                "openai, openai_compatible or azure provider", status=400)
        content, content_type = await adapter.media(gateway.router.client, target, request)
        return MediaAnswer(content, content_type)

    return call


def answer_seconds(answer: MediaAnswer) -> float | None:
    """The audio's length as a transcription answer states it (``usage.seconds``, or verbose JSON's ``duration``)."""
    if not answer.content_type.startswith("application/json"):
        return None
    try:
        parsed = orjson.loads(answer.content)
    except orjson.JSONDecodeError:
        return None
    usage = parsed.get("usage") if isinstance(parsed, dict) else None
    stated = (usage or {}).get("seconds") if isinstance(usage, dict) else None
    stated = stated if stated is not None else parsed.get("duration") if isinstance(parsed, dict) else None
    return float(stated) if isinstance(stated, int | float) and not isinstance(stated, bool) else None


def wav_seconds(content: bytes) -> float | None:
    """A WAV file's length from its header (the standard library reads it); None for other formats."""
    try:
        with wave.open(io.BytesIO(content)) as audio:
            frames, rate = int(audio.getnframes()), int(audio.getframerate())
    except (wave.Error, EOFError):
        return None
    return frames / rate if rate else None
