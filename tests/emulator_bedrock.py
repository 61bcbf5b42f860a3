"""The emulator's AWS Bedrock: the Converse API, its binary event stream and SigV4 verification.

From AWS's Bedrock Runtime reference: ``POST /model/{modelId}/converse`` answers JSON
(``output.message.content`` blocks, ``stopReason``, ``usage``); ``/converse-stream`` answers
``application/vnd.amazon.eventstream``: binary messages (a prelude of total and headers length and
its CRC32, headers as name/type/value, a JSON payload, a CRC32 of the whole message) whose
``:event-type`` is ``messageStart``, ``contentBlockStart``/``Delta``/``Stop``, ``messageStop`` or
``metadata``; a failure inside the stream is a message of ``:message-type`` ``exception``.

Every request is SigV4-signed (service ``bedrock``) or carries a Bedrock API key as a bearer token.
The emulator knows one secret per access key id: ``secret-<access key id>``. It recomputes the
signature over the request it received (botocore's canonical request, so the hub's signature must
match what went on the wire) and refuses a wrong one with 403 as AWS does. The access key id is the
behaviour key (see ``upstream_emulator``), and a model id's ``@behaviour`` suffix works as usual.
"""

from __future__ import annotations

import hmac
import re
import struct
import zlib
from typing import Any, ClassVar

import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.upstream_emulator import Dialect, Reply, bearer, count_words, json_response, last_user_text, text_of

JSON = dict[str, Any]
EVENT_STREAM = "application/vnd.amazon.eventstream"
SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<access>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,\s*"
    r"SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def emulated_secret(access_key_id: str) -> str:
    """The secret access key the emulator expects with ``access_key_id``."""
    return f"secret-{access_key_id}"


def event_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message; every header a string (type 7)."""
    encoded = b"".join(
        struct.pack(">B", len(name)) + name + b"\x07" + struct.pack(">H", len(value)) + value
        for name, value in ((n.encode(), v.encode()) for n, v in headers.items())
    )
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, data: JSON) -> bytes:
    return event_frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, orjson.dumps(data))


async def refused_signature(request: web.Request) -> web.Response | None:
    """None when the request is signed right (or carries a bearer API key), else AWS's 403."""
    if bearer(request):
        return None
    match = SIGV4.fullmatch(request.headers.get("Authorization", ""))
    if match is None or "X-Amz-Date" not in request.headers:
        return json_response({"message": "Missing Authentication Token"}, 403)
    signed = match["signed"].split(";")
    headers = {name: request.headers[name] for name in signed if name != "host" and name in request.headers}
    aws = AWSRequest(method=request.method, url=f"http://{request.host}{request.raw_path}", data=await request.read(), headers=headers)
    aws.context["timestamp"] = request.headers["X-Amz-Date"]
    credentials = Credentials(match["access"], emulated_secret(match["access"]), request.headers.get("X-Amz-Security-Token"))
    signer = SigV4Auth(credentials, match["service"], match["region"])
    expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    if match["service"] != "bedrock" or not hmac.compare_digest(expected, match["signature"]):
        return json_response({"message": SIGNATURE_MISMATCH}, 403)
    return None


class BedrockDialect(Dialect):
    name = "bedrock"
    stream_content_type = EVENT_STREAM
    chat_required = ("messages",)
    _ERRORS: ClassVar[dict[str, tuple[int, str]]] = {
        "rate-limit": (429, "Too many requests, please wait before trying again."),
        "quota": (429, "You have exceeded your service quota for this model."),
        "error-500": (500, "The server encountered an internal error while processing the request."),
        "overloaded": (503, "The service is temporarily unable to handle the request."),
        "unauthorized": (403, "The security token included in the request is invalid."),
        "forbidden": (403, "You don't have access to the model with the specified model ID."),
        "context": (400, "Input is too long for requested model."),
        "bad-request": (400, "Malformed input request, please reformat your input and try again."),
    }

    def api_key(self, request: web.Request) -> str | None:
        match = SIGV4.fullmatch(request.headers.get("Authorization", ""))
        return match["access"] if match else bearer(request)

    def conversation(self, body: JSON) -> tuple[list[str], str]:
        messages = [{"role": m.get("role"), "content": self._as_parts(m.get("content"))} for m in body.get("messages") or []]
        system = [text_of(self._as_parts(body.get("system")))] if body.get("system") else []
        return system + [text_of(m["content"]) for m in messages], last_user_text(messages)

    @staticmethod
    def _as_parts(blocks: Any) -> list[JSON]:
        """Converse blocks as the OpenAI-style parts ``text_of`` reads (a tool result's text included)."""
        parts = []
        for block in blocks or ():
            if "text" in block:
                parts.append({"type": "text", "text": block["text"]})
            elif "toolResult" in block:
                parts += [{"type": "text", "text": c.get("text", "")} for c in block["toolResult"].get("content") or ()]
        return parts

    def called_tool(self, body: JSON) -> str | None:
        tools = (body.get("toolConfig") or {}).get("tools") or []
        last = (body.get("messages") or [{}])[-1]
        if not tools or any("toolResult" in block for block in last.get("content") or ()):
            return None
        return str(tools[0]["toolSpec"]["name"])

    def chat_json(self, reply: Reply) -> JSON:
        block = {"toolUse": self._use(reply, orjson.loads(reply.answer))} if reply.tool else {"text": reply.answer}
        return {
            "output": {"message": {"role": "assistant", "content": [block]}}, "stopReason": "tool_use" if reply.tool else "end_turn",
            "usage": self._usage(reply), "metrics": {"latencyMs": 1},
        }

    def stream_head(self, reply: Reply) -> bytes:
        head = event("messageStart", {"role": "assistant"})
        if reply.tool:
            head += event("contentBlockStart", {"start": {"toolUse": self._use(reply, None)}, "contentBlockIndex": 0})
        return head

    def stream_piece(self, reply: Reply, index: int) -> bytes:
        delta = {"toolUse": {"input": reply.pieces[index]}} if reply.tool else {"text": reply.pieces[index]}
        return event("contentBlockDelta", {"delta": delta, "contentBlockIndex": 0})

    def stream_tail(self, reply: Reply) -> bytes:
        return (event("contentBlockStop", {"contentBlockIndex": 0})
                + event("messageStop", {"stopReason": "tool_use" if reply.tool else "end_turn"})
                + event("metadata", {"usage": self._usage(reply), "metrics": {"latencyMs": 1}}))

    def stream_error(self) -> bytes:
        headers = {":exception-type": "internalServerException", ":content-type": "application/json", ":message-type": "exception"}
        return event_frame(headers, orjson.dumps({"message": self._ERRORS["error-500"][1]}))

    def error(self, kind: str, retry_after: float, message: str | None = None) -> tuple[int, JSON]:
        status, text = self._ERRORS[kind]
        return status, {"message": message or text}

    def models_json(self, models: list[str], query: dict[str, str]) -> JSON:
        return {"modelSummaries": [{"modelId": model} for model in models]}

    @staticmethod
    def _use(reply: Reply, arguments: Any) -> JSON:
        use: JSON = {"toolUseId": f"tooluse_{reply.id}", "name": reply.tool}
        return use if arguments is None else {**use, "input": arguments}

    @staticmethod
    def _usage(reply: Reply) -> JSON:
        return {"inputTokens": reply.prompt_tokens, "outputTokens": count_words(reply.answer), "totalTokens": reply.total_tokens}


BEDROCK = BedrockDialect()
