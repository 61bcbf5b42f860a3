"""The usage filter bar shared by the usage page and the request log: a time range (presets or
custom days in the browser's zone) and the user / provider / model / key / token selects.

The filters live in the page's URL (``/usage?range=30d&model=smart``): the bar starts from the query
string and writes every change back, so a reload, a bookmark or a shared link shows the same view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from nicegui import ui

from app.runtime import get_hub
from components import url_state
from components.blocking import io_bound
from components.charts import browser_zone
from components.local_time import local_midnight_utc
from services.accounts.sessions import SessionUser
from services.usage.analytics import (
    RANGE_PRESETS,
    STACK_DIMENSIONS,
    FilterOptions,
    TimeRange,
    aligned_range,
    filter_options,
    preset_range,
)
from services.usage.queries import UsageFilter, Viewer

ALL = ""
CUSTOM = "custom"
STATUSES = {ALL: "Any status", "ok": "ok", "error": "error", "cancelled": "cancelled"}
CACHE_ANSWERS = {ALL: "Cached or not", "hit": "Cache hits", "miss": "Not from the cache"}
CACHE_HIT = {"hit": True, "miss": False}


@dataclass(frozen=True, slots=True)
class FilterState:
    window: TimeRange
    filters: UsageFilter
    stack_by: str


def _choices(everything: str, options: dict) -> dict:  # type: ignore[type-arg]
    return {ALL: everything, **options}


def _picked(value: object) -> object | None:
    return None if value in (ALL, None) else value


class FilteredView(Protocol):
    """A page under a filter bar: it shows times in ``zone`` and fills itself in ``reload``."""

    zone: ZoneInfo

    async def load_settings(self) -> None: ...

    async def reload(self) -> None: ...


View = TypeVar("View", bound=FilteredView)


async def show_filtered_view(user: SessionUser, make_view: Callable[[SessionUser, FilterOptions], View]) -> View:
    """Lay out ``make_view``'s page with the filter values ``user`` may pick from; once the browser is
    connected, adopt its time zone, then load the page's settings and its data."""
    options = await io_bound(filter_options, get_hub().engine, Viewer(user.id, user.is_admin))
    view = make_view(user, options)
    await ui.context.client.connected()
    view.zone = await browser_zone()
    await view.load_settings()
    await view.reload()
    return view


def _from_query(options: dict, text: str | None, default: object = ALL) -> object:  # type: ignore[type-arg]
    """The option whose key reads ``text`` in a URL (ids are numbers there), else ``default``."""
    return next((key for key in options if text is not None and str(key) == text), default)


class FilterBar:
    """Calls ``on_change`` (awaited) whenever a filter changes; ``state()`` reads the current filters.

    ``path`` is the page's own: the filters are read from its query string at start and written back to it."""

    def __init__(
        self, options: FilterOptions, *, is_admin: bool, on_change: Callable[[], Awaitable[None]], path: str,
        stack: bool = False, status: bool = False, search: bool = False, default_range: str = "7d",
    ) -> None:
        self.on_change = on_change
        self.path = path
        query = url_state.query()
        ranges = {**{name: name for name in RANGE_PRESETS}, CUSTOM: "Custom"}
        days = f"{query['from']} - {query['to']}" if query.get("from") and query.get("to") else None
        with ui.card().classes("w-full gap-3").props("flat bordered data-testid=usage-filters"):
            with ui.row().classes("w-full items-center gap-3"):
                self.range = ui.toggle(ranges, value=_from_query(ranges, query.get("range"), CUSTOM if days else default_range))
                self.range.props("no-caps unelevated toggle-color=primary data-testid=range-toggle")
                self.days = ui.date_input("Days", range_input=True, value=days).props("outlined dense").classes("min-w-[16rem]")
                self.days.bind_visibility_from(self.range, "value", value=CUSTOM)
                ui.space()
                stacks = {name: f"Stack by {name}" for name in STACK_DIMENSIONS if is_admin or name != "user"}
                self.stack_by = ui.select(stacks, value=_from_query(stacks, query.get("stack"), "model"))
                self.stack_by.props("outlined dense data-testid=stack-by").classes("min-w-[11rem]")
                self.stack_by.set_visibility(stack)
            with ui.element("div").classes("w-full grid gap-3 grid-cols-1 sm:grid-cols-2 lg:grid-cols-5"):
                self.user = self._select("User", _choices("All users", options.users), query, visible=is_admin)
                self.provider = self._select("Provider", _choices("All providers", {p: p for p in options.providers}), query)
                self.model = self._select("Model", _choices("All models", {m: m for m in options.models}), query)
                self.key = self._select("Key", _choices("All keys", options.keys), query, visible=not status)
                self.token = self._select("Token", _choices("All tokens", options.tokens), query, visible=not status)
                self.status = self._select("Status", STATUSES, query, visible=status)
                self.cache = self._select("Cache", CACHE_ANSWERS, query, visible=status)  # the raw records' filter, with status
                self.search = ui.input("Search", placeholder="request id, model, error text", value=query.get("q", ""))
                self.search.props("outlined dense clearable debounce=400").classes("w-full").set_visibility(search)
        for element in (self.range, self.days, self.stack_by, self.search):
            element.on_value_change(self._changed)

    def _select(self, label: str, options: dict, query: dict[str, str], *, visible: bool = True) -> ui.select:  # type: ignore[type-arg]
        select = ui.select(options, value=_from_query(options, query.get(label.lower())), label=label, with_input=True)
        select.props(f"outlined dense options-dense data-testid=filter-{label.lower()}")
        select.classes("w-full").set_visibility(visible)
        select.on_value_change(self._changed)
        return select

    def params(self) -> dict[str, object | None]:
        """The filters as URL parameters (defaults left out)."""
        custom = self.range.value == CUSTOM and " - " in str(self.days.value or "")
        first, last = sorted(part.strip() for part in str(self.days.value).split(" - ", 1)) if custom else (None, None)
        selects = {"user": self.user, "provider": self.provider, "model": self.model, "key": self.key, "token": self.token,
                   "status": self.status, "cache": self.cache}
        return {
            "range": self.range.value, "from": first, "to": last, **{name: _picked(s.value) for name, s in selects.items()},
            "q": (self.search.value or "").strip() or None, "stack": None if self.stack_by.value == "model" else self.stack_by.value,
        }

    async def _changed(self) -> None:
        if self.range.value == CUSTOM and " - " not in str(self.days.value or ""):
            return  # wait until both days are picked
        url_state.replace(self.path, self.params())
        await self.on_change()

    async def state(self) -> FilterState:
        return FilterState(await self._window(), self._filters(), self.stack_by.value or "model")

    async def _window(self) -> TimeRange:
        if self.range.value != CUSTOM:
            return preset_range(self.range.value, datetime.now(UTC))
        first, last = sorted(part.strip() for part in str(self.days.value).split(" - ", 1))
        since = await local_midnight_utc(first)
        until = await local_midnight_utc(last, days_later=1)
        return aligned_range(since, until)

    def _filters(self) -> UsageFilter:
        return UsageFilter(
            user_id=_picked(self.user.value), provider=_picked(self.provider.value), model=_picked(self.model.value),  # type: ignore[arg-type]
            key_id=_picked(self.key.value), token_id=_picked(self.token.value), status=_picked(self.status.value),  # type: ignore[arg-type]
            search=(self.search.value or "").strip() or None, cache_hit=CACHE_HIT.get(self.cache.value),
        )
