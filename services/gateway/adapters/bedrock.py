"""AWS Bedrock's Converse API: ``{base}/model/{model}/converse`` and ``/converse-stream``.

* Authentication: a key's secret ``ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`` signs each
  request with SigV4 (botocore's signer: the canonical request, its encodings and the key
  derivation are easy to get subtly wrong, and botocore is AWS's own, kept in step with the
  service); a secret without ``:`` is a Bedrock API key, sent as a bearer token.
* The route's model is a model id or an inference profile (``us.anthropic.claude-…``), in the path.
* Translation: OpenAI messages → Converse ``messages``/``system``, ``inferenceConfig``, tools as
  ``toolConfig``, images (data URLs) as ``image`` blocks; the answer back to a completion.
* The stream is AWS's binary event-stream framing (``application/vnd.amazon.eventstream``), decoded
  incrementally with botocore's ``EventStreamBuffer``: it takes bytes as they arrive, hands out each
  whole message once its bytes are in, and checks the prelude and message CRCs; its parsing is
  synchronous, so it sits in this module's own read loop with no extra generator layer.
* Errors: Bedrock's ``{"message": …}`` bodies go through the shared classification (429
  ``ThrottlingException`` is a rate limit: the key cools down and the router backs off; 403 is the
  key's); an ``exception`` message inside the stream is classified from its ``:exception-type``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer, EventStreamMessage, ParserError
from yarl import URL

from services.errors import ErrorKind, UpstreamError
from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.cloud_options import option
from services.gateway.adapters.errors import ErrorInfo, classify_response, error_kind, redact, stream_ended_early, transport_error
from services.gateway.adapters.shapes import (
    ChunkMaker,
    completion_response,
    content_parts,
    dump_arguments,
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
)
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.transport import UpstreamClient
from services.gateway.adapters.wire import post_bytes
from services.gateway.long_requests import is_long, prepared

FINISH_REASONS = {
    "end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls", "max_tokens": "length",
    "guardrail_intervened": "content_filter", "content_filtered": "content_filter",
}
EXCEPTION_STATUS = {
    "throttlingexception": 429, "servicequotaexceededexception": 429, "modelnotreadyexception": 429,
    "validationexception": 400, "accessdeniedexception": 403, "resourcenotfoundexception": 404,
    "internalserverexception": 500, "modelstreamerrorexception": 500, "serviceunavailableexception": 503,
    "modeltimeoutexception": 408,
}
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


# --- request ---------------------------------------------------------------------------------------


def build_request(body: Json) -> Json:
    """The Converse body for an OpenAI chat-completions body."""
    system: list[Json] = []
    messages: list[Json] = []
    for message in body.get("messages", ()):
        role = message.get("role")
        if role in ("system", "developer"):
            system.append({"text": text_of(message.get("content"))})
        elif role == "tool":
            result = {"toolUseId": message.get("tool_call_id", ""), "content": [{"text": text_of(message.get("content"))}]}
            messages.append({"role": "user", "content": [{"toolResult": result}]})
        elif role == "assistant":
            messages.append({"role": "assistant", "content": _assistant_blocks(message)})
        else:
            messages.append({"role": "user", "content": _user_blocks(message.get("content"))})
    payload: Json = {"messages": merge_consecutive([m for m in messages if m["content"]], "role", "content")}
    if system:
        payload["system"] = system
    if inference := _inference(body):
        payload["inferenceConfig"] = inference
    if tools := [_tool(t["function"]) for t in body.get("tools") or () if t.get("type") == "function"]:
        payload["toolConfig"] = {"tools": tools}
        if choice := _tool_choice(body.get("tool_choice")):
            payload["toolConfig"]["toolChoice"] = choice
    return payload


def _inference(body: Json) -> Json:
    config = {
        "maxTokens": body.get("max_completion_tokens") or body.get("max_tokens"),
        "temperature": body.get("temperature"), "topP": body.get("top_p"), "stopSequences": stop_list(body.get("stop")) or None,
    }
    return {name: value for name, value in config.items() if value is not None}


def _user_blocks(content: Any) -> list[Json]:
    blocks: list[Json] = []
    for part in content_parts(content):
        if part.get("type") == "text" and part.get("text"):
            blocks.append({"text": part["text"]})
        elif part.get("type") == "image_url":
            blocks.append(_image_block(image_url_of(part)))
    return blocks


def _image_block(url: str) -> Json:
    inline = parse_data_url(url)
    if inline is None or inline[0] not in IMAGE_FORMATS:
        raise UpstreamError(ErrorKind.BAD_REQUEST, "Bedrock takes images as base64 data URLs (png, jpeg, gif or webp)", status=400)
    return {"image": {"format": IMAGE_FORMATS[inline[0]], "source": {"bytes": inline[1]}}}


def _assistant_blocks(message: Json) -> list[Json]:
    blocks = _user_blocks(message.get("content"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        use = {"toolUseId": call.get("id", ""), "name": function.get("name", ""), "input": parse_arguments(function.get("arguments"))}
        blocks.append({"toolUse": use})
    return blocks


def _tool(function: Json) -> Json:
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    spec: Json = {"name": function.get("name", ""), "inputSchema": {"json": schema}}
    if function.get("description"):
        spec["description"] = function["description"]
    return {"toolSpec": spec}


def _tool_choice(choice: Any) -> Json | None:
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"tool": {"name": (choice.get("function") or {}).get("name", "")}}
    return {"auto": {}} if choice == "auto" else None


# --- response --------------------------------------------------------------------------------------


def _usage(usage: Json) -> Json:
    cached, written = usage.get("cacheReadInputTokens") or 0, usage.get("cacheWriteInputTokens") or 0
    prompt = (usage.get("inputTokens") or 0) + cached + written
    return make_usage(prompt, usage.get("outputTokens") or 0, cached=cached, cache_write=written)


def to_completion(answer: Json, model: str) -> Json:
    texts: list[str] = []
    calls: list[Json] = []
    for block in ((answer.get("output") or {}).get("message") or {}).get("content") or ():
        if "text" in block:
            texts.append(block["text"])
        elif use := block.get("toolUse"):
            calls.append(tool_call(use.get("toolUseId", ""), use.get("name", ""), dump_arguments(use.get("input"))))
    content = "".join(texts) if texts or not calls else None
    reason = FINISH_REASONS.get(answer.get("stopReason") or "", "stop")
    choice = message_choice(0, content, calls, "stop" if reason == "tool_calls" and not calls else reason)
    return completion_response(new_id(), model, [choice], _usage(answer.get("usage") or {}))


class _StreamTranslator:
    """ConverseStream events (by ``:event-type``) → OpenAI chunks (None for events with nothing to say)."""

    __slots__ = ("chunks", "finished", "tool_index", "usage")

    def __init__(self, model: str) -> None:
        self.chunks = ChunkMaker(new_id(), model)
        self.usage: Json = {}
        self.tool_index: dict[int, int] = {}  # content block index → OpenAI tool call index
        self.finished = False

    def translate(self, kind: str, event: Json) -> Json | None:
        if kind == "contentBlockDelta":
            delta = event.get("delta") or {}
            if "text" in delta:
                return self.chunks.chunk({"content": delta["text"]})
            if use := delta.get("toolUse"):
                call = {"index": self.tool_index.get(event.get("contentBlockIndex", 0), 0), "function": {"arguments": use.get("input", "")}}
                return self.chunks.chunk({"tool_calls": [call]})
            return None
        if kind == "messageStart":
            return self.chunks.chunk({"role": "assistant", "content": ""})
        if kind == "contentBlockStart" and (use := (event.get("start") or {}).get("toolUse")):
            position = self.tool_index[event.get("contentBlockIndex", 0)] = len(self.tool_index)
            return self.chunks.chunk({"tool_calls": [{"index": position, **tool_call(use.get("toolUseId", ""), use.get("name", ""), "")}]})
        if kind == "messageStop":
            self.finished = True
            finish = FINISH_REASONS.get(event.get("stopReason") or "", "stop")
            return self.chunks.chunk({}, "stop" if finish == "tool_calls" and not self.tool_index else finish)
        if kind == "metadata":
            self.usage = event.get("usage") or {}
        return None

    def usage_chunk(self) -> Json:
        return self.chunks.usage(_usage(self.usage))


def stream_exception(message: EventStreamMessage, secret: str) -> UpstreamError:
    """An ``exception`` (or ``error``) message inside the stream, classified like an answer with its status."""
    headers = message.headers
    name = str(headers.get(":exception-type") or headers.get(":error-code") or "")
    try:
        text = str(orjson.loads(message.payload).get("message") or "")
    except (orjson.JSONDecodeError, AttributeError):
        text = message.payload[:300].decode("utf-8", "replace")
    status = EXCEPTION_STATUS.get(name.lower(), 500)
    info = ErrorInfo(text, frozenset({name.lower()}))
    return UpstreamError(error_kind(status, info, None), redact(f"{name}: {text}", secret), status=status)


# --- the calls ---------------------------------------------------------------------------------------


def signed_headers(target: Target, url: str, body: bytes, accept: str) -> dict[str, str]:
    """SigV4 headers for an access-key secret, else the secret as a Bedrock API key (bearer)."""
    headers = target.with_headers({"content-type": "application/json", "accept": accept})
    if ":" not in target.api_key:
        return {**headers, "authorization": f"Bearer {target.api_key}"}
    access_key, secret_key, *token = target.api_key.split(":", 2)
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    credentials = Credentials(access_key, secret_key, token[0] if token else None)
    SigV4Auth(credentials, "bedrock", option(target.options, "region", "us-east-1")).add_auth(request)
    return dict(request.headers.items())


def _url(target: Target, action: str) -> str:
    """The URL exactly as it goes on the wire (aiohttp normalises the path: it is signed as sent)."""
    return str(URL(f"{target.base_url}/model/{quote(target.model, safe='')}/{action}"))


class BedrockAdapter:
    async def chat(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        url, payload = _url(target, "converse"), orjson.dumps(await prepared(is_long(body), build_request, body))
        headers = signed_headers(target, url, payload, "application/json")
        answer = orjson.loads(await post_bytes(client, url, headers, payload, target.api_key, target.timeout))
        return to_completion(answer, target.model)

    async def stream_chat(
        self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally
    ) -> AsyncGenerator[list[bytes], None]:
        url, payload = _url(target, "converse-stream"), orjson.dumps(build_request(body))
        headers = signed_headers(target, url, payload, "application/vnd.amazon.eventstream")
        translator, frames, secret, started = _StreamTranslator(target.model), EventStreamBuffer(), target.api_key, False
        try:
            async with client.open(url, headers, payload, target.stream_timeout) as response:
                if not response.is_success:
                    raise classify_response(response.status_code, await response.aread(), response.headers, secret)
                while data := await response.read_chunk():
                    frames.add_data(data)
                    chunks: list[bytes] = []
                    try:
                        _translate(frames, translator, tally, chunks, secret)
                    except UpstreamError:
                        if chunks:
                            yield chunks
                        raise
                    if chunks:
                        started = True
                        yield chunks
        except httpx.HTTPError as exc:
            raise transport_error(exc, secret, broken=started) from None
        except ParserError as exc:
            raise UpstreamError(ErrorKind.STREAM_BROKEN, f"the upstream event stream is corrupt ({type(exc).__name__})") from None
        if not translator.finished:
            raise stream_ended_early()
        tally.take(translator.usage_chunk())

    async def embed(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        raise UpstreamError(ErrorKind.BAD_REQUEST, "Bedrock embeddings are not supported through the Converse API", status=400)


def _translate(frames: EventStreamBuffer, translator: _StreamTranslator, tally: StreamTally, chunks: list[bytes], secret: str) -> None:
    """The chunks of every whole message the buffer holds now."""
    for message in frames:
        if message.headers.get(":message-type") != "event":
            raise stream_exception(message, secret)
        chunk = translator.translate(str(message.headers.get(":event-type")), orjson.loads(message.payload or b"{}"))
        if chunk is not None and (out := tally.take(chunk)):
            chunks.append(out)
