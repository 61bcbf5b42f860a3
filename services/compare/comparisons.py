"""Side-by-side comparison: one prompt streamed to 2–4 columns in parallel through the gateway.

Every column answers in its own asyncio task with its own history, through the same
``Gateway.stream_chat`` as ``/v1`` (``source="console"``, attributed to the signed-in user, metered).
Stopping a column cancels only its task; the gateway's stream then records a cancelled usage row.

A running answer lives in a ``ColumnRun`` that the task writes and the page reads at its own pace:
the page pulls the text added since its last look (``take_new_text``) on a short timer, so the
browser gets one update per column per tick however fast the tokens come.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from services.accounts.tokens import Principal
from services.compare.conversations import (
    ChatMessage,
    ColumnSettings,
    ColumnState,
    ConversationState,
    TurnMetrics,
    title_from_prompt,
)
from services.errors import CompareError, GatewayError
from services.gateway.calls import CallMeta, Gateway
from services.gateway.model_limits import LimitTable, ModelLimits
from services.gateway.pricing import PriceTable
from services.gateway.routing_table import RoutingTable
from services.gateway.token_count import TOKENIZERS, Tokenizers, estimate_tokens

log = logging.getLogger(__name__)
MIN_COLUMNS = 2
MAX_COLUMNS = 4
BLIND_LABELS = ("Model A", "Model B")
VOTE_OUTCOMES = ("a", "b", "tie", "both_bad")
Json = dict[str, Any]



def prompt_estimate(column: ColumnState, tokenizers: Tokenizers, upstream_model: str | None) -> int:
    """The prompt tokens of the column's next answer, before the provider says: the provider's own count of the
    conversation so far (the last answer's prompt plus its completion, as it reported them) plus a count of
    what came after it; with no reported count yet, a count of the whole. Counts use the upstream model's
    tokenizer where the hub has it, else they are estimates."""
    anchor = next((i for i in range(len(column.messages) - 1, -1, -1) if _counted(column.messages[i])), None)
    if anchor is None:
        system = [("system", column.settings.system_prompt)] if column.settings.system_prompt.strip() else []
        return _count(tokenizers, upstream_model, [*system, *((m.role, m.content) for m in column.messages)])
    counted = column.messages[anchor].metrics
    assert counted is not None
    after = [(m.role, m.content) for m in column.messages[anchor + 1 :]]
    return counted.prompt_tokens + counted.completion_tokens + _count(tokenizers, upstream_model, after)


def _count(tokenizers: Tokenizers, upstream_model: str | None, messages: list[tuple[str, str]]) -> int:
    if upstream_model is None:
        return estimate_tokens(sum(len(text) for _, text in messages))
    return tokenizers.count_chat(upstream_model, messages).tokens


def _counted(message: ChatMessage) -> bool:
    """An answer the provider counted (not stopped early, not failed, not copied from another column)."""
    metrics = message.metrics
    return (message.role == "assistant" and metrics is not None and not metrics.estimated and not message.stopped
            and message.note is None and not message.failed)


def request_body(column: ColumnState) -> Json:
    """The chat body for the column's next answer: its system prompt, its own history, its settings.

    Failed answers are left out of the history; stopped answers go in with the text they reached.
    """
    settings = column.settings
    messages: list[Json] = []
    if settings.system_prompt.strip():
        messages.append({"role": "system", "content": settings.system_prompt})
    for message in column.messages:
        if message.role == "assistant" and not message.content:
            continue
        messages.append({"role": message.role, "content": _content(message)})
    body: Json = {
        "model": column.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
    }
    if settings.top_p != 1.0:
        body["top_p"] = settings.top_p
    return body


def _content(message: ChatMessage) -> str | list[Json]:
    if not message.images:
        return message.content
    parts: list[Json] = [{"type": "text", "text": message.content}] if message.content else []
    return parts + [{"type": "image_url", "image_url": {"url": url}} for url in message.images]


class ColumnRun:
    """One column's answer while it streams: written by its task, read by the page."""

    def __init__(self, column_id: str, prompt_tokens: int) -> None:
        self.column_id = column_id
        self.started = time.perf_counter()
        self.first_token: float | None = None
        self.status = "waiting"  # waiting | streaming | done | error | stopped
        self.error: str | None = None
        self.message: ChatMessage | None = None  # the finished answer
        self._parts: list[str] = []
        self._taken = 0
        self._chars = 0
        self._prompt_tokens = prompt_tokens  # an estimate until the provider's usage arrives
        self._meta: CallMeta | None = None
        self._usage: Json | None = None
        self._cost: int | None = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def finished(self) -> bool:
        return self.message is not None

    def take_new_text(self) -> str:
        """Text that arrived since the last call (for batched appends to the page)."""
        new = "".join(self._parts[self._taken :])
        self._taken = len(self._parts)
        return new

    def opened(self, meta: CallMeta) -> None:
        self._meta = meta
        self.status = "streaming"

    def consume(self, chunk: Json) -> None:
        if isinstance(chunk.get("error"), dict):
            self.error = str(chunk["error"].get("message") or "The stream failed.")
            return
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                if self.first_token is None:
                    self.first_token = time.perf_counter()
                self._parts.append(content)
                self._chars += len(content)

    def complete(self, pricing: PriceTable) -> None:
        served = self._meta.served if self._meta else None
        if served is not None:
            prompt, completion, _ = self.usage_tokens()
            self._cost = pricing.cost_micros(served.route.provider.kind, served.route.upstream_model, prompt, completion)
        self._finish("error" if self.error else "done")

    def fail(self, message: str) -> None:
        self.error = message
        self._finish("error")

    def stop(self) -> None:
        self._finish("stopped")

    def usage_tokens(self) -> tuple[int, int, bool]:
        """(prompt, completion, estimated): the provider's counts when it sent them."""
        if self._usage is not None:
            return int(self._usage.get("prompt_tokens") or 0), int(self._usage.get("completion_tokens") or 0), False
        return self._prompt_tokens, estimate_tokens(self._chars), True

    def metrics(self) -> TurnMetrics:
        """Live while streaming (elapsed time, estimated tokens), final once finished."""
        now = time.perf_counter()
        prompt, completion, estimated = self.usage_tokens()
        served = self._meta.served if self._meta else None
        return TurnMetrics(
            ttft_ms=round((self.first_token - self.started) * 1000, 1) if self.first_token else None,
            total_ms=round((now - self.started) * 1000, 1),
            prompt_tokens=prompt,
            completion_tokens=completion,
            estimated=estimated,
            cost_micros=self._cost,
            provider=served.route.provider.name if served else None,
            upstream_model=served.route.upstream_model if served else None,
            key_label=served.key.label if served else None,
            request_id=self._meta.request_id if self._meta else None,
        )

    def _finish(self, status: str) -> None:
        if self.message is not None:
            return
        self.status = status
        metrics = self.metrics() if self._meta else None
        self.message = ChatMessage("assistant", self.text, metrics=metrics, error=self.error, stopped=status == "stopped")


class Comparison:
    """The compare page's conversation and its running answers, with no UI in sight."""

    def __init__(
        self, gateway: Gateway, principal: Principal, state: ConversationState, *, table: Callable[[], RoutingTable], limits: LimitTable,
        tokenizers: Tokenizers = TOKENIZERS,
    ) -> None:
        self.gateway = gateway
        self.principal = principal
        self.state = state
        self._table = table
        self.limits = limits
        self.tokenizers = tokenizers
        self.runs: dict[str, ColumnRun] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # --- columns -------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return any(not task.done() for task in self._tasks.values())

    def streaming(self, column_id: str) -> bool:
        task = self._tasks.get(column_id)
        return task is not None and not task.done()

    def add_column(self, model: str) -> ColumnState:
        columns = self.state.columns
        if len(columns) >= MAX_COLUMNS:
            raise CompareError(f"At most {MAX_COLUMNS} columns.")
        if self.state.blind:
            raise CompareError("A blind comparison has exactly two columns.")
        settings = copy.copy(columns[0].settings) if self.state.same_settings and columns else ColumnSettings()
        column = ColumnState(model=model, settings=settings)
        columns.append(column)
        return column

    def remove_column(self, column_id: str) -> None:
        if len(self.state.columns) <= MIN_COLUMNS:
            raise CompareError(f"At least {MIN_COLUMNS} columns.")
        self.stop(column_id)
        self.state.columns.remove(self.state.column(column_id))

    def set_model(self, column_id: str, model: str) -> None:
        if model not in self._table().model_names():
            raise CompareError(f"The model `{model}` is not available.")
        self.state.column(column_id).model = model

    def update_settings(self, column_id: str, settings: ColumnSettings) -> None:
        """Change one column's settings, or every column's while "same settings everywhere" is on."""
        targets = self.state.columns if self.state.same_settings else [self.state.column(column_id)]
        for column in targets:
            column.settings = copy.copy(settings)

    def set_same_settings(self, enabled: bool) -> None:
        """Turning it on copies the first column's settings to the others."""
        self.state.same_settings = enabled
        if enabled and self.state.columns:
            self.update_settings(self.state.columns[0].id, self.state.columns[0].settings)

    def _first_upstream_model(self, column: ColumnState) -> str | None:
        """The model the column's first route calls: the one that most likely answers."""
        resolved = self._table().resolve(column.model)
        return resolved.routes[0].upstream_model if resolved and resolved.routes else None

    def model_limits(self, column: ColumnState) -> ModelLimits:
        resolved = self._table().resolve(column.model)
        return self.limits.for_routes(route.upstream_model for route in (resolved.routes if resolved else ()))

    def context_used(self, column: ColumnState) -> int:
        """Tokens the column's conversation takes: the last reported usage, else an estimate."""
        last = column.last_assistant()
        if last is not None and last.metrics is not None and last is column.messages[-1]:
            return last.metrics.context_tokens
        chars = len(column.settings.system_prompt) + sum(len(m.content) for m in column.messages)
        return estimate_tokens(chars)

    # --- turns ---------------------------------------------------------------------------------

    def image_blockers(self) -> dict[str, str]:
        """Columns whose model is known not to take images, with the reason."""
        blockers = {}
        for column in self.state.columns:
            reason = self.model_limits(column).no_images_reason
            if reason:
                blockers[column.id] = reason
        return blockers

    def send(self, prompt: str, images: Sequence[str] = (), *, template: str | None = None) -> list[ColumnRun]:
        """Add the prompt to every column's history and start every column's answer; ``template``: the
        prompt template it was made from (a blind vote on the answers records it)."""
        if self.busy:
            raise CompareError("Wait for the answers to finish, or stop them.")
        if not prompt.strip() and not images:
            raise CompareError("Write a prompt first.")
        if images and (blockers := self.image_blockers()):
            raise CompareError("; ".join(sorted(set(blockers.values()))) + ". Remove the image or pick another model.")
        if not self.state.title:
            self.state.title = title_from_prompt(prompt)
        self.state.template = template
        for column in self.state.columns:
            column.messages.append(ChatMessage("user", prompt, images=list(images)))
        return [self._start(column) for column in self.state.columns]

    def regenerate(self, column_id: str) -> ColumnRun:
        """Answer the column's last prompt again, replacing its last answer."""
        if self.streaming(column_id):
            raise CompareError("This column is still answering.")
        column = self.state.column(column_id)
        if column.messages and column.messages[-1].role == "assistant":
            column.messages.pop()
        if not column.messages:
            raise CompareError("Nothing to regenerate.")
        return self._start(column)

    def stop(self, column_id: str) -> None:
        task = self._tasks.get(column_id)
        if task is not None and not task.done():
            task.cancel()

    def stop_all(self) -> None:
        for column_id in list(self._tasks):
            self.stop(column_id)

    async def wait(self) -> None:
        """Until every running answer has finished (stopped ones included)."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def delete_message(self, column_id: str, message_id: str) -> None:
        if self.streaming(column_id):
            raise CompareError("Stop this column before deleting messages.")
        column = self.state.column(column_id)
        column.messages = [m for m in column.messages if m.id != message_id]

    def continue_with(self, column_id: str) -> None:
        """Make this column's last answer the last answer of every thread."""
        if self.busy:
            raise CompareError("Wait for the answers to finish, or stop them.")
        source_column = self.state.column(column_id)
        source = source_column.last_assistant()
        if source is None or not source.content:
            raise CompareError("This column has no answer to continue with.")
        note = f"copied from {self.state.display_name(source_column)}"
        for column in self.state.columns:
            if column is source_column:
                continue
            reply = ChatMessage("assistant", source.content, note=note)
            if column.messages and column.messages[-1].role == "assistant":
                column.messages[-1] = reply
            else:
                column.messages.append(reply)

    def _start(self, column: ColumnState) -> ColumnRun:
        run = ColumnRun(column.id, prompt_estimate(column, self.tokenizers, self._first_upstream_model(column)))
        self.runs[column.id] = run
        self._tasks[column.id] = asyncio.create_task(self._answer(column, run), name=f"compare-{column.id}")
        return run

    async def _answer(self, column: ColumnState, run: ColumnRun) -> None:
        try:
            stream = await self.gateway.stream_chat(self.principal, request_body(column), source="console")
            run.opened(stream.meta)
            async for chunk in stream:
                run.consume(chunk)
            run.complete(self.gateway.pricing)
        except GatewayError as error:
            run.fail(error.message)
        except asyncio.CancelledError:
            run.stop()
            raise
        except Exception as error:  # an unclassified failure belongs in its column, not only in the log
            log.exception("compare column %s failed", column.id)
            run.fail(f"Unexpected error: {error}")
        finally:
            if run.message is not None:
                column.messages.append(run.message)

    # --- blind mode ----------------------------------------------------------------------------

    def vote(self, outcome: str) -> tuple[str, str]:
        """Check a blind vote may be cast now, reveal the names; returns (model A, model B). The vote is
        stored by ``services.compare.leaderboard.cast_vote``, with ``state.template``."""
        state = self.state
        if outcome not in VOTE_OUTCOMES:
            raise CompareError(f"Unknown vote `{outcome}`.")
        if not state.blind or state.revealed:
            raise CompareError("There is no hidden pair to vote on.")
        if self.busy:
            raise CompareError("Wait for both answers first.")
        answers = [column.last_assistant() for column in state.columns]
        if any(answer is None or answer.failed for answer in answers):
            raise CompareError("Both models need an answer before you vote.")
        state.revealed = True
        return state.columns[0].model, state.columns[1].model


def new_conversation(models: Sequence[str]) -> ConversationState:
    """A fresh two-column comparison of the first two models (the same one twice if only one exists)."""
    if not models:
        raise CompareError("No models are configured yet. An admin adds them on the Models page.")
    picks = list(models[:MIN_COLUMNS]) if len(models) >= MIN_COLUMNS else [models[0]] * MIN_COLUMNS
    return ConversationState(columns=[ColumnState(model=m) for m in picks])


def restart(state: ConversationState, models: Sequence[str]) -> ConversationState:
    """A new, empty comparison with the same columns, models and settings (never blind).

    An unrevealed blind pair is not carried over: that would show the hidden names before the vote.
    """
    if state.blind and not state.revealed:
        return new_conversation(models)
    columns = [ColumnState(model=c.model, settings=copy.copy(c.settings)) for c in state.columns]
    return ConversationState(columns=columns, same_settings=state.same_settings)


def new_blind_conversation(pool: Sequence[str], rng: random.Random, settings: ColumnSettings | None = None) -> ConversationState:
    """Two models drawn at random from ``pool``, shown as "Model A" and "Model B" until the vote."""
    distinct = sorted(set(pool))
    if len(distinct) < 2:
        raise CompareError("Pick at least two different models for a blind comparison.")
    picked = rng.sample(distinct, 2)
    base = settings or ColumnSettings()
    columns = [ColumnState(model=model, settings=copy.copy(base), label=label) for model, label in zip(picked, BLIND_LABELS, strict=True)]
    return ConversationState(columns=columns, blind=True, same_settings=True)
