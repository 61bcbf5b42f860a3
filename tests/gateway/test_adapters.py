"""Every adapter over real HTTP: against the upstream emulator, and a few canned upstream answers
(tool calls, a server that ignores ``include_usage``) served by a tiny aiohttp app."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import struct
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from aiohttp import web
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from services.errors import ErrorKind, UpstreamError
from services.gateway.adapters import DEFAULT_BASE_URLS, get_adapter, resolve_base_url
from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.transport import upstream_client
from tests.factories import PATIENCE_S
from tests.upstream_emulator import EmulatorHandle, embedding_for, start_emulator

KINDS = ("openai", "openai_compatible", "anthropic", "gemini", "ollama")
EMBEDDING_KINDS = ("openai", "gemini", "ollama")
MODELS = {
    "openai": "gpt-4o-mini",
    "openai_compatible": "gpt-4o",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
    "ollama": "llama3.2:latest",
}
CHAT = {
    "model": "smart",
    "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "say hello to the world"}],
}
ANSWER = "Echo: say hello to the world"
PROMPT_TOKENS = 8  # whitespace words of the system and user texts
COMPLETION_TOKENS = 6
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="
TLS = ssl.create_default_context()  # built once: loading the CA bundle per client costs ~0.1 s


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorHandle]:
    handle = start_emulator()
    yield handle
    handle.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with upstream_client(httpx.Timeout(5.0), verify=TLS) as http:
        yield http


def base_url(upstream: EmulatorHandle, kind: str) -> str:
    return upstream.url + "/v1" if kind in ("openai", "openai_compatible") else upstream.url


def new_key(behaviour: str = "ok") -> str:
    """Distinct per test, so its recorded requests can be picked out; long enough to be a secret."""
    return f"{behaviour}#sk-{uuid.uuid4().hex}"


def target(upstream: EmulatorHandle, kind: str, key: str, base: str | None = None) -> Target:
    return Target(kind, base or base_url(upstream, kind), key, MODELS[kind])


def received(upstream: EmulatorHandle, key: str) -> list[Json]:
    return [r for r in upstream.requests() if r["key"] == key]


async def stream_batches(client: httpx.AsyncClient, tgt: Target, body: Json, client_model: str | None = None) -> AsyncIterator[list[Json]]:
    """An adapter's stream as parsed chunks, a list a read, then the usage chunk its tally kept back
    (the gateway passes that on to clients that ask for it)."""
    tally = StreamTally(client_model or tgt.model)
    chunks = get_adapter(tgt.kind).stream_chat(client, tgt, body, tally)
    try:
        async for batch in chunks:
            yield [orjson.loads(text) for text in batch]
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    yield [orjson.loads(tally.usage_chunk(prompt_chars=len(str(body.get("messages")))))]


async def collect(client: httpx.AsyncClient, tgt: Target, body: Json, client_model: str | None = None) -> list[Json]:
    return [chunk async for batch in stream_batches(client, tgt, body, client_model) for chunk in batch]


async def collect_into(chunks: list[Json], client: httpx.AsyncClient, tgt: Target, body: Json) -> None:
    """``collect`` into ``chunks`` as they arrive: what came before a failure stays there to be checked."""
    async for batch in stream_batches(client, tgt, body):
        chunks.extend(batch)


def streamed_text(chunks: list[Json]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# --- happy paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_chat(upstream: EmulatorHandle, client: httpx.AsyncClient, kind: str) -> None:
    answer = await get_adapter(kind).chat(client, target(upstream, kind, new_key()), CHAT)
    parsed = ChatCompletion.model_validate(answer)
    assert parsed.object == "chat.completion" and parsed.id and parsed.created > 0
    assert parsed.model == MODELS[kind]
    assert parsed.choices[0].index == 0 and parsed.choices[0].message.role == "assistant"
    assert parsed.choices[0].message.content == ANSWER
    assert parsed.choices[0].finish_reason == "stop"
    assert answer["usage"] == {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


@pytest.mark.parametrize("kind", KINDS)
async def test_stream(upstream: EmulatorHandle, client: httpx.AsyncClient, kind: str) -> None:
    chunks = await collect(client, target(upstream, kind, new_key()), CHAT)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
        assert chunk["object"] == "chat.completion.chunk" and chunk["model"] == MODELS[kind]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert streamed_text(chunks) == ANSWER
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == ["stop"]
    assert len({c["id"] for c in chunks}) == 1
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"] == {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }
    assert not any(c.get("usage") for c in chunks[:-1])


@pytest.mark.parametrize("kind", EMBEDDING_KINDS)
async def test_embeddings(upstream: EmulatorHandle, client: httpx.AsyncClient, kind: str) -> None:
    texts = ["the quick brown fox", "jumps"]
    answer = await get_adapter(kind).embed(client, target(upstream, kind, new_key()), {"model": "embed", "input": texts})
    parsed = CreateEmbeddingResponse.model_validate(answer)
    assert [d.index for d in parsed.data] == [0, 1]
    assert [d.embedding for d in parsed.data] == [embedding_for(t) for t in texts]
    assert parsed.usage.prompt_tokens > 0


@pytest.mark.parametrize("kind", EMBEDDING_KINDS)
async def test_embeddings_in_base64_as_the_openai_sdk_asks(upstream: EmulatorHandle, client: httpx.AsyncClient, kind: str) -> None:
    body = {"model": "embed", "input": "one text", "encoding_format": "base64"}
    answer = await get_adapter(kind).embed(client, target(upstream, kind, new_key()), body)
    packed = base64.b64decode(answer["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == pytest.approx(embedding_for("one text"), abs=1e-6)


async def test_anthropic_has_no_embeddings(upstream: EmulatorHandle, client: httpx.AsyncClient) -> None:
    with pytest.raises(UpstreamError) as caught:
        await get_adapter("anthropic").embed(client, target(upstream, "anthropic", new_key()), {"model": "x", "input": "a"})
    assert caught.value.kind is ErrorKind.BAD_REQUEST


# --- failures --------------------------------------------------------------------------------------

ERROR_BEHAVIOURS = [
    ("rate-limit", ErrorKind.RATE_LIMITED),
    ("rate-limit-date", ErrorKind.RATE_LIMITED),
    ("quota", ErrorKind.QUOTA_EXHAUSTED),
    ("unauthorized", ErrorKind.AUTH),
    ("forbidden", ErrorKind.AUTH),
    ("context", ErrorKind.CONTEXT_TOO_LONG),
    ("bad-request", ErrorKind.BAD_REQUEST),
    ("error-500", ErrorKind.UPSTREAM_5XX),
    ("overloaded", ErrorKind.UPSTREAM_5XX),
    ("reset", ErrorKind.CONNECTION),
]


@pytest.mark.parametrize(("behaviour", "kind"), ERROR_BEHAVIOURS, ids=[b for b, _ in ERROR_BEHAVIOURS])
@pytest.mark.parametrize("provider", KINDS)
async def test_chat_failures_are_classified(
    upstream: EmulatorHandle, client: httpx.AsyncClient, provider: str, behaviour: str, kind: ErrorKind
) -> None:
    key = new_key(behaviour)
    with pytest.raises(UpstreamError) as caught:
        await get_adapter(provider).chat(client, target(upstream, provider, key), CHAT)
    error = caught.value
    assert error.kind is kind, error
    assert error.message and key not in error.message and key not in repr(error)
    if behaviour == "rate-limit":
        assert error.retry_after == 7.0
    elif behaviour == "rate-limit-date":
        assert error.retry_after is not None and 5.0 < error.retry_after <= 8.0
    if behaviour == "overloaded" and provider == "anthropic":
        assert error.status == 529
    if behaviour != "reset":
        assert error.status is not None and error.status >= 400


@pytest.mark.parametrize("provider", KINDS)
async def test_stream_fails_over_before_the_first_chunk(upstream: EmulatorHandle, client: httpx.AsyncClient, provider: str) -> None:
    """An HTTP error answer to a stream request is classified like any other call."""
    with pytest.raises(UpstreamError) as caught:
        await collect(client, target(upstream, provider, new_key("rate-limit:3")), CHAT)
    assert caught.value.kind is ErrorKind.RATE_LIMITED and caught.value.retry_after == 3.0


@pytest.mark.parametrize("provider", KINDS)
async def test_hang_times_out(upstream: EmulatorHandle, provider: str) -> None:
    """The read timeout is the only one set: a TIMEOUT can only be it (were it ignored, the call would
    hang until the guard's patience runs out and fail the test with a different error)."""
    async with upstream_client(httpx.Timeout(None, read=0.3), verify=TLS) as impatient:
        call = get_adapter(provider).chat(impatient, target(upstream, provider, new_key("hang")), CHAT)
        with pytest.raises(UpstreamError) as caught:
            await asyncio.wait_for(call, PATIENCE_S)
    assert caught.value.kind is ErrorKind.TIMEOUT


@pytest.mark.parametrize("provider", KINDS)
async def test_broken_stream(upstream: EmulatorHandle, client: httpx.AsyncClient, provider: str) -> None:
    chunks: list[Json] = []
    with pytest.raises(UpstreamError) as caught:
        await collect_into(chunks, client, target(upstream, provider, new_key("break-stream")), CHAT)
    assert caught.value.kind is ErrorKind.STREAM_BROKEN
    assert streamed_text(chunks) == "Echo: say "


@pytest.mark.parametrize("provider", KINDS)
async def test_the_first_chunk_is_not_held_back_for_the_next(upstream: EmulatorHandle, client: httpx.AsyncClient, provider: str) -> None:
    """`drip:600` sends the first word, then waits ten minutes before each next one: the first chunk
    must arrive on its own (the guard only stops a reader that waits for more from hanging the run)."""
    chunks = stream_batches(client, target(upstream, provider, new_key("drip:600")), CHAT)
    try:
        received_chunks = await asyncio.wait_for(anext(chunks), 60)
        while not streamed_text(received_chunks):
            received_chunks.extend(await asyncio.wait_for(anext(chunks), 60))
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    assert streamed_text(received_chunks) == "Echo: "


STREAM_ERRORS = {
    "openai": ErrorKind.UPSTREAM_5XX,
    "openai_compatible": ErrorKind.UPSTREAM_5XX,
    "anthropic": ErrorKind.UPSTREAM_5XX,  # event: error, overloaded_error
    "gemini": ErrorKind.UPSTREAM_5XX,  # 503 UNAVAILABLE error object
    "ollama": ErrorKind.STREAM_BROKEN,  # {"error": "<text>"} says nothing more
}


@pytest.mark.parametrize("provider", KINDS)
async def test_error_event_inside_a_stream(upstream: EmulatorHandle, client: httpx.AsyncClient, provider: str) -> None:
    chunks: list[Json] = []
    key = new_key("stream-error")
    with pytest.raises(UpstreamError) as caught:
        await collect_into(chunks, client, target(upstream, provider, key), CHAT)
    assert caught.value.kind is STREAM_ERRORS[provider]
    assert streamed_text(chunks) == "Echo: say "
    assert key not in caught.value.message


# --- what the upstream received --------------------------------------------------------------------


async def test_openai_passes_every_field_through(upstream: EmulatorHandle, client: httpx.AsyncClient) -> None:
    key = new_key()
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
    body = {**CHAT, "tools": tools, "tool_choice": "auto", "seed": 7, "n": 1, "logprobs": False, "x_vendor_knob": {"deep": [1, 2]}}
    snapshot = orjson.dumps(body)
    await collect(client, target(upstream, "openai", key), body)
    await get_adapter("openai").chat(client, target(upstream, "openai", key), body)
    streamed, plain = (r["body"] for r in received(upstream, key))
    assert orjson.dumps(body) == snapshot, "the client's body must not be modified"
    assert streamed == {**body, "model": MODELS["openai"], "stream": True, "stream_options": {"include_usage": True}}
    assert plain == {**body, "model": MODELS["openai"]}


async def test_openai_without_key_sends_no_authorization(upstream: EmulatorHandle, client: httpx.AsyncClient) -> None:
    before = len(upstream.requests())
    await get_adapter("openai_compatible").chat(client, target(upstream, "openai_compatible", ""), CHAT)
    (request,) = upstream.requests()[before:]
    assert "authorization" not in request["headers"]


async def test_anthropic_request_translation(upstream: EmulatorHandle, client: httpx.AsyncClient) -> None:
    key = new_key()
    body = {
        "model": "smart",
        "messages": [
            {"role": "system", "content": "Rule one."},
            {"role": "developer", "content": [{"type": "text", "text": "Rule two."}]},
            {"role": "user", "content": "look"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": PNG}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "cats"}'}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "found 3 cats"},
            {"role": "user", "content": "and now?"},
        ],
        "temperature": 0.3,
        "top_p": 0.9,
        "stop": "END",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "search",
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
                },
            }
        ],
        "tool_choice": "required",
    }
    await get_adapter("anthropic").chat(client, target(upstream, "anthropic", key), body)
    (request,) = received(upstream, key)
    sent = request["body"]
    assert request["path"] == "/v1/messages"
    assert request["headers"]["anthropic-version"] == "2023-06-01" and "x-api-key" in request["headers"]
    assert sent["system"] == "Rule one.\n\nRule two."
    assert sent["max_tokens"] == 4096
    assert (sent["temperature"], "top_p" in sent, sent["stop_sequences"]) == (0.3, False, ["END"]), "Claude takes one of the two"
    assert sent["tools"] == [
        {"name": "lookup", "description": "search", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    ]
    assert sent["tool_choice"] == {"type": "any"}
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    first, call, result = sent["messages"]
    assert first["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG.partition(",")[2]}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    assert call["content"] == [{"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "cats"}}]
    assert result["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "found 3 cats"},
        {"type": "text", "text": "and now?"},
    ]


async def test_anthropic_max_completion_tokens(upstream: EmulatorHandle, client: httpx.AsyncClient) -> None:
    key = new_key()
    await collect(client, target(upstream, "anthropic", key), {**CHAT, "max_completion_tokens": 77})
    (request,) = received(upstream, key)
    assert request["body"]["max_tokens"] == 77 and request["body"]["stream"] is True


async def test_gemini_request_translation(upstream: EmulatorHandle, client: httpx.AsyncClient) -> None:
    key = new_key()
    body = {
        **CHAT,
        "messages": [
            *CHAT["messages"],
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "this?"}, {"type": "image_url", "image_url": {"url": PNG}}]},
        ],
        "temperature": 0.5,
        "top_p": 0.8,
        "max_tokens": 64,
        "stop": ["X", "Y"],
        "n": 1,
        "seed": 3,
        "response_format": {"type": "json_object"},
    }
    await get_adapter("gemini").chat(client, target(upstream, "gemini", key), body)
    await collect(client, target(upstream, "gemini", key), body)
    plain, streamed = received(upstream, key)
    assert plain["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert streamed["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent" and streamed["query"] == {"alt": "sse"}
    assert "x-goog-api-key" in plain["headers"]
    sent = plain["body"]
    assert sent["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert sent["generationConfig"] == {
        "temperature": 0.5,
        "topP": 0.8,
        "candidateCount": 1,
        "seed": 3,
        "maxOutputTokens": 64,
        "stopSequences": ["X", "Y"],
        "responseMimeType": "application/json",
    }
    assert [c["role"] for c in sent["contents"]] == ["user", "model", "user"]
    assert sent["contents"][2]["parts"] == [{"text": "this?"}, {"inlineData": {"mimeType": "image/png", "data": PNG.partition(",")[2]}}]


async def test_gemini_base_url_with_a_version_is_kept(upstream: EmulatorHandle, client: httpx.AsyncClient) -> None:
    key = new_key()
    answer = await get_adapter("gemini").chat(client, target(upstream, "gemini", key, base=upstream.url + "/v1"), CHAT)
    assert answer["choices"][0]["message"]["content"] == ANSWER
    assert received(upstream, key)[0]["path"] == "/v1/models/gemini-2.5-flash:generateContent"


async def test_ollama_request_translation(upstream: EmulatorHandle, client: httpx.AsyncClient) -> None:
    key = new_key()
    body = {
        **CHAT,
        "messages": [
            *CHAT["messages"][:1],
            {"role": "user", "content": [{"type": "text", "text": "what is it"}, {"type": "image_url", "image_url": {"url": PNG}}]},
        ],
        "max_tokens": 32,
        "temperature": 0.1,
        "top_p": 0.7,
        "seed": 11,
        "stop": "STOP",
    }
    await get_adapter("ollama").chat(client, target(upstream, "ollama", key), body)
    await collect(client, target(upstream, "ollama", key), body)
    plain, streamed = received(upstream, key)
    assert plain["path"] == "/api/chat"
    assert (plain["body"]["stream"], streamed["body"]["stream"]) == (False, True)
    assert plain["body"]["options"] == {"temperature": 0.1, "top_p": 0.7, "seed": 11, "num_predict": 32, "stop": ["STOP"]}
    assert plain["body"]["messages"][1] == {"role": "user", "content": "what is it", "images": [PNG.partition(",")[2]]}
    assert plain["headers"]["authorization"] == "<redacted>"


async def test_ollama_without_key_sends_no_authorization(upstream: EmulatorHandle, client: httpx.AsyncClient) -> None:
    before = len(upstream.requests())
    answer = await get_adapter("ollama").chat(client, target(upstream, "ollama", ""), CHAT)
    assert answer["choices"][0]["message"]["content"] == ANSWER
    (request,) = upstream.requests()[before:]
    assert "authorization" not in request["headers"]


@pytest.mark.parametrize("base", ["", "http://[::1"], ids=["missing", "malformed"])
async def test_an_unusable_base_url_is_a_connection_error(client: httpx.AsyncClient, base: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        await get_adapter("openai_compatible").chat(client, Target("openai_compatible", base, "k", "m"), CHAT)
    assert caught.value.kind is ErrorKind.CONNECTION


async def test_a_closed_port_is_a_connection_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"  # bound, never listening: refused
        with pytest.raises(UpstreamError) as caught:
            await get_adapter("openai").chat(client, Target("openai", closed, "k", "m"), CHAT)
    assert caught.value.kind is ErrorKind.CONNECTION and "ConnectError" in caught.value.message


async def test_the_shared_client_also_speaks_httpx(upstream: EmulatorHandle, client: httpx.AsyncClient) -> None:
    """Alert webhooks and anything else outside the adapters use it as a plain ``httpx.AsyncClient``."""
    headers = {"Authorization": f"Bearer {new_key()}"}
    answer = await client.post(upstream.url + "/v1/chat/completions", json={**CHAT, "model": "m"}, headers=headers)
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == ANSWER
    body = {**CHAT, "model": "m", "stream": True}
    async with client.stream("POST", upstream.url + "/v1/chat/completions", json=body, headers=headers) as streamed:
        events = [line async for line in streamed.aiter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) > 3
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{sock.getsockname()[1]}/")


def test_base_urls() -> None:
    assert resolve_base_url("openai", None) == DEFAULT_BASE_URLS["openai"] == "https://api.openai.com/v1"
    assert resolve_base_url("anthropic", "https://proxy.example/") == "https://proxy.example"
    assert resolve_base_url("openai_compatible", None) == ""
    assert get_adapter("openai") is get_adapter("openai_compatible")
    with pytest.raises(ValueError, match="unknown provider kind 'cohere'"):
        get_adapter("cohere")


# --- canned upstream answers: tool calls and servers that skip usage ------------------------------


def sse_body(*events: Json | str) -> bytes:
    return b"".join(b"data: " + (e.encode() if isinstance(e, str) else orjson.dumps(e)) + b"\n\n" for e in events)


def anthropic_events(*events: Json) -> bytes:
    return b"".join(f"event: {e['type']}\n".encode() + b"data: " + orjson.dumps(e) + b"\n\n" for e in events)


OPENAI_CHUNK = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "local"}
# Written the way Python's json module writes (ASCII escapes), which orjson would not reproduce, with the
# `"usage":null` OpenAI puts in every chunk but the last when usage is asked for.
RELAYED_CONTENT = b'{"id":"c1","object":"chat.completion.chunk","created":1,"model":"local","system_fingerprint":"fp_1",' \
    b'"choices":[{"index":0,"delta":{"content":"caf\\u00e9 \\"model\\":\\"local\\""},"logprobs":null,"finish_reason":null}],"usage":null}'
CANNED: dict[str, tuple[str, bytes]] = {
    "/relayed/chat/completions": (
        "text/event-stream",
        sse_body(
            {**OPENAI_CHUNK, "usage": None,
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            RELAYED_CONTENT.decode(),
            {**OPENAI_CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
            {**OPENAI_CHUNK, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
            "[DONE]",
        ),
    ),
    "/spaced/chat/completions": (
        "text/event-stream",
        b"".join(
            b"data: " + json.dumps(event).encode() + b"\n\n"
            for event in (
                {**OPENAI_CHUNK, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "spaced"}, "finish_reason": None}]},
                {**OPENAI_CHUNK, "choices": [{"index": 0, "delta": {"content": " out"}, "finish_reason": None}]},
                {**OPENAI_CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
                {**OPENAI_CHUNK, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
            )
        ),
    ),
    "/long-no-usage/chat/completions": (
        "text/event-stream",
        sse_body(
            *({**OPENAI_CHUNK, "choices": [{"index": 0, "delta": {"content": "abcd"}, "finish_reason": None}]} for _ in range(600)),
            {**OPENAI_CHUNK, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ),
    ),
    "/no-usage/chat/completions": (
        "text/event-stream",
        sse_body(
            {**OPENAI_CHUNK, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "four score "}, "finish_reason": None}]},
            {**OPENAI_CHUNK, "choices": [{"index": 0, "delta": {"content": "and seven"}, "finish_reason": "stop"}]},
            "[DONE]",
        ),
    ),
    "/usage-on-last-choice/chat/completions": (
        "text/event-stream",
        sse_body(
            {
                **OPENAI_CHUNK,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            },
            "[DONE]",
        ),
    ),
    "/cut-short/chat/completions": (
        "text/event-stream",
        sse_body(
            {**OPENAI_CHUNK, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "half"}, "finish_reason": None}]},
        ),
    ),
    "/error-in-200/chat/completions": (
        "application/json",
        orjson.dumps({"error": {"message": "Upstream model crashed", "type": "server_error"}}),
    ),
    "/v1/messages": (
        "application/json",
        orjson.dumps(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "cats"}},
                ],
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 7},
            }
        ),
    ),
    "/stream/v1/messages": (
        "text/event-stream",
        anthropic_events(
            {"type": "message_start", "message": {"id": "msg_2", "model": "claude-x", "usage": {"input_tokens": 12, "output_tokens": 1}}},
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {}},
            },
            {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"q": '}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '"cats"}'}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
            {"type": "message_stop"},
        ),
    ),
    "/v1beta/models/g:generateContent": (
        "application/json",
        orjson.dumps(
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [
                                {"text": "thinking...", "thought": True},
                                {"functionCall": {"name": "lookup", "args": {"q": "cats"}}},
                            ],
                        },
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 4, "thoughtsTokenCount": 6, "totalTokenCount": 30},
                "modelVersion": "gemini-x",
            }
        ),
    ),
}


# Streams sent in two writes with the second held until the test releases it; the first write ends
# between the "\r" and the "\n" of a CRLF line end.
GEMINI_EVENT = b'data: {"candidates": [{"content": {"parts": [{"text": "%s"}], "role": "model"}, "index": 0%s}]}'
OLLAMA_LINE = b'{"model": "m", "message": {"role": "assistant", "content": "%s"}, "done": %s}'
HELD: dict[str, tuple[str, bytes, bytes]] = {
    "/v1beta/models/held:streamGenerateContent": (
        "text/event-stream",
        GEMINI_EVENT % (b"first", b"") + b"\r\n\r",
        b"\n" + GEMINI_EVENT % (b" second", b', "finishReason": "STOP"') + b"\r\n\r\n",
    ),
    "/api/chat": (
        "application/x-ndjson",
        OLLAMA_LINE % (b"first", b"false") + b"\r",
        b"\n" + OLLAMA_LINE % (b" second", b"true") + b"\r\n",
    ),
}


@dataclass
class Canned:
    url: str
    peers: list[tuple[str, int]] = field(default_factory=list)  # the client address of each request
    release: asyncio.Event = field(default_factory=asyncio.Event)  # lets the second half of a HELD stream go


@pytest.fixture
async def canned() -> AsyncIterator[Canned]:
    async def answer(request: web.Request) -> web.StreamResponse:
        server.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        if request.path in HELD:
            return await held_back(request, *HELD[request.path])
        content_type, body = CANNED[request.path]
        return web.Response(body=body, content_type=content_type)

    async def held_back(request: web.Request, content_type: str, first: bytes, rest: bytes) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        await response.write(first)
        await server.release.wait()
        await response.write_eof(rest)
        return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server = Canned(f"http://127.0.0.1:{runner.addresses[0][1]}")
    yield server
    await runner.cleanup()


@pytest.mark.parametrize(("kind", "model"), [("gemini", "held"), ("ollama", "m")])
async def test_a_line_is_handed_on_as_soon_as_its_bytes_arrive(canned: Canned, client: httpx.AsyncClient, kind: str, model: str) -> None:
    """The upstream holds its second line until the first chunk came out; a reader that waits to see
    what follows a trailing "\r" would never get there (the guard only keeps that from hanging)."""
    chunks = stream_batches(client, Target(kind, canned.url, "k", model), CHAT)
    first = await asyncio.wait_for(anext(chunks), 60)
    canned.release.set()
    rest = [chunk async for batch in chunks for chunk in batch]
    assert streamed_text(first) == "first" and streamed_text(rest) == " second"
    assert rest[-1]["usage"] is not None


async def test_openai_stream_without_usage_gets_an_estimate(canned: Canned, client: httpx.AsyncClient) -> None:
    chunks = await collect(client, Target("openai_compatible", canned.url + "/no-usage", "", "local"), CHAT)
    assert streamed_text(chunks) == "four score and seven"
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["id"] == "c1"
    assert usage["estimated"] is True and usage["completion_tokens"] == 5 and usage["prompt_tokens"] > 0


async def test_openai_stream_events_go_on_as_the_upstream_wrote_them(canned: Canned, client: httpx.AsyncClient) -> None:
    """Plain content chunks are relayed byte for byte but for the model's name; an escaped
    `"model":"local"` inside the text is text, and stays as it was."""
    tally = StreamTally("smart")
    target = Target("openai_compatible", canned.url + "/relayed", "", "local")
    texts = [text async for batch in get_adapter("openai_compatible").stream_chat(client, target, CHAT, tally) for text in batch]
    assert texts[1] == RELAYED_CONTENT.replace(b'"model":"local"', b'"model":"smart"')
    chunks = [orjson.loads(text) for text in texts]
    assert [c["model"] for c in chunks] == ["smart"] * 3
    assert chunks[1]["choices"][0]["delta"]["content"] == 'café "model":"local"' and chunks[1]["system_fingerprint"] == "fp_1"
    assert tally.finish_reason == "stop" and tally.usage == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert orjson.loads(tally.usage_chunk(0))["model"] == "smart"


async def test_openai_stream_from_a_server_writing_spaced_json(canned: Canned, client: httpx.AsyncClient) -> None:
    chunks = await collect(client, Target("openai_compatible", canned.url + "/spaced", "", "local"), CHAT, client_model="smart")
    assert streamed_text(chunks) == "spaced out" and {c["model"] for c in chunks} == {"smart"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]] == [None, None, "length"]
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


async def test_a_long_stream_without_usage_is_estimated_from_every_relayed_chunk(canned: Canned, client: httpx.AsyncClient) -> None:
    """Relayed chunks are counted only when no usage comes, in rounds (a long stream holds few of them)."""
    chunks = await collect(client, Target("openai_compatible", canned.url + "/long-no-usage", "", "local"), CHAT)
    assert len(streamed_text(chunks)) == 2400
    assert chunks[-1]["usage"]["completion_tokens"] == 600 and chunks[-1]["usage"]["estimated"] is True


async def test_openai_usage_on_a_choice_chunk_moves_to_the_end(canned: Canned, client: httpx.AsyncClient) -> None:
    chunks = await collect(client, Target("openai_compatible", canned.url + "/usage-on-last-choice", "", "local"), CHAT)
    assert [bool(c["choices"]) for c in chunks] == [True, False]
    assert chunks[0].get("usage") is None
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


async def test_a_finished_stream_leaves_its_connection_in_the_pool(canned: Canned, client: httpx.AsyncClient) -> None:
    """The body is drained past ``[DONE]``; a half-read response would cost a new TCP connection per stream."""
    for _ in range(3):
        await collect(client, Target("openai_compatible", canned.url + "/usage-on-last-choice", "", "local"), CHAT)
    assert len(canned.peers) == 3 and len(set(canned.peers)) == 1


async def test_a_stream_that_ends_without_finishing_is_broken(canned: Canned, client: httpx.AsyncClient) -> None:
    with pytest.raises(UpstreamError) as caught:
        await collect(client, Target("openai_compatible", canned.url + "/cut-short", "", "local"), CHAT)
    assert caught.value.kind is ErrorKind.STREAM_BROKEN


async def test_an_error_object_answered_with_200_is_still_an_error(canned: Canned, client: httpx.AsyncClient) -> None:
    with pytest.raises(UpstreamError) as caught:
        await get_adapter("openai_compatible").chat(client, Target("openai_compatible", canned.url + "/error-in-200", "", "local"), CHAT)
    assert caught.value.kind is ErrorKind.UPSTREAM_5XX and caught.value.message == "Upstream model crashed"


async def test_anthropic_tool_use_answer(canned: Canned, client: httpx.AsyncClient) -> None:
    answer = await get_adapter("anthropic").chat(client, Target("anthropic", canned.url, "k", "claude-x"), CHAT)
    choice = ChatCompletion.model_validate(answer).choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me look."
    (call,) = choice.message.tool_calls or []
    assert (call.id, call.function.name, orjson.loads(call.function.arguments)) == ("toolu_1", "lookup", {"q": "cats"})
    assert answer["usage"] == {
        "prompt_tokens": 115,
        "completion_tokens": 7,
        "total_tokens": 122,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 5},
    }


async def test_anthropic_tool_use_stream(canned: Canned, client: httpx.AsyncClient) -> None:
    chunks = await collect(client, Target("anthropic", canned.url + "/stream", "k", "claude-x"), CHAT)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    calls = [call for c in chunks if c["choices"] for call in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls[0] == {"index": 0, "id": "toolu_9", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    assert "".join(c["function"]["arguments"] for c in calls) == '{"q": "cats"}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}


async def test_gemini_function_call_answer(canned: Canned, client: httpx.AsyncClient) -> None:
    answer = await get_adapter("gemini").chat(client, Target("gemini", canned.url, "k", "g"), CHAT)
    choice = ChatCompletion.model_validate(answer).choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "lookup" and orjson.loads(call.function.arguments) == {"q": "cats"}
    assert answer["model"] == "gemini-x"
    assert answer["usage"] == {
        "prompt_tokens": 20,
        "completion_tokens": 10,
        "total_tokens": 30,
        "completion_tokens_details": {"reasoning_tokens": 6},
    }
