"""The emulator's OpenAI image and audio endpoints (from OpenAI's API reference).

* ``POST /v1/images/generations``: JSON ``model``, ``prompt`` (required), ``n``, ``size``,
  ``response_format`` (``url`` default, ``b64_json``). ``gpt-image-*`` models always answer
  ``b64_json`` with token ``usage``; ``dall-e-3`` takes only ``n: 1``. The image is a tiny PNG.
* ``POST /v1/audio/speech``: JSON ``model``, ``input``, ``voice`` (required), ``response_format``
  (``mp3`` default); the answer is the audio's bytes with its content type. ``wav`` is a real WAV of
  silence, 0.4 s a word (24 kHz, 16-bit mono); the other formats are stand-in bytes of that length.
* ``POST /v1/audio/transcriptions``: a multipart form with ``file`` and ``model`` (required),
  ``response_format`` (``json`` default, ``text``, ``srt``, ``vtt``, ``verbose_json`` — whisper-1
  only). The "transcript" is ``Echo: `` and the form's ``prompt`` (else the file's name); a WAV
  file's length comes from its header, any other file counts 16 000 bytes a second. ``json`` carries
  ``usage``: ``{"type": "duration", "seconds"}`` for whisper-1, token counts for the gpt-4o models.

The key picks the behaviour as for chat (``upstream_emulator``); the model's ``@behaviour`` suffix too.
"""

from __future__ import annotations

import base64
import io
import math
import time
import wave
from typing import TYPE_CHECKING

from aiohttp import web

from tests.upstream_emulator import OPENAI, Admitted, bearer, count_words, error_response, json_response

if TYPE_CHECKING:
    from tests.upstream_emulator import Emulator

PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
SPEECH_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}
SECONDS_PER_WORD = 0.4
SPEECH_RATE = 24_000
BYTES_PER_SECOND = 16_000


def silence_wav(seconds: float, rate: int = SPEECH_RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


def audio_seconds(content: bytes) -> float:
    try:
        with wave.open(io.BytesIO(content)) as audio:
            return audio.getnframes() / audio.getframerate()
    except (wave.Error, EOFError):
        return len(content) / BYTES_PER_SECOND


class MediaEndpoints:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/images/generations", self.images),
            web.post("/v1/audio/speech", self.speech),
            web.post("/v1/audio/transcriptions", self.transcriptions),
        ]

    async def images(self, request: web.Request) -> web.StreamResponse:
        admitted = await self.emulator._admit(request, OPENAI, ("model", "prompt"))
        if not isinstance(admitted, Admitted):
            return admitted
        body, model = admitted.body, str(admitted.body["model"])
        count = body.get("n") or 1
        if model.startswith("dall-e-3") and count != 1:
            return error_response(OPENAI, "bad-request", message="You must provide n=1 for this model.")
        await admitted.pause()
        native = model.startswith("gpt-image")
        if native or body.get("response_format") == "b64_json":
            data = [{"b64_json": base64.b64encode(PIXEL_PNG).decode()} for _ in range(count)]
        else:
            data = [{"url": f"http://{request.host}/_emulator/images/{number}.png"} for number in range(count)]
        answer: dict[str, object] = {"created": int(time.time()), "data": data}
        if native:
            prompt = count_words(str(body["prompt"]))
            answer["usage"] = {"input_tokens": prompt, "output_tokens": 272 * count, "total_tokens": prompt + 272 * count,
                               "input_tokens_details": {"text_tokens": prompt, "image_tokens": 0}}
        return json_response(answer)

    async def speech(self, request: web.Request) -> web.StreamResponse:
        admitted = await self.emulator._admit(request, OPENAI, ("model", "input", "voice"))
        if not isinstance(admitted, Admitted):
            return admitted
        kind = str(admitted.body.get("response_format") or "mp3")
        if kind not in SPEECH_TYPES:
            return error_response(OPENAI, "bad-request", message=f"Invalid response_format '{kind}'.")
        await admitted.pause()
        seconds = max(count_words(str(admitted.body["input"])), 1) * SECONDS_PER_WORD
        audio = silence_wav(seconds) if kind == "wav" else kind.encode() * int(seconds * BYTES_PER_SECOND / len(kind))
        return web.Response(body=audio, content_type=SPEECH_TYPES[kind])

    async def transcriptions(self, request: web.Request) -> web.StreamResponse:
        key = bearer(request)
        form = await request.post()
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        self.emulator._record(request, OPENAI.name, key, fields)
        failure = await self.emulator._failure(request, OPENAI, self.emulator._behaviour_for(key, fields.get("model")), False)
        if failure is not None:
            return failure
        upload = form.get("file")
        if not fields.get("model") or not isinstance(upload, web.FileField):
            return error_response(OPENAI, "bad-request", message="Missing required parameter: 'file' and 'model' are required.")
        return self._transcript(fields, upload.filename, audio_seconds(upload.file.read()))

    @staticmethod
    def _transcript(fields: dict[str, str], filename: str, seconds: float) -> web.Response:
        model, kind = fields["model"], fields.get("response_format") or "json"
        text = "Echo: " + (fields.get("prompt") or filename)
        if kind == "verbose_json" and not model.startswith("whisper"):
            return error_response(OPENAI, "bad-request", message=f"response_format 'verbose_json' is not compatible with model '{model}'.")
        if kind in ("text", "srt", "vtt"):
            cue = f"00:00:00,000 --> 00:00:{min(seconds, 59):06.3f}".replace(".", ",")
            body = {"text": text, "srt": f"1\n{cue}\n{text}\n", "vtt": f"WEBVTT\n\n{cue.replace(',', '.')}\n{text}\n"}[kind]
            return web.Response(text=body + "\n", content_type="text/plain")
        if kind == "verbose_json":
            segment = {"id": 0, "seek": 0, "start": 0.0, "end": seconds, "text": text, "tokens": [], "temperature": 0.0,
                       "avg_logprob": -0.2, "compression_ratio": 1.0, "no_speech_prob": 0.01}
            return json_response({"task": "transcribe", "language": "english", "duration": seconds, "text": text, "segments": [segment]})
        if model.startswith("whisper"):
            usage: dict[str, object] = {"type": "duration", "seconds": math.ceil(seconds)}
        else:
            words = count_words(text)
            usage = {"type": "tokens", "input_tokens": math.ceil(seconds * 10), "output_tokens": words,
                     "total_tokens": math.ceil(seconds * 10) + words}
        return json_response({"text": text, "usage": usage})
