"""Images and audio: the emulator checked with the ``openai`` SDK's own calls, then the hub's
``/v1/images/generations``, ``/v1/audio/transcriptions`` and ``/v1/audio/speech`` driven with the same
calls: relayed to the route's upstream, failed over, metered per image / second / character, refused on
routes that cannot serve them, and a transcription's file held to its limit."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from services.gateway.media import MAX_AUDIO_BYTES
from tests.conftest import RunningApp
from tests.emulator_media import PIXEL_PNG, silence_wav
from tests.factories import hub_process, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: oa
    kind: openai
    base_url: {url}/v1
    keys: [{{label: main, secret: ok#media-main}}]
  - name: oa-limited
    kind: openai
    base_url: {url}/v1
    keys: [{{label: main, secret: "rate-limit:30#media-limited"}}]
  - name: az
    kind: azure
    base_url: {url}
    keys: [{{label: main, secret: ok#media-azure}}]
  - name: claude
    kind: anthropic
    base_url: {url}
    keys: [{{label: main, secret: ok#media-claude}}]
models:
  - name: img
    routes: [{{provider: oa-limited, model: dall-e-2, priority: 1}}, {{provider: oa, model: dall-e-2, priority: 2}}]
  - name: img-native
    routes: [{{provider: oa, model: gpt-image-1}}]
  - name: stt
    routes: [{{provider: oa, model: whisper-1}}]
  - name: tts
    routes: [{{provider: oa, model: tts-1}}]
  - name: claude-img
    routes: [{{provider: claude, model: claude-haiku-4-5}}]
  - name: tts-azure
    routes: [{{provider: az, model: my-tts-deployment}}]
"""
THREE_SECONDS = silence_wav(3.0, rate=8000)


def usage_of(app: RunningApp, endpoint: str, count: int = 1) -> list[dict]:
    """The newest ``count`` usage rows of ``endpoint`` once they are written (the usage API lists every endpoint)."""
    deadline = time.monotonic() + 10
    while True:
        rows = [row for row in wait_for_usage(app) if row["endpoint"] == endpoint]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows[:count]
        time.sleep(0.1)


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("media"), CONFIG, emulator) as app:
        yield app


def test_the_openai_sdk_reads_the_emulators_images_and_audio(emulator: EmulatorHandle) -> None:
    client = openai.OpenAI(base_url=emulator.url + "/v1", api_key="ok#sdk-media", max_retries=0)
    images = client.images.generate(model="gpt-image-1", prompt="a red pixel", n=2)
    assert [base64.b64decode(image.b64_json or "") for image in images.data or ()] == [PIXEL_PNG, PIXEL_PNG]
    assert images.usage is not None and images.usage.output_tokens == 544
    with pytest.raises(openai.BadRequestError, match="n=1"):
        client.images.generate(model="dall-e-3", prompt="two", n=2)
    transcript = client.audio.transcriptions.create(model="whisper-1", file=("hello.wav", THREE_SECONDS, "audio/wav"))
    assert transcript.text == "Echo: hello.wav" and transcript.usage is not None and transcript.usage.seconds == 3  # type: ignore[union-attr]
    verbose = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", THREE_SECONDS), response_format="verbose_json")
    assert verbose.duration == 3.0
    speech = client.audio.speech.create(model="tts-1", voice="alloy", input="hello there", response_format="wav")
    assert speech.response.headers["content-type"] == "audio/wav" and speech.content.startswith(b"RIFF")


def test_images_are_relayed_with_failover_and_priced_per_image(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    answer = hub_app.sdk().images.generate(model="img", prompt="two cats", n=2, response_format="b64_json")
    assert [base64.b64decode(image.b64_json or "") for image in answer.data or ()] == [PIXEL_PNG, PIXEL_PNG]
    sent = [r for r in emulator.requests() if r["path"] == "/v1/images/generations"][-2:]
    assert [r["key"] for r in sent] == ["rate-limit:30#media-limited", "ok#media-main"]
    assert sent[-1]["body"] == {"prompt": "two cats", "n": 2, "response_format": "b64_json", "model": "dall-e-2"}
    row = usage_of(hub_app, "images.generations")[0]
    assert (row["requested_model"], row["provider_name"], row["cost_micros"]) == ("img", "oa", 40_000)
    native = hub_app.sdk().images.generate(model="img-native", prompt="one")
    assert native.data is not None and len(native.data) == 1


def test_a_transcription_is_uploaded_and_priced_per_second(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    answer = hub_app.sdk().audio.transcriptions.create(model="stt", file=("meeting.wav", THREE_SECONDS, "audio/wav"), language="en")
    assert answer.text == "Echo: meeting.wav"
    sent = [r for r in emulator.requests() if r["path"] == "/v1/audio/transcriptions"][-1]
    assert sent["body"] == {"language": "en", "model": "whisper-1"}
    text = hub_app.sdk().audio.transcriptions.create(model="stt", file=("x.wav", THREE_SECONDS), response_format="text")
    assert str(text).strip() == "Echo: x.wav"
    rows = usage_of(hub_app, "audio.transcriptions", 2)
    assert [row["cost_micros"] for row in rows] == [300, 300]  # 3 s at $0.006 a minute: from usage.seconds, then from the WAV


def test_speech_comes_back_as_audio_priced_per_character(hub_app: RunningApp) -> None:
    speech = hub_app.sdk().audio.speech.create(model="tts", voice="alloy", input="hello there")
    assert speech.response.headers["content-type"] == "audio/mpeg" and len(speech.content) > 0
    assert speech.response.headers["x-llmhub-route"] == "oa/tts-1"
    row = usage_of(hub_app, "audio.speech")[0]
    assert row["cost_micros"] == 165  # 11 characters at $15 a million


def test_routes_that_cannot_serve_media_refuse_with_a_400(hub_app: RunningApp) -> None:
    with pytest.raises(openai.BadRequestError, match="image generation is not served on anthropic providers"):
        hub_app.sdk().images.generate(model="claude-img", prompt="a cat")
    with pytest.raises(openai.BadRequestError, match="`input`"):
        hub_app.sdk().audio.speech.create(model="tts", voice="alloy", input="")
    with pytest.raises(openai.BadRequestError, match="`prompt`"):
        hub_app.sdk().images.generate(model="img", prompt=5)  # type: ignore[arg-type]


def test_a_transcriptions_file_is_held_to_its_limit(hub_app: RunningApp) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        hub_app.sdk().audio.transcriptions.create(model="stt", file=("big.wav", b"\0" * (MAX_AUDIO_BYTES + 1)))
    assert caught.value.status_code == 413 and "larger than 25 MB" in caught.value.message
    with hub_app.client() as client:
        not_a_form = client.post("/v1/audio/transcriptions", json={"model": "stt"})
        no_file = client.post("/v1/audio/transcriptions", data={"model": "stt"}, files={"other": ("a.txt", b"x")})
    assert not_a_form.status_code == 400 and "multipart/form-data" in not_a_form.json()["error"]["message"]
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
    assert httpx.post(hub_app.url + "/v1/audio/transcriptions", files={"file": ("a.wav", b"x")}).status_code == 401


def test_azure_deployments_serve_speech_with_the_api_key(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    speech = hub_app.sdk().audio.speech.create(model="tts-azure", voice="alloy", input="hello azure", response_format="wav")
    assert speech.response.headers["content-type"] == "audio/wav" and speech.content.startswith(b"RIFF")
    sent = [r for r in emulator.requests() if r["path"] == "/openai/deployments/my-tts-deployment/audio/speech"][-1]
    assert sent["headers"]["api-key"] == "ok#media-azure" and sent["query"]["api-version"]
