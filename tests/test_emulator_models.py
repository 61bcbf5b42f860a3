"""The emulator's per-model behaviours (a model name's ``@behaviour`` suffix) and ``context-limit``, seen
through the official SDKs: one key, one model rate limited or too small, the key's other models fine."""

from __future__ import annotations

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.upstream_emulator import EmulatorHandle, model_behaviour, parse_behaviour

LONG_PROMPT = "one two three four five six seven"


@pytest.fixture
def client(emulator: EmulatorHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=emulator.url + "/v1", api_key="ok#one-key", max_retries=0)


def ask(client: openai.OpenAI, model: str, prompt: str = "hi there") -> str | None:
    answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}])
    return answer.choices[0].message.content


def test_a_model_suffix_picks_the_behaviour_of_that_model_only(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        ask(client, "gpt-4o@rate-limit:30")
    assert limited.value.response.headers["retry-after"] == "30"
    assert ask(client, "gpt-4o-mini") == "Echo: hi there"  # same key, another model
    with pytest.raises(openai.RateLimitError):
        ask(client, "gpt-4o@rate-limit:30")


def test_the_model_behaviour_wins_over_the_key(emulator: EmulatorHandle) -> None:
    failing_key = openai.OpenAI(base_url=emulator.url + "/v1", api_key="error-500#k", max_retries=0)
    assert ask(failing_key, "gpt-4o@ok") == "Echo: hi there"
    with pytest.raises(openai.InternalServerError):
        ask(failing_key, "gpt-4o")


def test_context_limit_refuses_a_prompt_longer_than_its_words(client: openai.OpenAI) -> None:
    assert ask(client, "small@context-limit:7", LONG_PROMPT) == "Echo: " + LONG_PROMPT  # exactly 7 words fit
    with pytest.raises(openai.BadRequestError) as refused:
        ask(client, "small@context-limit:6", LONG_PROMPT)
    assert refused.value.code == "context_length_exceeded"


def test_context_limit_as_a_key_behaviour_in_anthropic_and_gemini(emulator: EmulatorHandle) -> None:
    claude = anthropic.Anthropic(base_url=emulator.url, api_key="context-limit:3", max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long"):
        claude.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": LONG_PROMPT}])
    short = claude.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert short.content[0].text == "Echo: hi"  # type: ignore[union-attr]
    gemini = genai.Client(api_key="ok#gemini", http_options=genai_types.HttpOptions(base_url=emulator.url))
    with pytest.raises(genai_errors.ClientError) as refused:
        gemini.models.generate_content(model="gemini-2.5-flash@context-limit:2", contents=LONG_PROMPT)
    assert refused.value.code == 400 and "exceeds the maximum number of tokens" in str(refused.value)


def test_rate_limit_once_per_model_suffix(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        ask(client, "once-model@rate-limit-once:2")
    assert ask(client, "once-model@rate-limit-once:2") == "Echo: hi there"


def test_suffix_parsing() -> None:
    assert model_behaviour("gpt-4o") is None and model_behaviour(None) is None
    assert model_behaviour("gpt-4o@context-limit:12") == parse_behaviour("context-limit:12")
    assert model_behaviour("gpt-4o@no-such-thing") == parse_behaviour("ok")
