"""Presets for the OpenAI-compatible services people add most: where each one is, how it takes its key,
and the parameters it refuses, in one table.

A provider made from a preset is an ``openai_compatible`` provider whose ``options.preset`` names it
(``preset: groq`` in the YAML config or the API fills ``kind``, ``base_url`` and that option; fields
given explicitly win). Only the name is stored: the table is read at run time, so a corrected quirk
reaches every provider made from it. Every preset sends the key as ``Authorization: Bearer``; the
local servers (vLLM, LM Studio) need none unless they were started with one.

``refused`` are the chat parameters the service answers with a 400 (from its own documentation): the
gateway refuses them on such a route itself, naming the parameter, or drops them when the model is
marked ``drop_params`` (``services.gateway.parameters``), so one route's quirk never surprises a
caller whose request fails over to it. ``n`` counts only above 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRESET_OPTION = "preset"


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    label: str
    base_url: str
    key_required: bool = True
    refused: tuple[str, ...] = ()
    note: str = ""
    test_model: str = ""  # what the key Test button asks for when no route names a model yet (a small, cheap one)


PRESETS: dict[str, Preset] = {preset.name: preset for preset in (
    Preset("groq", "Groq", "https://api.groq.com/openai/v1", test_model="llama-3.1-8b-instant",
           refused=("logprobs", "top_logprobs", "logit_bias", "n"),
           note="Refuses logprobs, top_logprobs, logit_bias and n above 1; a temperature of 0 is taken as 1e-8."),
    Preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", test_model="openai/gpt-4o-mini",
           note="Model names carry their vendor (anthropic/claude-sonnet-4.5); HTTP-Referer and X-Title headers are optional."),
    Preset("mistral", "Mistral", "https://api.mistral.ai/v1", test_model="mistral-small-latest"),
    Preset("deepseek", "DeepSeek", "https://api.deepseek.com/v1", test_model="deepseek-chat",
           note="deepseek-reasoner refuses logprobs and top_logprobs and ignores temperature, top_p and the penalties."),
    Preset("xai", "xAI (Grok)", "https://api.x.ai/v1", test_model="grok-3-mini",
           note="Grok's reasoning models refuse presence_penalty, frequency_penalty and stop."),
    Preset("together", "Together AI", "https://api.together.xyz/v1", test_model="meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    Preset("fireworks", "Fireworks AI", "https://api.fireworks.ai/inference/v1",
           test_model="accounts/fireworks/models/llama-v3p1-8b-instruct",
           note="Model names are paths: accounts/fireworks/models/<model>."),
    Preset("cerebras", "Cerebras", "https://api.cerebras.ai/v1", test_model="llama3.1-8b",
           refused=("frequency_penalty", "presence_penalty", "logit_bias", "parallel_tool_calls", "service_tier"),
           note="Refuses frequency_penalty, presence_penalty, logit_bias, parallel_tool_calls and service_tier."),
    Preset("vllm", "vLLM", "http://localhost:8000/v1", key_required=False,
           note="A key only if the server was started with --api-key."),
    Preset("lmstudio", "LM Studio", "http://localhost:1234/v1", key_required=False,
           note="The local server of the LM Studio app; it needs no key."),
)}


def preset_of(options: Mapping[str, str] | None) -> Preset | None:
    """The preset a provider was made from (its ``options.preset``), if any."""
    return PRESETS.get(options.get(PRESET_OPTION, "")) if options else None


def with_preset(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A provider's fields with its ``preset``'s filled in where they were left out; unchanged for an unknown
    preset (the ``preset`` field's own check names it)."""
    name, options = spec.get("preset"), spec.get("options")
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        return dict(spec)
    return {
        **spec, "kind": spec.get("kind") or "openai_compatible", "base_url": spec.get("base_url") or preset.base_url,
        "options": {PRESET_OPTION: preset.name, **(options if isinstance(options, dict) else {})},
    }


def known_preset(name: str) -> str:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: one of {', '.join(PRESETS)}")
    return name
