"""The upstream emulator against the official SDKs: if these clients accept it, so will real adapters."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator

import anthropic
import httpx
import ollama
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.factories import PATIENCE_S
from tests.upstream_emulator import (
    EMBEDDING_SIZE,
    EmulatorHandle,
    embedding_for,
    start_emulator,
)

PROMPT = "hello brave new world"
ANSWER = "Echo: " + PROMPT
ANSWER_TOKENS = 5
CHAT = [{"role": "user", "content": PROMPT}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorHandle]:
    handle = start_emulator()
    yield handle
    handle.stop()


def last_request(upstream: EmulatorHandle) -> dict:
    return upstream.requests()[-1]


# --- OpenAI ----------------------------------------------------------------------------------


def openai_client(upstream: EmulatorHandle, key: str = "ok") -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=upstream.url + "/v1", max_retries=0)


def test_openai_chat_json(upstream: EmulatorHandle) -> None:
    messages = [{"role": "system", "content": "be brief"}, *CHAT]
    completion = openai_client(upstream, "ok#chat").chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (6, 5, 11)
    recorded = last_request(upstream)
    assert recorded["path"] == "/v1/chat/completions" and recorded["provider"] == "openai"
    assert recorded["key"] == "ok#chat" and recorded["headers"]["authorization"] == "<redacted>"
    assert recorded["body"]["messages"] == messages


def test_openai_stream_with_usage(upstream: EmulatorHandle) -> None:
    stream = openai_client(upstream).chat.completions.create(
        model="gpt-4o-mini", messages=CHAT, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    words = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert words == ["Echo: ", "hello ", "brave ", "new ", "world"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == ANSWER_TOKENS
    assert chunks[-1].usage.prompt_tokens == 4
    # "All other chunks will also include a usage field, but with a null value" (the API reference)
    assert all("usage" in c.model_fields_set and c.usage is None for c in chunks[:-1])
    unasked = list(openai_client(upstream).chat.completions.create(model="gpt-4o-mini", messages=CHAT, stream=True))
    assert not any("usage" in c.model_fields_set for c in unasked)


def test_openai_embeddings_and_models(upstream: EmulatorHandle) -> None:
    client = openai_client(upstream)
    result = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta gamma"])
    assert result.data[0].embedding == pytest.approx(embedding_for("alpha"), abs=1e-6)
    assert result.data[1].embedding == pytest.approx(embedding_for("beta gamma"), abs=1e-6)
    assert len(result.data[0].embedding) == EMBEDDING_SIZE and result.usage.prompt_tokens == 3
    assert last_request(upstream)["body"]["encoding_format"] == "base64"  # the SDK's default, decoded above
    floats = client.embeddings.create(model="text-embedding-3-small", input="alpha", encoding_format="float")
    assert floats.data[0].embedding == embedding_for("alpha")
    assert "gpt-4o-mini" in [model.id for model in client.models.list()]


async def test_openai_async_chat_stream_and_embeddings(upstream: EmulatorHandle) -> None:
    client = openai.AsyncOpenAI(api_key="ok", base_url=upstream.url + "/v1", max_retries=0)
    completion = await client.chat.completions.create(model="gpt-4o", messages=CHAT)
    assert completion.choices[0].message.content == ANSWER
    stream = await client.chat.completions.create(model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].usage.total_tokens == 4 + ANSWER_TOKENS
    embedded = await client.embeddings.create(model="text-embedding-3-small", input="alpha")
    assert embedded.data[0].embedding == pytest.approx(embedding_for("alpha"), abs=1e-6)
    listed = [model.id async for model in client.models.list()]
    assert listed[0] == "gpt-4o-mini"
    await client.close()


def test_openai_errors(upstream: EmulatorHandle) -> None:
    def create(key: str) -> None:
        openai_client(upstream, key).chat.completions.create(model="gpt-4o-mini", messages=CHAT)

    with pytest.raises(openai.RateLimitError) as limited:
        create("rate-limit:3")
    assert limited.value.response.headers["retry-after"] == "3" and limited.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError) as quota:
        create("quota")
    assert quota.value.code == "insufficient_quota" and "retry-after" not in quota.value.response.headers
    with pytest.raises(openai.AuthenticationError):
        create("unauthorized")
    with pytest.raises(openai.PermissionDeniedError):
        create("forbidden")
    with pytest.raises(openai.BadRequestError) as context:
        create("context")
    assert context.value.code == "context_length_exceeded"
    with pytest.raises(openai.InternalServerError) as overloaded:
        create("overloaded")
    assert overloaded.value.status_code == 503


def test_openai_stream_error_and_break(upstream: EmulatorHandle) -> None:
    stream = openai_client(upstream, "stream-error").chat.completions.create(model="m", messages=CHAT, stream=True)
    received = [next(stream).choices[0].delta.content for _ in range(3)]
    assert received == ["", "Echo: ", "hello "]  # role chunk, then the two words before the error
    with pytest.raises(openai.APIError, match="server had an error"):
        next(stream)
    with pytest.raises(openai.APIConnectionError):
        list(openai_client(upstream, "break-stream").chat.completions.create(model="m", messages=CHAT, stream=True))


# --- Anthropic -------------------------------------------------------------------------------


def anthropic_client(upstream: EmulatorHandle, key: str = "ok") -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=upstream.url, max_retries=0)


def test_anthropic_messages_json(upstream: EmulatorHandle) -> None:
    message = anthropic_client(upstream, "ok#anthropic").messages.create(
        model="claude-haiku-4-5", max_tokens=64, system="be brief", messages=CHAT
    )
    assert message.content[0].text == ANSWER and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, ANSWER_TOKENS)
    recorded = last_request(upstream)
    assert recorded["path"] == "/v1/messages" and recorded["key"] == "ok#anthropic"
    assert recorded["headers"]["anthropic-version"] and recorded["headers"]["authorization"] == "<redacted>"


def test_anthropic_stream_helper_and_raw_events(upstream: EmulatorHandle) -> None:
    client = anthropic_client(upstream)
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=CHAT) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert texts == ["Echo: ", "hello ", "brave ", "new ", "world"]
    assert final.content[0].text == ANSWER and final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, ANSWER_TOKENS)
    events = list(client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=CHAT, stream=True))
    assert [event.type for event in events] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 5,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


async def test_anthropic_async_stream(upstream: EmulatorHandle) -> None:
    client = anthropic.AsyncAnthropic(api_key="ok", base_url=upstream.url, max_retries=0)
    async with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=CHAT) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == ANSWER and final.usage.output_tokens == ANSWER_TOKENS
    await client.close()


def test_anthropic_errors(upstream: EmulatorHandle) -> None:
    def create(key: str) -> None:
        anthropic_client(upstream, key).messages.create(model="claude-haiku-4-5", max_tokens=8, messages=CHAT)

    with pytest.raises(anthropic.OverloadedError) as overloaded:
        create("overloaded")
    assert isinstance(overloaded.value, anthropic.InternalServerError) and overloaded.value.status_code == 529
    with pytest.raises(anthropic.RateLimitError) as limited:
        create("rate-limit:2")
    assert limited.value.response.headers["retry-after"] == "2"
    with pytest.raises(anthropic.BadRequestError, match="credit balance is too low"):
        create("quota")
    with pytest.raises(anthropic.AuthenticationError):
        create("unauthorized")
    missing = httpx.post(upstream.url + "/v1/messages", json={"model": "m", "messages": CHAT})
    assert missing.status_code == 400 and "max_tokens" in missing.json()["error"]["message"]


def test_anthropic_stream_error_surfaces_during_iteration(upstream: EmulatorHandle) -> None:
    texts: list[str] = []
    opening = anthropic_client(upstream, "stream-error").messages.stream(model="claude-haiku-4-5", max_tokens=8, messages=CHAT)
    with pytest.raises(anthropic.APIStatusError) as failure, opening as stream:
        texts.extend(stream.text_stream)
    assert texts == ["Echo: ", "hello "]
    assert failure.value.body["error"]["type"] == "overloaded_error"


WEATHER_TOOL = {"name": "get_weather", "description": "The weather in a city", "input_schema": {
    "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}


def test_anthropic_tool_use_json_stream_and_round_trip(upstream: EmulatorHandle) -> None:
    client = anthropic_client(upstream)
    message = client.messages.create(model="claude-haiku-4-5@tool-use", max_tokens=64, messages=CHAT, tools=[WEATHER_TOOL])
    call = message.content[0]
    assert message.stop_reason == "tool_use" and call.type == "tool_use"
    assert call.name == "get_weather" and call.input == {"text": PROMPT} and call.id.startswith("toolu_")
    with client.messages.stream(model="claude-haiku-4-5@tool-use", max_tokens=64, messages=CHAT, tools=[WEATHER_TOOL]) as stream:
        pieces = [event.partial_json for event in stream if event.type == "input_json"]
        streamed = stream.get_final_message()
    assert len(pieces) == 3 and streamed.content[0].input == {"text": PROMPT}  # type: ignore[union-attr]
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}
    turn = [*CHAT, {"role": "assistant", "content": message.content}, {"role": "user", "content": [result]}]
    answer = client.messages.create(model="claude-haiku-4-5@tool-use", max_tokens=64, messages=turn, tools=[WEATHER_TOOL])
    assert answer.stop_reason == "end_turn" and answer.content[0].text == "Echo: sunny"  # type: ignore[union-attr]


def test_anthropic_thinking_blocks_carry_a_signature(upstream: EmulatorHandle) -> None:
    client = anthropic_client(upstream, "thinking")
    message = client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=CHAT)
    thought, text = message.content
    assert thought.type == "thinking" and thought.thinking and thought.signature
    assert text.type == "text" and text.text == ANSWER
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=CHAT) as stream:
        kinds = [event.type for event in stream]
        streamed = stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds
    assert streamed.content[0].signature == thought.signature and streamed.content[1].text == ANSWER  # type: ignore[union-attr]


def test_anthropic_count_tokens(upstream: EmulatorHandle) -> None:
    counted = anthropic_client(upstream).messages.count_tokens(model="claude-haiku-4-5", messages=CHAT, system="be brief")
    assert counted.input_tokens == len(PROMPT.split()) + 2
    assert last_request(upstream)["path"] == "/v1/messages/count_tokens"


def test_openai_tool_calls_json_and_stream(upstream: EmulatorHandle) -> None:
    client = openai.OpenAI(api_key="tool-use", base_url=upstream.url + "/v1", max_retries=0)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL["input_schema"]}}]
    answer = client.chat.completions.create(model="gpt-4o", messages=CHAT, tools=tools)  # type: ignore[arg-type]
    call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert answer.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"text": PROMPT}  # type: ignore[union-attr]
    with client.chat.completions.stream(model="gpt-4o", messages=CHAT, tools=tools) as stream:  # type: ignore[arg-type]
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.arguments == call.function.arguments  # type: ignore[index, union-attr]


# --- Gemini ----------------------------------------------------------------------------------


def gemini_client(upstream: EmulatorHandle, key: str = "ok") -> genai.Client:
    return genai.Client(api_key=key, http_options=genai_types.HttpOptions(base_url=upstream.url))


def test_gemini_generate_and_stream(upstream: EmulatorHandle) -> None:
    client = gemini_client(upstream, "ok#gemini")
    config = genai_types.GenerateContentConfig(system_instruction="be brief")
    response = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT, config=config)
    assert response.text == ANSWER
    assert (response.usage_metadata.prompt_token_count, response.usage_metadata.candidates_token_count) == (6, ANSWER_TOKENS)
    recorded = last_request(upstream)
    assert recorded["path"] == "/v1/models/gemini-2.5-flash:generateContent"  # google-genai 3.x defaults to v1
    assert recorded["key"] == "ok#gemini" and recorded["headers"]["x-goog-api-key"] == "<redacted>"
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT))
    assert [chunk.text for chunk in chunks] == ["Echo: ", "hello ", "brave ", "new ", "world"]
    assert chunks[-1].usage_metadata.total_token_count == 4 + ANSWER_TOKENS
    assert chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert last_request(upstream)["query"] == {"alt": "sse"}


def test_gemini_v1beta_embeddings(upstream: EmulatorHandle) -> None:
    client = genai.Client(api_key="ok", http_options=genai_types.HttpOptions(base_url=upstream.url, api_version="v1beta"))
    result = client.models.embed_content(model="text-embedding-004", contents=["alpha", "beta"])
    assert [embedding.values for embedding in result.embeddings] == [embedding_for("alpha"), embedding_for("beta")]
    assert last_request(upstream)["path"] == "/v1beta/models/text-embedding-004:batchEmbedContents"


async def test_gemini_async_stream(upstream: EmulatorHandle) -> None:
    client = gemini_client(upstream)
    stream = await client.aio.models.generate_content_stream(model="gemini-2.5-pro", contents=PROMPT)
    texts = [chunk.text async for chunk in stream]
    assert "".join(texts) == ANSWER


def test_gemini_errors(upstream: EmulatorHandle) -> None:
    limited_client, failing_client = gemini_client(upstream, "rate-limit:4"), gemini_client(upstream, "stream-error")
    with pytest.raises(genai_errors.APIError) as limited:
        limited_client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    assert limited.value.details["error"]["details"][0]["retryDelay"] == "4s"
    with pytest.raises(genai_errors.ServerError) as broken:
        list(failing_client.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT))
    assert broken.value.code == 503


def test_shared_models_path_is_told_apart_by_headers(upstream: EmulatorHandle) -> None:
    """`GET /v1/models` is the models list of OpenAI, Anthropic and Gemini alike."""
    assert [model.id for model in anthropic_client(upstream).models.list()] == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    gemini = gemini_client(upstream)  # kept in a variable: a collected genai.Client closes its HTTP client
    gemini_models = [model.name for model in gemini.models.list()]
    assert "models/gemini-2.5-flash" in gemini_models and last_request(upstream)["path"] == "/v1/models"
    assert next(model.id for model in openai_client(upstream).models.list()) == "gpt-4o-mini"
    single = httpx.post(upstream.url + "/v1beta/models/text-embedding-004:embedContent", headers={"x-goog-api-key": "ok"},
                        json={"content": {"parts": [{"text": "alpha"}]}})
    assert single.json() == {"embedding": {"values": embedding_for("alpha")}}


def test_model_lists_page_as_the_sdks_expect(upstream: EmulatorHandle) -> None:
    """Anthropic's list pages by ``after_id`` (20 a page), Gemini's by ``pageToken`` (50 a page): each SDK walks
    every page of a long list, and sees a short one whole; Ollama's tags carry their details."""
    upstream.reset()
    many = "many-models:45#pages"
    claude = [model.id for model in anthropic_client(upstream, many).models.list()]
    assert len(claude) == 47 and claude[:2] == ["claude-sonnet-4-5", "claude-haiku-4-5"] and len(set(claude)) == 47
    pages = [r["query"] for r in upstream.requests() if r["path"] == "/v1/models"]
    assert len(pages) == 3 and "after_id" not in pages[0] and pages[1]["after_id"] == claude[19]
    assert [m.id for m in anthropic_client(upstream).models.list(limit=1)] == ["claude-sonnet-4-5", "claude-haiku-4-5"]

    gemini = gemini_client(upstream, many)
    listed = [model.name for model in gemini.models.list(config={"page_size": 20})]
    assert len(listed) == 48 and len(set(listed)) == 48 and listed[0] == "models/gemini-2.5-flash"
    short = gemini_client(upstream)  # kept in a variable: a collected genai.Client closes its HTTP client
    flash = next(iter(short.models.list()))
    assert flash.input_token_limit == 1_048_576 and "generateContent" in (flash.supported_actions or [])

    tags = ollama.Client(host=upstream.url).list().models
    assert tags[0].details is not None and tags[0].details.family == "llama" and tags[0].details.parameter_size == "3.2B"


# --- Ollama ----------------------------------------------------------------------------------


def test_ollama_chat_stream_and_embed(upstream: EmulatorHandle) -> None:
    client = ollama.Client(host=upstream.url)
    response = client.chat(model="llama3.2", messages=CHAT, stream=False)
    assert response.message.content == ANSWER and response.done
    assert (response.prompt_eval_count, response.eval_count) == (4, ANSWER_TOKENS)
    parts = list(client.chat(model="llama3.2", messages=CHAT, stream=True))
    assert "".join(part.message.content for part in parts) == ANSWER
    assert parts[-1].done and parts[-1].eval_count == ANSWER_TOKENS and not parts[0].done
    assert last_request(upstream)["key"] is None
    embedded = client.embed(model="nomic-embed-text", input=["alpha", "beta"])
    assert [list(vector) for vector in embedded.embeddings] == [embedding_for("alpha"), embedding_for("beta")]
    assert [model.model for model in client.list().models] == ["llama3.2:latest", "nomic-embed-text:latest"]


async def test_ollama_async_and_errors(upstream: EmulatorHandle) -> None:
    client = ollama.AsyncClient(host=upstream.url)
    parts = [part async for part in await client.chat(model="llama3.2", messages=CHAT, stream=True)]
    assert parts[-1].eval_count == ANSWER_TOKENS
    assert (await client.embed(model="nomic-embed-text", input="alpha")).embeddings[0] == embedding_for("alpha")
    limited = ollama.AsyncClient(host=upstream.url, headers={"Authorization": "Bearer quota"})
    with pytest.raises(ollama.ResponseError) as failure:
        await limited.chat(model="llama3.2", messages=CHAT, stream=False)
    assert failure.value.status_code == 402
    failing = ollama.AsyncClient(host=upstream.url, headers={"Authorization": "Bearer stream-error"})
    stream = await failing.chat(model="llama3.2", messages=CHAT, stream=True)
    received = [(await anext(stream)).message.content for _ in range(2)]
    assert received == ["Echo: ", "hello "]
    with pytest.raises(ollama.ResponseError, match="error was encountered"):
        await anext(stream)


# --- raw behaviours --------------------------------------------------------------------------


def chat(client: httpx.Client, key: str, **extra: object) -> httpx.Response:
    return client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, json={"model": "m", "messages": CHAT, **extra})


def test_connection_failures(upstream: EmulatorHandle) -> None:
    with httpx.Client(base_url=upstream.url, timeout=2) as client:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            chat(client, "reset")
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete"):
            chat(client, "break-stream", stream=True)
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            chat(client, "break-stream")  # without streaming it is a reset
        with pytest.raises(httpx.ReadTimeout):
            client.post("/api/chat", headers={"Authorization": "Bearer hang"}, json={"model": "m"}, timeout=0.2)
        assert chat(client, "ok").json()["choices"][0]["message"]["content"] == ANSWER  # the server is unharmed


def test_rate_limit_variants(upstream: EmulatorHandle) -> None:
    with httpx.Client(base_url=upstream.url, timeout=2) as client:
        before = time.time()
        dated = chat(client, "rate-limit-date:30")
        after = time.time()
        assert dated.status_code == 429
        retry_at = email.utils.parsedate_to_datetime(dated.headers["retry-after"]).timestamp()
        assert before + 30 <= retry_at <= after + 31  # 30 s from the answer's moment, rounded up to the date's whole second
        assert chat(client, "rate-limit").headers["retry-after"] == "7"
        once = "rate-limit-once:2#raw"
        first = chat(client, once)
        assert first.status_code == 429 and first.headers["retry-after"] == "2"
        assert chat(client, once).status_code == 200
        assert chat(client, "rate-limit-once:2#other").status_code == 429  # each exact key string is limited once


def test_slow_delays_the_first_token_not_the_headers(upstream: EmulatorHandle) -> None:
    """Order, not duration: the head arrives on its own, the words after it (held back 2 s, far longer
    than it takes to read the head, so they cannot have arrived with it)."""
    body = {"model": "c", "max_tokens": 5, "messages": CHAT, "stream": True}
    with (
        httpx.Client(base_url=upstream.url, timeout=PATIENCE_S) as client,
        client.stream("POST", "/v1/messages", headers={"x-api-key": "slow:2"}, json=body) as response,
    ):
        assert response.status_code == 200
        chunks = response.iter_bytes()
        head = next(chunks)
        assert head.startswith(b"event: message_start") and b"text_delta" not in head
        assert b"text_delta" in next(chunks)


@pytest.mark.parametrize(
    ("kind", "openai_status", "anthropic_status", "gemini_status", "ollama_status"),
    [
        ("error-500", 500, 500, 500, 500),
        ("overloaded", 503, 529, 503, 503),
        ("unauthorized", 401, 401, 401, 401),
        ("forbidden", 403, 403, 403, 403),
        ("quota", 429, 400, 429, 402),
        ("context", 400, 400, 400, 400),
        ("bad-request", 400, 400, 400, 400),
    ],
)
def test_error_statuses_per_dialect(
    upstream: EmulatorHandle, kind: str, openai_status: int, anthropic_status: int, gemini_status: int, ollama_status: int
) -> None:
    with httpx.Client(base_url=upstream.url, timeout=2) as client:
        statuses = [
            chat(client, kind).status_code,
            client.post("/v1/messages", headers={"x-api-key": kind}, json={"model": "c", "max_tokens": 5, "messages": CHAT}).status_code,
            client.post(f"/v1beta/models/g:generateContent?key={kind}", json={"contents": [{"parts": [{"text": PROMPT}]}]}).status_code,
            client.post("/api/chat", headers={"Authorization": f"Bearer {kind}"}, json={"model": "l", "stream": False}).status_code,
        ]
    assert statuses == [openai_status, anthropic_status, gemini_status, ollama_status]


def test_request_log_endpoints(upstream: EmulatorHandle) -> None:
    with httpx.Client(base_url=upstream.url, timeout=2) as client:
        assert client.delete("/_emulator/requests").status_code == 200
        client.post("/v1beta/models/g:generateContent?key=ok%23log", json={"contents": [{"parts": [{"text": "x"}]}]})
        client.get("/v1/not-a-route")
        recorded = client.get("/_emulator/requests").json()["requests"]
        assert [(r["method"], r["path"], r["provider"]) for r in recorded] == [
            ("POST", "/v1beta/models/g:generateContent", "gemini"),
            ("GET", "/v1/not-a-route", None),
        ]
        assert recorded[0]["key"] == "ok#log" and recorded[0]["query"] == {"key": "<redacted>"}
        assert upstream.requests() == recorded
        upstream.reset()
        assert client.get("/_emulator/requests").json() == {"requests": []}
