"""OpenAI Responses API answers and streams: the response object built from a chat answer, a chat
stream translated into the typed Responses events, and a native Responses stream watched on its way.

A translated stream opens with ``response.created`` and ``response.in_progress``; a run of text is a
``message`` item (``response.output_item.added``, ``response.content_part.added``, then
``response.output_text.delta`` … ``response.output_text.done``, ``response.content_part.done``,
``response.output_item.done``); each tool call a ``function_call`` item
(``response.function_call_arguments.delta`` … ``.done``). ``response.completed`` (or
``response.incomplete`` after a length or content-filter stop) closes it with the whole response
and its usage. Every event carries its ``sequence_number``.
"""

from __future__ import annotations

import time

from services.gateway.adapters.base import Json
from services.gateway.adapters.errors import classify_event
from services.gateway.adapters.shapes import make_usage, new_id
from services.gateway.dialects.base import event_data, sse_event

NAMESPACE_MARK = "__ns__"
"""Between a namespace and a tool's name in the chat function name a namespaced Responses tool goes by."""
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
DELTA_EVENTS = (b"event: response.output_text.delta\n", b"event: response.function_call_arguments.delta\n")
FINAL_EVENTS = frozenset({"response.completed", "response.incomplete"})


def responses_usage(usage: Json) -> Json:
    """An OpenAI chat usage block as the Responses API reports it."""
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": reasoning}, "total_tokens": prompt + completion}


def text_part(text: str) -> Json:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str, status: str = "completed") -> Json:
    content = [text_part(text)] if status == "completed" else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> Json:
    """A function call item; a chat function name ``<namespace>__ns__<name>`` is split back into its two parts."""
    item = {"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": arguments, "status": status}
    namespace, mark, short = name.partition(NAMESPACE_MARK)
    if mark:
        item.update(namespace=namespace, name=short)
    return item


def response_object(response_id: str, model: str, output: list[Json], usage: Json | None, finish_reason: str | None = "stop",
                    created: int | None = None) -> Json:
    """A ``response`` object; ``usage`` None while it is in progress (and its status says so)."""
    incomplete = INCOMPLETE_REASONS.get(finish_reason or "")
    status = "in_progress" if usage is None else "incomplete" if incomplete else "completed"
    return {
        "id": response_id, "object": "response", "created_at": created or int(time.time()), "status": status, "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete and usage is not None else None, "instructions": None,
        "max_output_tokens": None, "model": model, "output": output, "parallel_tool_calls": True, "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None}, "store": True, "temperature": None, "text": {"format": {"type": "text"}},
        "tool_choice": "auto", "tools": [], "top_p": None, "truncation": "disabled", "usage": usage, "user": None, "metadata": {},
    }


def response_from_chat(answer: Json, model: str) -> Json:
    """The response object for a ``chat.completion``: its text as a message item, each tool call a function call item."""
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[Json] = []
    if message.get("content"):
        output.append(message_item(new_id("msg_"), message["content"]))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        call_id = call.get("id") or new_id("call_")
        output.append(call_item(new_id("fc_"), call_id, function.get("name", ""), function.get("arguments") or "{}"))
    usage = responses_usage(answer.get("usage") or {})
    return response_object(new_id("resp_"), model, output, usage, choice.get("finish_reason"), answer.get("created"))


class ResponsesStreamTranslator:
    """OpenAI chat chunks → Responses stream events (framed), one chunk at a time."""

    __slots__ = ("created", "finish_reason", "id", "model", "output", "sequence", "text_item", "texts", "tool_items")

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = new_id("resp_")
        self.created = int(time.time())
        self.sequence = 0
        self.output: list[Json] = []  # the items so far, completed or open
        self.text_item: int | None = None  # output index of the open message item
        self.texts: list[str] = []
        self.tool_items: dict[int, int] = {}  # OpenAI tool call index → output index of its item
        self.finish_reason: str | None = None

    def translate(self, chunk: Json) -> list[bytes]:
        events = [] if self.sequence else self._start()
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if content := delta.get("content"):
                events += self._text(content)
            for call in delta.get("tool_calls") or ():
                events += self._tool(call)
            if reason := choice.get("finish_reason"):
                self.finish_reason = reason
        return events

    def finish(self, usage: Json) -> list[bytes]:
        events = [] if self.sequence else self._start()
        events += self._close_text()
        for position in self.tool_items.values():
            item = self.output[position]
            item["status"] = "completed"
            events.append(self._event("response.function_call_arguments.done", item_id=item["id"], output_index=position,
                                      arguments=item["arguments"]))
            events.append(self._event("response.output_item.done", output_index=position, item=item))
        final = response_object(self.id, self.model, self.output, responses_usage(usage), self.finish_reason, self.created)
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        return [*events, self._event(kind, response=final)]

    def _start(self) -> list[bytes]:
        started = response_object(self.id, self.model, [], None, created=self.created)
        return [self._event("response.created", response=started), self._event("response.in_progress", response=started)]

    def _text(self, content: str) -> list[bytes]:
        events: list[bytes] = []
        if self.text_item is None:
            self.text_item = len(self.output)
            item = message_item(new_id("msg_"), "", "in_progress")
            self.output.append(item)
            events.append(self._event("response.output_item.added", output_index=self.text_item, item=item))
            events.append(self._event("response.content_part.added", item_id=item["id"], output_index=self.text_item, content_index=0,
                                      part=text_part("")))
        self.texts.append(content)
        item_id = self.output[self.text_item]["id"]
        return [*events, self._event("response.output_text.delta", item_id=item_id, output_index=self.text_item, content_index=0,
                                     delta=content, logprobs=[])]

    def _close_text(self) -> list[bytes]:
        if self.text_item is None:
            return []
        position, text = self.text_item, "".join(self.texts)
        item = self.output[position] = message_item(self.output[position]["id"], text)
        self.text_item, self.texts = None, []
        return [
            self._event("response.output_text.done", item_id=item["id"], output_index=position, content_index=0, text=text, logprobs=[]),
            self._event("response.content_part.done", item_id=item["id"], output_index=position, content_index=0, part=text_part(text)),
            self._event("response.output_item.done", output_index=position, item=item),
        ]

    def _tool(self, call: Json) -> list[bytes]:
        index = call.get("index", 0)
        function = call.get("function") or {}
        events: list[bytes] = []
        if index not in self.tool_items:
            events += self._close_text()
            position = self.tool_items[index] = len(self.output)
            item = call_item(new_id("fc_"), call.get("id") or new_id("call_"), function.get("name") or "", "", "in_progress")
            self.output.append(item)
            events.append(self._event("response.output_item.added", output_index=position, item=dict(item)))
        position = self.tool_items[index]
        if arguments := function.get("arguments"):
            item = self.output[position]
            item["arguments"] += arguments
            events.append(self._event("response.function_call_arguments.delta", item_id=item["id"], output_index=position,
                                      delta=arguments))
        return events

    def _event(self, kind: str, **fields: object) -> bytes:
        event = sse_event(kind, {"type": kind, "sequence_number": self.sequence, **fields})
        self.sequence += 1
        return event


class ResponsesWatcher:
    """Reads a native Responses stream's end (``response.completed`` / ``.incomplete``, with the usage
    and the whole response) and its failure (``response.failed``, ``error``); deltas are passed over unread."""

    __slots__ = ("finished", "response", "secret")

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.finished = False
        self.response: Json | None = None

    def see(self, event: bytes) -> None:
        if event.startswith(DELTA_EVENTS):
            return
        data = event_data(event)
        kind = data.get("type") if isinstance(data, dict) else None
        if kind in FINAL_EVENTS:
            self.finished = True
            self.response = data.get("response") or {}
        elif kind == "response.failed":
            raise classify_event({"error": (data.get("response") or {}).get("error") or {}}, self.secret)
        elif kind == "error":
            raise classify_event({"error": data}, self.secret)

    def final_usage(self, prompt_chars: int) -> Json:
        usage = (self.response or {}).get("usage") or {}
        return make_usage(usage.get("input_tokens") or 0, usage.get("output_tokens") or 0)
