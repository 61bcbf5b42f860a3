"""Parameters a route cannot honour: refused with 400 naming them, or dropped under ``drop_params``."""

from __future__ import annotations

import pytest

from services.errors import GatewayError
from services.gateway.adapters.base import Target
from services.gateway.parameters import honoured, unsupported

WEB = {"type": "web_search"}
FUNCTION = {"type": "function", "function": {"name": "f"}}


@pytest.mark.parametrize(
    ("kind", "body", "names"),
    [
        ("openai", {"n": 3, "logprobs": True, "tools": [WEB]}, []),
        ("openai_compatible", {"n": 3}, []),
        ("anthropic", {"n": 2, "logprobs": True, "tools": [FUNCTION, WEB]}, ["n", "logprobs", "tools"]),
        ("anthropic", {"n": 1, "logprobs": False, "tools": [FUNCTION]}, []),
        ("gemini", {"n": 2, "top_logprobs": 3}, ["logprobs"]),
        ("ollama", {"n": 2}, ["n"]),
    ],
)
def test_what_a_route_cannot_honour(kind: str, body: dict, names: list[str]) -> None:
    assert unsupported(body, kind) == names


def test_refused_naming_the_parameter() -> None:
    with pytest.raises(GatewayError) as caught:
        honoured({"model": "m", "logprobs": True}, Target("anthropic", "http://x", "k", "claude-x"))
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, "unsupported_parameter", "logprobs")


def test_dropped_when_the_model_says_so() -> None:
    body = {"model": "m", "n": 2, "logprobs": True, "top_logprobs": 2, "tools": [FUNCTION, WEB], "temperature": 0.1}
    kept, dropped = honoured(body, Target("anthropic", "http://x", "k", "claude-x", drop_params=True))
    assert kept == {"model": "m", "tools": [FUNCTION], "temperature": 0.1} and dropped == ["n", "logprobs", "tools"]


def test_a_presets_refused_parameters_are_refused_naming_the_service() -> None:
    groq = Target("openai_compatible", "http://x", "k", "llama-3.3-70b", options={"preset": "groq"})
    assert honoured({"model": "m", "n": 1, "logprobs": False, "temperature": 0}, groq)[1] == []
    with pytest.raises(GatewayError) as caught:
        honoured({"model": "m", "logit_bias": {"1": 5}}, groq)
    assert caught.value.param == "logit_bias" and "Groq, an openai_compatible provider" in caught.value.message
    kept, dropped = honoured({"model": "m", "n": 2, "top_logprobs": 2, "logprobs": True}, Target(
        "openai_compatible", "http://x", "k", "m", options={"preset": "groq"}, drop_params=True))
    assert kept == {"model": "m"} and dropped == ["logprobs", "top_logprobs", "n"]
