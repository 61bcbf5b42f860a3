"""Ready-to-paste calls of the gateway (curl, Python, TypeScript) for a base URL, a token and a model.

Shown once with a new token (filled in with it) and on the Home page (with a placeholder), so the
first call needs no reading. Every value is quoted for the language it lands in.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

TOKEN_PLACEHOLDER = "$LLMHUB_TOKEN"
PROMPT = "Say hello in five words."


@dataclass(frozen=True, slots=True)
class Snippet:
    language: str  # the code block's highlighting language
    title: str
    code: str


def gateway_snippets(base_url: str, token: str, model: str) -> list[Snippet]:
    """curl, the OpenAI Python SDK and the OpenAI TypeScript SDK calling ``model`` at ``base_url``/v1."""
    api = base_url.rstrip("/") + "/v1"
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}]})
    auth = f'"Authorization: Bearer {token}"' if token == TOKEN_PLACEHOLDER else shlex.quote(f"Authorization: Bearer {token}")
    curl = (
        f"curl {shlex.quote(api + '/chat/completions')} \\\n"
        f"  -H {auth} \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}"
    )
    python_key = 'os.environ["LLMHUB_TOKEN"]' if token == TOKEN_PLACEHOLDER else json.dumps(token)
    python = (
        ("import os\n\n" if token == TOKEN_PLACEHOLDER else "")
        + "from openai import OpenAI\n\n"
        + f"client = OpenAI(base_url={json.dumps(api)}, api_key={python_key})\n"
        + f"answer = client.chat.completions.create(\n    model={json.dumps(model)},\n"
        + f"    messages=[{{\"role\": \"user\", \"content\": {json.dumps(PROMPT)}}}],\n)\n"
        + "print(answer.choices[0].message.content)"
    )
    typescript_key = "process.env.LLMHUB_TOKEN" if token == TOKEN_PLACEHOLDER else json.dumps(token)
    typescript = (
        'import OpenAI from "openai";\n\n'
        + f"const client = new OpenAI({{ baseURL: {json.dumps(api)}, apiKey: {typescript_key} }});\n"
        + "const answer = await client.chat.completions.create({\n"
        + f"  model: {json.dumps(model)},\n"
        + f"  messages: [{{ role: \"user\", content: {json.dumps(PROMPT)} }}],\n}});\n"
        + "console.log(answer.choices[0].message.content);"
    )
    return [Snippet("bash", "curl", curl), Snippet("python", "Python", python), Snippet("typescript", "TypeScript", typescript)]
