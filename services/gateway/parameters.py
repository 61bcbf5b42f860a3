"""Chat parameters a route cannot honour: refused with a 400 naming them, or dropped when the logical
model says so (``drop_params``, an admin's choice per model).

OpenAI-format routes take every parameter as sent, except those a preset's service is known to refuse
(``services.gateway.presets``). The translating adapters cannot carry several choices (``n`` > 1;
Gemini can, as ``candidateCount``), token log probabilities (``logprobs``, ``top_logprobs``) or tools
other than functions; silently leaving them out gave clients answers that looked complete and were not.
"""

from __future__ import annotations

from services.errors import GatewayError
from services.gateway.adapters.base import Json, Target
from services.gateway.presets import preset_of

PASS_THROUGH_KINDS = frozenset({"openai", "openai_compatible", "azure"})
SEVERAL_CHOICES_KINDS = frozenset({"gemini"})
DROPPED_WITH = {"n": ("n",), "logprobs": ("logprobs", "top_logprobs")}
"""A refused parameter's name → the fields dropped for it (every other name drops itself; ``tools`` is filtered)."""


def unsupported(body: Json, kind: str, refused: tuple[str, ...] = ()) -> list[str]:
    """The parameters of a chat body that a route of provider ``kind`` cannot honour, in body order;
    ``refused`` are those its service refuses besides (a preset's quirks)."""
    if kind in PASS_THROUGH_KINDS:
        return [name for name in refused if _given(body, name)] if refused else []
    names = []
    n = body.get("n")
    if isinstance(n, int) and n > 1 and kind not in SEVERAL_CHOICES_KINDS:
        names.append("n")
    if body.get("logprobs") or body.get("top_logprobs"):
        names.append("logprobs")
    if _tool_types(body):
        names.append("tools")
    return names


def _given(body: Json, name: str) -> bool:
    """Whether a request asks for ``name``: present and not null or false; ``n`` only above 1."""
    value = body.get(name)
    if name == "n":
        return isinstance(value, int) and value > 1
    return value is not None and value is not False


def _tool_types(body: Json) -> list[str]:
    """The kinds of tool besides functions a body offers (built-in ones such as ``web_search``)."""
    tools = body.get("tools") or ()
    return sorted({str(tool.get("type")) for tool in tools if isinstance(tool, dict) and tool.get("type", "function") != "function"})


def honoured(body: Json, target: Target) -> tuple[Json, list[str]]:
    """The body this route can answer and the parameters dropped from it (only with ``drop_params``);
    GatewayError 400 ``unsupported_parameter`` naming the first one otherwise."""
    preset = preset_of(target.options)
    names = unsupported(body, target.kind, preset.refused if preset is not None else ())
    if not names:
        return body, []
    if not target.drop_params:
        what = f"`{names[0]}`" if names[0] != "tools" else "The tool type(s) " + ", ".join(f"`{kind}`" for kind in _tool_types(body))
        service = f"{preset.label}, an {target.kind}" if preset is not None else target.kind
        raise GatewayError(400, "unsupported_parameter", f"{what} is not supported on this model's route ({service} "
                           f"provider, model {target.model}). Leave it out, or ask an admin to mark the model "
                           "\"drop unsupported parameters\".", param=names[0])
    dropped = {field for name in names for field in DROPPED_WITH.get(name, (name,))}
    kept = {name: value for name, value in body.items() if name not in dropped}
    if "tools" in names:
        kept["tools"] = [tool for tool in body["tools"] if isinstance(tool, dict) and tool.get("type", "function") == "function"]
    return kept, names
