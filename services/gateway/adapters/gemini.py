"""Gemini API (``generativelanguage.googleapis.com``) ⇄ OpenAI chat completions and embeddings.

The base URL carries no version; this adapter adds ``/v1beta``. google-genai 3.x defaults to
``v1``, but ``v1beta`` is the superset every Gemini model is served on and the version whose
reference documents ``systemInstruction``, ``responseMimeType``/``responseJsonSchema`` and
``parametersJsonSchema`` together. A base URL that already ends in a version segment (``…/v1``)
is used as it is.

Gemini 3 puts a ``thoughtSignature`` beside each ``functionCall`` and refuses the next turn unless the
replayed call carries it. OpenAI's tool calls have no room for it but their ``id``, which every client
sends back as it got it: the signature rides there (``call_…__thought__<signature>``) and is put back
on the part. A call that never had one (it came from another provider) gets Google's documented
placeholder. ``reasoning_effort`` becomes ``thinkingConfig``: a level on Gemini 3, a budget before.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import AsyncGenerator
from functools import lru_cache
from typing import Any

import orjson

from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.shapes import (
    ChunkMaker,
    completion_response,
    content_parts,
    dump_arguments,
    embedding_inputs,
    embedding_list,
    embedding_usage,
    image_url_of,
    make_usage,
    merge_consecutive,
    message_choice,
    new_id,
    parse_arguments,
    parse_data_url,
    stop_list,
    text_of,
    tool_call,
    tool_names_by_id,
)
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.translated import translated_stream
from services.gateway.adapters.transport import UpstreamClient
from services.gateway.adapters.wire import JSON_CONTENT_TYPE, post_json
from services.gateway.long_requests import is_long, prepared

DEFAULT_API_VERSION = "v1beta"
VERSION_SEGMENT = re.compile(r"/v\d+(?:alpha|beta)?\d*$")
# OpenAI name → generationConfig name, copied as they are.
GENERATION_FIELDS = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("n", "candidateCount"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)
FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "MODEL_ARMOR",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
TOOL_CHOICE_MODES = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
SIGNATURE_MARK = "__thought__"
"""Between a tool call's own id and the ``thoughtSignature`` carried in it."""
UNSIGNED_CALL = "skip_thought_signature_validator"
"""Google's placeholder signature for a function call the model did not make (history from elsewhere)."""
THINKING_LEVELS = {"none": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high", "xhigh": "high"}
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}


@lru_cache(maxsize=256)
def api_root(base_url: str) -> str:
    return base_url if VERSION_SEGMENT.search(base_url) else f"{base_url}/{DEFAULT_API_VERSION}"


def _url(target: Target, method: str) -> str:
    return f"{api_root(target.base_url)}/models/{target.model.removeprefix('models/')}:{method}"


def _headers(target: Target) -> dict[str, str]:
    return target.with_headers({"content-type": JSON_CONTENT_TYPE, "x-goog-api-key": target.api_key})


# --- request ---------------------------------------------------------------------------------------


def build_request(body: Json, model: str = "") -> Json:
    """The ``generateContent`` body for an OpenAI chat-completions body."""
    messages = body.get("messages", ())
    names = tool_names_by_id(messages) if any(m.get("role") == "tool" for m in messages) else {}
    system: list[str] = []
    contents: list[Json] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text_of(message.get("content")))
        elif role == "assistant":
            contents.append({"role": "model", "parts": _model_parts(message)})
        elif role == "tool":
            contents.append({"role": "user", "parts": [_function_response(message, names)]})
        else:
            contents.append({"role": "user", "parts": _user_parts(message.get("content")) or [{"text": ""}]})
    payload: Json = {"contents": merge_consecutive(contents, "role", "parts")}
    if system:
        payload["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if config := _generation_config(body, model):
        payload["generationConfig"] = config
    if body.get("tools"):
        payload["tools"] = [{"functionDeclarations": [_declaration(t["function"]) for t in body["tools"] if t.get("type") == "function"]}]
        if tool_config := _tool_config(body.get("tool_choice")):
            payload["toolConfig"] = tool_config
    return payload


def _user_parts(content: Any) -> list[Json]:
    parts: list[Json] = []
    for part in content_parts(content):
        kind = part.get("type")
        if kind == "text" and part.get("text"):
            parts.append({"text": part["text"]})
        elif kind == "image_url":
            parts.append(_image_part(image_url_of(part)))
    return parts


def _image_part(url: str) -> Json:
    inline = parse_data_url(url)
    if inline is None:
        return {"fileData": {"mimeType": mimetypes.guess_type(url)[0] or "image/jpeg", "fileUri": url}}
    return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}


def _model_parts(message: Json) -> list[Json]:
    parts = _user_parts(message.get("content"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        signature = str(call.get("id") or "").partition(SIGNATURE_MARK)[2]
        parts.append({"functionCall": {"name": function.get("name", ""), "args": parse_arguments(function.get("arguments"))},
                      "thoughtSignature": signature or UNSIGNED_CALL})
    return parts or [{"text": ""}]


def _function_response(message: Json, names: dict[str, str]) -> Json:
    text = text_of(message.get("content"))
    try:
        result = orjson.loads(text)
    except orjson.JSONDecodeError:
        result = None
    response = result if isinstance(result, dict) else {"content": text}
    return {"functionResponse": {"name": names.get(message.get("tool_call_id", ""), ""), "response": response}}


def _generation_config(body: Json, model: str) -> Json:
    config = {gemini: body[openai] for openai, gemini in GENERATION_FIELDS if body.get(openai) is not None}
    if (effort := body.get("reasoning_effort")) in THINKING_BUDGETS:
        gemini_3 = "gemini-3" in model
        config["thinkingConfig"] = {"thinkingLevel": THINKING_LEVELS[effort]} if gemini_3 else {"thinkingBudget": THINKING_BUDGETS[effort]}
    if limit := body.get("max_completion_tokens") or body.get("max_tokens"):
        config["maxOutputTokens"] = limit
    if stop := stop_list(body.get("stop")):
        config["stopSequences"] = stop
    response_format = body.get("response_format") or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    return config


def _declaration(function: Json) -> Json:
    declaration: Json = {"name": function.get("name", "")}
    if function.get("description"):
        declaration["description"] = function["description"]
    if function.get("parameters"):
        declaration["parametersJsonSchema"] = function["parameters"]
    return declaration


def _tool_config(choice: Any) -> Json | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name", "")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    mode = TOOL_CHOICE_MODES.get(choice) if isinstance(choice, str) else None
    return {"functionCallingConfig": {"mode": mode}} if mode else None


# --- response --------------------------------------------------------------------------------------


def _usage(metadata: Json) -> Json:
    """Thinking tokens are billed as output; tool-use prompt tokens as input."""
    thoughts = metadata.get("thoughtsTokenCount") or 0
    prompt = (metadata.get("promptTokenCount") or 0) + (metadata.get("toolUsePromptTokenCount") or 0)
    completion = (metadata.get("candidatesTokenCount") or 0) + thoughts
    return make_usage(prompt, completion, cached=metadata.get("cachedContentTokenCount") or 0, reasoning=thoughts)


def _candidate_output(candidate: Json) -> tuple[str, list[Json]]:
    """Visible text (thought summaries left out) and function calls of one candidate."""
    texts: list[str] = []
    calls: list[Json] = []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if "text" in part and not part.get("thought"):
            texts.append(part["text"])
        elif call := part.get("functionCall"):
            call_id = call.get("id") or new_id("call_")
            if signature := part.get("thoughtSignature"):
                call_id = f"{call_id}{SIGNATURE_MARK}{signature}"
            calls.append(tool_call(call_id, call.get("name", ""), dump_arguments(call.get("args"))))
    return "".join(texts), calls


def _finish_reason(reason: str | None, called: bool) -> str | None:
    if not reason:
        return None
    if called:
        return "tool_calls"
    if reason == "MAX_TOKENS":
        return "length"
    return "content_filter" if reason in FILTERED else "stop"


def to_completion(answer: Json, model: str) -> Json:
    choices = []
    for position, candidate in enumerate(answer.get("candidates") or ()):
        text, calls = _candidate_output(candidate)
        finish = _finish_reason(candidate.get("finishReason") or "STOP", bool(calls))
        choices.append(message_choice(candidate.get("index", position), text if text or not calls else None, calls, finish))
    if not choices:  # the prompt itself was blocked
        choices.append(message_choice(0, "", [], "content_filter"))
    completion_id = answer.get("responseId") or new_id()
    return completion_response(completion_id, answer.get("modelVersion") or model, choices, _usage(answer.get("usageMetadata") or {}))


class _StreamTranslator:
    """Each streamed ``GenerateContentResponse`` → one OpenAI chunk with a choice per candidate."""

    __slots__ = ("calls_seen", "chunks", "finished", "started", "usage")

    def __init__(self, model: str) -> None:
        self.chunks = ChunkMaker(new_id(), model)
        self.usage: Json = {}
        self.started = False
        self.calls_seen: dict[int, int] = {}  # candidate index → tool calls streamed so far
        self.finished = False

    def translate(self, event: Json) -> Json | None:
        if metadata := event.get("usageMetadata"):
            self.usage = metadata
        if not self.started:
            self.started = True
            self.chunks.id = event.get("responseId") or self.chunks.id
            self.chunks.model = event.get("modelVersion") or self.chunks.model
        choices = [self._choice(position, candidate) for position, candidate in enumerate(event.get("candidates") or ())]
        if not choices and (event.get("promptFeedback") or {}).get("blockReason"):
            self.finished = True
            return self.chunks.chunk({"role": "assistant", "content": ""}, "content_filter")
        return self.chunks.choices(choices) if choices else None

    def _choice(self, position: int, candidate: Json) -> Json:
        index = candidate.get("index", position)
        text, calls = _candidate_output(candidate)
        first = index not in self.calls_seen
        offset = self.calls_seen.get(index, 0)
        self.calls_seen[index] = offset + len(calls)
        delta: Json = {"role": "assistant", "content": text} if first else {"content": text}
        if calls:
            delta["tool_calls"] = [{"index": offset + n, **call} for n, call in enumerate(calls)]
        finish = _finish_reason(candidate.get("finishReason"), self.calls_seen[index] > 0)
        self.finished = self.finished or finish is not None
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}

    def usage_chunk(self) -> Json:
        return self.chunks.usage(_usage(self.usage))


class GeminiAdapter:
    """Calls ``{base}/v1beta/models/{model}:…`` with the key in ``x-goog-api-key``; ``url`` and the
    ``*_with`` methods let a kind that speaks the same bodies elsewhere (Vertex AI) reuse it."""

    def url(self, target: Target, method: str) -> str:
        return _url(target, method)

    async def chat(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        return await self.chat_with(client, target, body, _headers(target))

    def stream_chat(self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally) -> AsyncGenerator[list[bytes], None]:
        return self.stream_with(client, target, body, tally, _headers(target))

    async def chat_with(self, client: UpstreamClient, target: Target, body: Json, headers: dict[str, str]) -> Json:
        url = self.url(target, "generateContent")
        payload = await prepared(is_long(body), build_request, body, target.model)
        answer = await post_json(client, url, headers, payload, target.api_key, target.timeout)
        return to_completion(answer, target.model)

    def stream_with(
        self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally, headers: dict[str, str]
    ) -> AsyncGenerator[list[bytes], None]:
        url = self.url(target, "streamGenerateContent") + "?alt=sse"
        translator = _StreamTranslator(target.model)
        return translated_stream(
            client, url, headers, build_request(body, target.model), target.api_key, translator, tally, read_timeout=target.stream_timeout
        )

    async def embed(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        """All inputs in one ``batchEmbedContents`` call, as google-genai does for the Gemini API."""
        inputs = embedding_inputs(body)
        model = "models/" + target.model.removeprefix("models/")
        request: Json = {"model": model}
        if body.get("dimensions"):
            request["outputDimensionality"] = body["dimensions"]
        payload = {"requests": [{**request, "content": {"parts": [{"text": text}]}} for text in inputs]}
        answer = await post_json(client, _url(target, "batchEmbedContents"), _headers(target), payload, target.api_key, target.timeout)
        vectors = [e.get("values") or [] for e in answer.get("embeddings") or ()]
        usage = embedding_usage((answer.get("usageMetadata") or {}).get("promptTokenCount"), inputs)
        return embedding_list(vectors, target.model, usage, body.get("encoding_format"))
