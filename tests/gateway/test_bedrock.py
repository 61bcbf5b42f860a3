"""AWS Bedrock: the emulator checked with botocore's own bedrock-runtime client (Converse JSON, the
binary event stream through botocore's parser, SigV4 verification), then the hub's ``bedrock`` kind
driven with the ``openai`` SDK: signed and bearer keys, streams, tools, images, throttling, a wrong secret."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import botocore.session
import openai
import pytest
from botocore.exceptions import ClientError

from services.gateway.pricing import PriceTable
from tests.conftest import RunningApp
from tests.factories import hub_process
from tests.upstream_emulator import EmulatorHandle

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
CONFIG = """
providers:
  - name: bedrock-signed
    kind: bedrock
    base_url: {url}
    options: {{region: eu-west-1}}
    keys:
      - {{label: main, secret: "AKIDHUB:secret-AKIDHUB:session-token-1"}}
  - name: bedrock-bearer
    kind: bedrock
    base_url: {url}
    options: {{region: us-east-1}}
    keys:
      - {{label: api-key, secret: ABSKemulatedbedrockkey}}
  - name: bedrock-tools
    kind: bedrock
    base_url: {url}
    options: {{region: us-east-1}}
    keys:
      - {{label: main, secret: "tool-use:secret-tool-use"}}
  - name: bedrock-wrong
    kind: bedrock
    base_url: {url}
    options: {{region: us-east-1}}
    keys:
      - {{label: main, secret: "AKIDWRONG:not-the-secret"}}
models:
  - name: claude
    routes: [{{provider: bedrock-signed, model: "{model}"}}]
  - name: claude-bearer
    routes: [{{provider: bedrock-bearer, model: "us.{model}"}}]
  - name: claude-tools
    routes: [{{provider: bedrock-tools, model: "{model}"}}]
  - name: claude-throttled
    routes: [{{provider: bedrock-signed, model: "{model}@rate-limit"}}]
  - name: claude-wrong
    routes: [{{provider: bedrock-wrong, model: "{model}"}}]
"""
HELLO = [{"role": "user", "content": "hello bedrock"}]
TEXT = {"type": "object", "properties": {"text": {"type": "string"}}}
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": TEXT}}
PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\nnot-really-a-png").decode()


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("bedrock"), CONFIG, emulator, model=MODEL) as app:
        yield app


def aws_client(emulator: EmulatorHandle, access_key: str, secret_key: str):  # type: ignore[no-untyped-def]
    session = botocore.session.get_session()
    return session.create_client("bedrock-runtime", region_name="us-east-1", endpoint_url=emulator.url,
                                 aws_access_key_id=access_key, aws_secret_access_key=secret_key)


def bedrock_calls(emulator: EmulatorHandle, model: str) -> list[dict]:
    return [r for r in emulator.requests() if r["path"].startswith(f"/model/{model}/")]


def test_botocore_reads_the_emulators_converse_answers_and_event_stream(emulator: EmulatorHandle) -> None:
    client = aws_client(emulator, "AKIDBOTO", "secret-AKIDBOTO")
    messages = [{"role": "user", "content": [{"text": "hello bedrock"}]}]
    answer = client.converse(modelId=MODEL, messages=messages)
    assert answer["output"]["message"]["content"] == [{"text": "Echo: hello bedrock"}] and answer["stopReason"] == "end_turn"
    events = list(client.converse_stream(modelId=MODEL, messages=messages)["stream"])  # botocore's event-stream parser
    assert [next(iter(e)) for e in events][:2] == ["messageStart", "contentBlockDelta"]
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e) == "Echo: hello bedrock"
    assert events[-1]["metadata"]["usage"] == {"inputTokens": 2, "outputTokens": 3, "totalTokens": 5}
    with pytest.raises(ClientError) as caught:
        aws_client(emulator, "AKIDBOTO", "wrong-secret").converse(modelId=MODEL, messages=messages)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "signature we calculated does not match" in str(caught.value)


def test_chat_and_stream_are_signed_with_the_session_token(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    sdk = hub_app.sdk()
    answer = sdk.chat.completions.create(model="claude", messages=[{"role": "system", "content": "be brief"}, *HELLO], max_tokens=50)
    assert answer.choices[0].message.content == "Echo: hello bedrock"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 3)
    stream = sdk.chat.completions.create(model="claude", messages=HELLO, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: hello bedrock"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5
    calls = bedrock_calls(emulator, MODEL)
    assert {c["path"].rsplit("/", 1)[1] for c in calls} >= {"converse", "converse-stream"}
    first = calls[-2]
    assert first["key"] == "AKIDHUB" and first["headers"]["x-amz-security-token"] == "session-token-1"
    assert first["body"]["system"] == [{"text": "be brief"}] and first["body"]["inferenceConfig"] == {"maxTokens": 50}


def test_a_bedrock_api_key_goes_as_a_bearer_token_to_an_inference_profile(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    answer = hub_app.sdk().chat.completions.create(model="claude-bearer", messages=HELLO)
    assert answer.choices[0].message.content == "Echo: hello bedrock"
    assert bedrock_calls(emulator, f"us.{MODEL}")[-1]["key"] == "ABSKemulatedbedrockkey"


def test_tools_and_images_are_translated(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    sdk = hub_app.sdk()
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is here"}, image]}]
    answer = sdk.chat.completions.create(model="claude-tools", messages=messages, tools=[WEATHER], tool_choice="required")
    call = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, call.function.arguments) == ("weather", '{"text":"what is here"}')
    sent = bedrock_calls(emulator, MODEL)[-1]["body"]
    assert sent["messages"][0]["content"][1] == {"image": {"format": "png", "source": {"bytes": PIXEL}}}
    assert sent["toolConfig"]["toolChoice"] == {"any": {}} and sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "weather"
    follow_up = [*messages, answer.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    streamed = sdk.chat.completions.create(model="claude-tools", messages=follow_up, tools=[WEATHER], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "Echo: sunny"
    result = bedrock_calls(emulator, MODEL)[-1]["body"]["messages"][-1]["content"][0]
    assert result == {"toolResult": {"toolUseId": call.id, "content": [{"text": "sunny"}]}}


def test_throttling_is_a_429_for_the_caller(hub_app: RunningApp) -> None:
    with pytest.raises(openai.RateLimitError):
        hub_app.sdk().chat.completions.create(model="claude-throttled", messages=HELLO)


def test_a_wrong_secret_is_refused_by_signature_and_marks_the_key_invalid(hub_app: RunningApp) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        hub_app.sdk().chat.completions.create(model="claude-wrong", messages=HELLO)
    assert "not-the-secret" not in caught.value.response.text
    with hub_app.client() as admin:
        assert admin.get("/api/providers/bedrock-wrong").json()["keys"][0]["status"] == "invalid"


def test_inference_profiles_and_model_ids_price_like_their_model() -> None:
    table = PriceTable.load()
    assert table.price("bedrock", f"us.{MODEL}") == table.price("bedrock", MODEL) == table.price("anthropic", "claude-3-5-haiku-20241022")
    assert table.price("bedrock", "amazon.nova-lite-v1:0") is not None and table.price("bedrock", "unknown.model-v1") is None
