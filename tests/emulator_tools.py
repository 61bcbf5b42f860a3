"""The emulator's tool calls and structured outputs, shared by its dialects.

A model calls a tool when the request forces one (OpenAI ``tool_choice`` required or a named function,
Anthropic ``any``/``tool``, Gemini mode ``ANY``) or when the last user text starts with
``use a tool``: the first (or the named) tool, its arguments a sample of its JSON schema. A request
for structured output (a JSON schema) is answered with a sample of that schema. Samples are
deterministic: a string is the last user text, a number its word count, an array one item, an enum
its first value.
"""

from __future__ import annotations

import hashlib
from typing import Any

JSON = dict[str, Any]
TOOL_TRIGGER = "use a tool"


def sample_of(schema: Any, text: str, definitions: JSON | None = None) -> Any:
    """A value that satisfies ``schema`` (the subset pydantic and SDKs write: types, enums, ``$ref``,
    ``anyOf``, nested objects and arrays)."""
    if not isinstance(schema, dict):
        return text
    definitions = definitions if definitions is not None else {**schema.get("$defs", {}), **schema.get("definitions", {})}
    if ref := schema.get("$ref"):
        return sample_of(definitions.get(str(ref).rpartition("/")[2], {}), text, definitions)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = [option for option in schema.get(combinator) or () if option.get("type") != "null"]
        if options:
            return sample_of(options[0], text, definitions)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        return {name: sample_of(sub, text, definitions) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [sample_of(schema.get("items") or {}, text, definitions)]
    if kind == "integer":
        return len(text.split())
    if kind == "number":
        return float(len(text.split()))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return text


def wants_tool(last_user: str, forced: bool) -> bool:
    return forced or last_user.lower().startswith(TOOL_TRIGGER)


def thought_signature(name: str, arguments: JSON) -> str:
    """The opaque signature Gemini 3 puts beside a ``functionCall`` (here a hash of the call)."""
    return "c2ln" + hashlib.sha256(f"{name}{sorted(arguments.items())}".encode()).hexdigest()[:24]


def missing_signature(contents: list[JSON]) -> str | None:
    """Gemini 3's refusal of a replayed ``functionCall`` part without its ``thoughtSignature``."""
    for content in contents:
        if content.get("role") != "model":
            continue
        for position, part in enumerate(content.get("parts") or ()):
            if "functionCall" in part and not part.get("thoughtSignature"):
                name = (part["functionCall"] or {}).get("name", "")
                return (
                    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
                    f"correctly, and missing thought_signature may lead to degraded model performance. Additional data, function "
                    f"call `default_api:{name}` , position {position + 1}. Please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                )
    return None
