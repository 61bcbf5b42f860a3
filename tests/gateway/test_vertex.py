"""Google Vertex AI: the emulator checked with the official SDKs' Vertex modes (google-genai with
google-auth's service-account credentials, which mint their own JWT against the emulator's token
endpoint; anthropic's AnthropicVertex), then the hub's ``vertex`` kind driven with the ``openai`` SDK:
Gemini and Claude on Vertex, chat, streams and tools, one token minted and reused, a bad service
account refused as an auth failure of the key, embeddings refused, the private key kept out of logs."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import openai
import orjson
import pytest
from google import genai
from google.auth.exceptions import RefreshError
from google.genai import types
from google.oauth2 import service_account

from services.gateway.pricing import PriceTable
from tests.conftest import RunningApp
from tests.emulator_vertex import CLOUD_PLATFORM, throwaway_service_account
from tests.factories import hub_process
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: vertex-main
    kind: vertex
    base_url: {url}
    options: {{project: hub-project, location: europe-west4, token_url: "{url}/token"}}
    keys:
      - {{label: sa, secret: '{account}'}}
  - name: vertex-tools
    kind: vertex
    base_url: {url}
    options: {{project: hub-project, location: global, token_url: "{url}/token"}}
    keys:
      - {{label: sa, secret: '{tool_account}'}}
  - name: vertex-stranger
    kind: vertex
    base_url: {url}
    options: {{project: hub-project, location: us-central1, token_url: "{url}/token"}}
    keys:
      - {{label: sa, secret: '{stranger}'}}
models:
  - name: gemini
    routes: [{{provider: vertex-main, model: gemini-2.5-flash}}]
  - name: claude
    routes: [{{provider: vertex-main, model: "claude-sonnet-4-5@20250929"}}]
  - name: gemini-tools
    routes: [{{provider: vertex-tools, model: gemini-2.5-pro}}]
  - name: claude-tools
    routes: [{{provider: vertex-tools, model: claude-haiku-4-5}}]
  - name: gemini-stranger
    routes: [{{provider: vertex-stranger, model: gemini-2.5-flash}}]
"""
HELLO = [{"role": "user", "content": "hello vertex"}]
TEXT = {"type": "object", "properties": {"text": {"type": "string"}}}
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": TEXT}}


@pytest.fixture(scope="module")
def accounts(emulator: EmulatorHandle) -> dict[str, dict[str, str]]:
    return {
        "account": throwaway_service_account("hub@hub-project.iam.gserviceaccount.com", emulator.url),
        "tool_account": throwaway_service_account("tool-use@hub-project.iam.gserviceaccount.com", emulator.url),
        "stranger": throwaway_service_account("stranger@hub-project.iam.gserviceaccount.com"),  # never registered
    }


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, accounts: dict[str, dict[str, str]],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    secrets = {name: orjson.dumps(account).decode() for name, account in accounts.items()}
    with hub_process(tmp_path_factory.mktemp("vertex"), CONFIG, emulator, **secrets) as app:
        yield app


def vertex_calls(emulator: EmulatorHandle, publisher: str) -> list[dict]:
    return [r for r in emulator.requests() if f"/publishers/{publisher}/models/" in r["path"]]


def google_credentials(account: dict[str, str], emulator: EmulatorHandle) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_info({**account, "token_uri": f"{emulator.url}/token"}, scopes=[CLOUD_PLATFORM])


def test_google_genai_and_google_auth_speak_to_the_emulators_vertex(emulator: EmulatorHandle, accounts: dict[str, dict[str, str]]) -> None:
    credentials = google_credentials(accounts["account"], emulator)
    client = genai.Client(vertexai=True, project="sdk-project", location="us-central1", credentials=credentials,
                          http_options=types.HttpOptions(base_url=emulator.url, api_version="v1"))
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="hello vertex")
    assert answer.text == "Echo: hello vertex" and answer.usage_metadata is not None
    streamed = client.models.generate_content_stream(model="gemini-2.5-flash", contents="hello vertex")
    assert "".join(chunk.text or "" for chunk in streamed) == "Echo: hello vertex"
    paths = [r["path"] for r in vertex_calls(emulator, "google")[-2:]]
    assert paths == ["/v1/projects/sdk-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent",
                     "/v1/projects/sdk-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent"]
    with pytest.raises(RefreshError, match="account not found"):
        google_credentials(accounts["stranger"], emulator).refresh(google_auth_request())


def test_anthropic_vertex_speaks_to_the_emulators_claude(emulator: EmulatorHandle, accounts: dict[str, dict[str, str]]) -> None:
    credentials = google_credentials(accounts["account"], emulator)
    credentials.refresh(google_auth_request())
    client = anthropic.AnthropicVertex(region="us-east5", project_id="sdk-project", access_token=credentials.token,
                                       base_url=f"{emulator.url}/v1", max_retries=0)
    message = client.messages.create(model="claude-sonnet-4-5@20250929", max_tokens=50, messages=HELLO)
    assert message.content[0].type == "text" and message.content[0].text == "Echo: hello vertex"
    with client.messages.stream(model="claude-sonnet-4-5@20250929", max_tokens=50, messages=HELLO) as stream:
        assert "".join(stream.text_stream) == "Echo: hello vertex"
    sent = vertex_calls(emulator, "anthropic")[-1]
    assert sent["path"].endswith("/claude-sonnet-4-5@20250929:streamRawPredict") and "model" not in sent["body"]
    raw_predict = emulator.url + sent["path"].replace("streamRawPredict", "rawPredict")
    unversioned = httpx.post(raw_predict, json={"max_tokens": 5, "messages": HELLO},
                             headers={"Authorization": f"Bearer {credentials.token}"})
    assert unversioned.status_code == 400 and "anthropic_version" in unversioned.text
    forged = anthropic.AnthropicVertex(region="us-east5", project_id="sdk-project", access_token="ya29.forged",
                                       base_url=f"{emulator.url}/v1", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError, match="invalid authentication credentials"):
        forged.messages.create(model="claude-sonnet-4-5@20250929", max_tokens=50, messages=HELLO)


def test_a_tampered_assertion_is_refused_by_signature(emulator: EmulatorHandle, accounts: dict[str, dict[str, str]]) -> None:
    impostor = {**throwaway_service_account("x@y"), "client_email": accounts["account"]["client_email"]}  # another private key
    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        google_credentials(impostor, emulator).refresh(google_auth_request())


def google_auth_request():  # type: ignore[no-untyped-def]
    from google.auth.transport.requests import Request

    return Request()


def token_grants(emulator: EmulatorHandle) -> int:
    return sum(1 for r in emulator.requests() if r["path"] == "/token")


def test_gemini_on_vertex_chat_and_stream_with_one_minted_token(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    sdk = hub_app.sdk()
    grants = token_grants(emulator)
    answer = sdk.chat.completions.create(model="gemini", messages=[{"role": "system", "content": "be brief"}, *HELLO], max_tokens=40)
    assert answer.choices[0].message.content == "Echo: hello vertex"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 3)
    stream = sdk.chat.completions.create(model="gemini", messages=HELLO, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: hello vertex"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 5
    calls = vertex_calls(emulator, "google")
    base = "/v1/projects/hub-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash"
    assert [c["path"] for c in calls[-2:]] == [f"{base}:generateContent", f"{base}:streamGenerateContent"]
    assert calls[-1]["query"] == {"alt": "sse"} and calls[-2]["body"]["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert calls[-1]["key"] == "hub" and calls[-1]["headers"]["authorization"] == "<redacted>"
    assert sdk.chat.completions.create(model="claude", messages=HELLO).choices[0].message.content == "Echo: hello vertex"
    assert token_grants(emulator) == grants + 1  # one token for the key, Gemini and Claude alike


def test_claude_on_vertex_chat_and_stream_use_raw_predict(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    sdk = hub_app.sdk()
    answer = sdk.chat.completions.create(model="claude", messages=HELLO, temperature=0.2, top_p=0.9)
    assert answer.choices[0].message.content == "Echo: hello vertex" and answer.usage is not None and answer.usage.total_tokens == 5
    stream = sdk.chat.completions.create(model="claude", messages=HELLO, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: hello vertex"
    calls = vertex_calls(emulator, "anthropic")
    base = "/v1/projects/hub-project/locations/europe-west4/publishers/anthropic/models/claude-sonnet-4-5@20250929"
    assert [c["path"] for c in calls[-2:]] == [f"{base}:rawPredict", f"{base}:streamRawPredict"]
    sent = calls[-2]["body"]
    assert sent["anthropic_version"] == "vertex-2023-10-16" and "model" not in sent and "top_p" not in sent
    assert calls[-1]["body"]["stream"] is True


@pytest.mark.parametrize(("model", "result"), [
    ("gemini-tools", {"functionResponse": {"name": "weather", "response": {"content": "sunny"}}}),
    ("claude-tools", {"type": "tool_result", "tool_use_id": "<the call's id>", "content": "sunny"}),
])
def test_tools_on_vertex_round_trip(hub_app: RunningApp, emulator: EmulatorHandle, model: str, result: dict) -> None:
    sdk = hub_app.sdk()
    messages = [{"role": "user", "content": "what is the weather"}]
    answer = sdk.chat.completions.create(model=model, messages=messages, tools=[WEATHER], tool_choice="required")
    call = answer.choices[0].message.tool_calls[0]
    assert answer.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, orjson.loads(call.function.arguments)) == ("weather", {"text": "what is the weather"})
    follow_up = [*messages, answer.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    streamed = sdk.chat.completions.create(model=model, messages=follow_up, tools=[WEATHER], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices).startswith("Echo:")
    sent = vertex_calls(emulator, "anthropic" if model.startswith("claude") else "google")[-1]["body"]
    last = (sent.get("messages") or sent.get("contents"))[-1]
    expected = {**result, "tool_use_id": call.id} if "tool_use_id" in result else result
    assert (last.get("content") or last.get("parts"))[0] == expected


def test_an_unknown_service_account_is_an_auth_failure_of_the_key_not_a_500(hub_app: RunningApp,
                                                                            accounts: dict[str, dict[str, str]]) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        hub_app.sdk().chat.completions.create(model="gemini-stranger", messages=HELLO)
    assert (caught.value.status_code, caught.value.code) == (502, "all_upstreams_failed")  # the one route's key failed, not the hub
    body = caught.value.response.text
    assert "BEGIN PRIVATE KEY" not in body and accounts["stranger"]["private_key_id"] not in body
    with hub_app.client() as admin:
        key = admin.get("/api/providers/vertex-stranger").json()["keys"][0]
    assert key["status"] == "invalid" and key["last_error"].endswith("the token endpoint refused the credential: invalid_grant: "
                                                                     "Invalid grant: account not found")
    assert key["secret_masked"].count("*") >= 0 and "PRIVATE" not in key["secret_masked"]


def test_embeddings_on_vertex_are_refused_as_the_callers_request(hub_app: RunningApp) -> None:
    with pytest.raises(openai.BadRequestError, match="embeddings are not served on vertex providers"):
        hub_app.sdk().embeddings.create(model="gemini", input="one")


def test_vertex_models_price_by_family() -> None:
    table = PriceTable.load()
    assert table.price("vertex", "claude-sonnet-4-5@20250929") == table.price("anthropic", "claude-sonnet-4-5")
    assert table.price("vertex", "gemini-2.5-flash-001") == table.price("gemini", "gemini-2.5-flash")
    assert table.price("vertex", "text-bison") is None
