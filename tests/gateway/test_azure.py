"""Azure OpenAI: the emulator checked with the SDK's own Azure client, then the hub's ``azure`` kind
driven with the ``openai`` SDK: deployment paths and ``api-version``, the ``api-key`` header, an
Entra ID token minted once and reused, embeddings, and a content-filter refusal that is the caller's 400."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import RunningApp
from tests.factories import hub_process
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: azure-key
    kind: azure
    base_url: {url}
    options: {{api_version: 2024-06-01}}
    keys:
      - label: main
        secret: ok#azure-key
  - name: azure-entra
    kind: azure
    base_url: {url}
    options: {{token_url: "{url}/{{tenant_id}}/oauth2/v2.0/token"}}
    keys:
      - label: app
        secret: '{{"tenant_id": "contoso-tenant", "client_id": "hub-app", "client_secret": "ok#entra"}}'
  - name: azure-entra-wrong
    kind: azure
    base_url: {url}
    options: {{token_url: "{url}/{{tenant_id}}/oauth2/v2.0/token"}}
    keys:
      - label: app
        secret: '{{"tenant_id": "contoso-tenant", "client_id": "hub-app", "client_secret": "wrong-secret-value"}}'
models:
  - name: az-chat
    routes: [{{provider: azure-key, model: gpt4o-prod}}]
  - name: az-filtered
    routes: [{{provider: azure-key, model: gpt4o@content-filter}}]
  - name: az-embed
    routes: [{{provider: azure-key, model: embed-small}}]
  - name: az-entra
    routes: [{{provider: azure-entra, model: gpt4o-entra}}]
  - name: az-entra-wrong
    routes: [{{provider: azure-entra-wrong, model: gpt4o-entra}}]
"""
HELLO = [{"role": "user", "content": "hello azure"}]


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("azure"), CONFIG, emulator) as app:
        yield app


def calls_to(emulator: EmulatorHandle, path_part: str) -> list[dict]:
    return [r for r in emulator.requests() if path_part in r["path"]]


def test_the_emulator_speaks_azure_to_the_sdks_own_azure_client(emulator: EmulatorHandle) -> None:
    client = openai.AzureOpenAI(azure_endpoint=emulator.url, api_key="ok#sdk-azure", api_version="2024-10-21", max_retries=0)
    answer = client.chat.completions.create(model="gpt4o-sdk", messages=HELLO)
    assert answer.choices[0].message.content == "Echo: hello azure"
    token = httpx.post(f"{emulator.url}/sdk-tenant/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": "c", "client_secret": "ok#s", "scope": "https://cognitiveservices.azure.com/.default",
    }).json()["access_token"]
    with_token = openai.AzureOpenAI(azure_endpoint=emulator.url, azure_ad_token=token, api_version="2024-10-21", max_retries=0)
    streamed = with_token.chat.completions.create(model="gpt4o-sdk", messages=HELLO, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "Echo: hello azure"
    unversioned = httpx.post(f"{emulator.url}/openai/deployments/gpt4o-sdk/chat/completions", json={"messages": HELLO},
                             headers={"api-key": "ok"})
    assert unversioned.status_code == 404 and unversioned.json()["error"]["message"] == "Resource not found"
    stranger = openai.AzureOpenAI(azure_endpoint=emulator.url, azure_ad_token="forged", api_version="2024-10-21", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.chat.completions.create(model="gpt4o-sdk", messages=HELLO)


def test_chat_and_stream_go_to_the_deployment_with_the_api_key(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    sdk = hub_app.sdk()
    answer = sdk.chat.completions.create(model="az-chat", messages=HELLO)
    assert answer.choices[0].message.content == "Echo: hello azure" and answer.usage is not None
    stream = sdk.chat.completions.create(model="az-chat", messages=HELLO, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: hello azure"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    calls = calls_to(emulator, "/openai/deployments/gpt4o-prod/chat/completions")
    assert len(calls) >= 2 and {c["query"]["api-version"] for c in calls} == {"2024-06-01"}
    assert {c["key"] for c in calls} == {"ok#azure-key"} and "authorization" not in calls[0]["headers"]


def test_embeddings_go_to_the_deployment(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    answer = hub_app.sdk().embeddings.create(model="az-embed", input=["one two", "three"])
    assert len(answer.data) == 2 and answer.usage.prompt_tokens == 3
    assert calls_to(emulator, "/openai/deployments/embed-small/embeddings")[-1]["query"]["api-version"] == "2024-06-01"


def test_an_entra_id_token_is_minted_once_and_reused(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    sdk = hub_app.sdk()
    for _ in range(3):
        assert sdk.chat.completions.create(model="az-entra", messages=HELLO).choices[0].message.content == "Echo: hello azure"
    minted = calls_to(emulator, "/contoso-tenant/oauth2/v2.0/token")
    assert len(minted) == 1 and minted[0]["key"] == "hub-app"
    calls = calls_to(emulator, "/openai/deployments/gpt4o-entra/chat/completions")
    assert all(c["headers"]["authorization"] == "<redacted>" and c["key"] == "ok#entra" for c in calls)
    assert "api-key" not in calls[0]["headers"]


def test_a_refused_entra_credential_is_an_error_without_the_secret(hub_app: RunningApp) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        hub_app.sdk().chat.completions.create(model="az-entra-wrong", messages=HELLO)
    assert caught.value.status_code >= 400 and "wrong-secret-value" not in caught.value.response.text


def test_a_content_filter_refusal_is_the_callers_400_and_the_key_stays_healthy(hub_app: RunningApp) -> None:
    sdk = hub_app.sdk()
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="az-filtered", messages=HELLO)
    assert "content management policy" in str(caught.value)
    assert sdk.chat.completions.create(model="az-chat", messages=HELLO).choices[0].message.content == "Echo: hello azure"
    with hub_app.client() as admin:
        key = admin.get("/api/providers/azure-key").json()["keys"][0]
    assert key["status"] == "active"
