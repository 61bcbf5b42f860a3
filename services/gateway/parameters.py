"""Chat parameters a route cannot honour: refused with a 400 naming them, or dropped when the logical
model says so (``drop_params``, an admin's choice per model).

OpenAI-format routes take every parameter as sent. The translating adapters cannot carry several
choices (``n`` > 1; Gemini can, as ``candidateCount``), token log probabilities (``logprobs``,
``top_logprobs``) or tools other than functions; silently leaving them out gave clients answers that
looked complete and were not.
"""

from __future__ import annotations

from services.errors import GatewayError
from services.gateway.adapters.base import Json, Target

PASS_THROUGH_KINDS = frozenset({"openai", "openai_compatible", "azure"})
SEVERAL_CHOICES_KINDS = frozenset({"gemini"})


def unsupported(body: Json, kind: str) -> list[str]:
    """The parameters of a chat body that a route of provider ``kind`` cannot honour, in body order."""
    if kind in PASS_THROUGH_KINDS:
        return []
    names = []
    n = body.get("n")
    if isinstance(n, int) and n > 1 and kind not in SEVERAL_CHOICES_KINDS:
        names.append("n")
    if body.get("logprobs") or body.get("top_logprobs"):
        names.append("logprobs")
    if _tool_types(body):
        names.append("tools")
    return names


def _tool_types(body: Json) -> list[str]:
    """The kinds of tool besides functions a body offers (built-in ones such as ``web_search``)."""
    tools = body.get("tools") or ()
    return sorted({str(tool.get("type")) for tool in tools if isinstance(tool, dict) and tool.get("type", "function") != "function"})


def honoured(body: Json, target: Target) -> tuple[Json, list[str]]:
    """The body this route can answer and the parameters dropped from it (only with ``drop_params``);
    GatewayError 400 ``unsupported_parameter`` naming the first one otherwise."""
    names = unsupported(body, target.kind)
    if not names:
        return body, []
    if not target.drop_params:
        what = f"`{names[0]}`" if names[0] != "tools" else "The tool type(s) " + ", ".join(f"`{kind}`" for kind in _tool_types(body))
        raise GatewayError(400, "unsupported_parameter", f"{what} is not supported on this model's route ({target.kind} "
                           f"provider, model {target.model}). Leave it out, or ask an admin to mark the model "
                           "\"drop unsupported parameters\".", param=names[0])
    kept = {name: value for name, value in body.items() if name not in ("n", "logprobs", "top_logprobs")}
    if "tools" in names:
        kept["tools"] = [tool for tool in body["tools"] if isinstance(tool, dict) and tool.get("type", "function") == "function"]
    return kept, names
