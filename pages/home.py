"""The console's landing page: the first-run checklist (until every step is done) and how to call the gateway."""

from __future__ import annotations

from nicegui import ui

from app.runtime import get_hub
from components.blocking import io_bound
from components.frame import console_page
from components.snippet_tabs import server_url, snippet_tabs
from services.accounts.onboarding import Checklist, checklist
from services.accounts.sessions import SessionUser
from services.accounts.snippets import TOKEN_PLACEHOLDER, gateway_snippets

CHECK_SECONDS = 3.0
"""How often an open checklist looks again (a few existence queries), so a step done elsewhere ticks itself off."""


class OnboardingCard:
    """The checklist, redrawn only when a step changes; it stops looking once everything is done."""

    def __init__(self, user: SessionUser) -> None:
        self.user = user
        self.shown: Checklist | None = None
        self.card = ui.card().classes("w-full gap-2").props("data-testid=checklist")
        self.card.set_visibility(False)
        self.timer = ui.timer(CHECK_SECONDS, self.refresh)

    async def refresh(self) -> None:
        current = await io_bound(checklist, get_hub().engine, self.user.id, is_admin=self.user.is_admin)
        if current == self.shown:
            return
        first_look = self.shown is None
        self.shown = current
        if current.complete:
            self.timer.deactivate()
            if first_look:
                return  # an install that is set up already: no checklist at all
        self._draw(current)

    def _draw(self, current: Checklist) -> None:
        self.card.set_visibility(True)
        self.card.clear()
        with self.card:
            with ui.row().classes("w-full items-baseline gap-2"):
                ui.label("Get started").classes("text-lg font-medium")
                ui.label(f"{current.done_count} of {len(current.steps)} done").classes("text-sm text-grey-7").props(
                    "data-testid=checklist-progress"
                )
            if current.complete:
                ui.label("All set: programs can call the gateway now.").classes("text-positive")
            for step in current.steps:
                state = "done" if step.done else "open"
                with ui.row().classes("w-full items-start gap-3 no-wrap").props(f"data-testid=step-{step.key} data-state={state}"):
                    ui.icon("check_circle" if step.done else "radio_button_unchecked", size="22px").classes(
                        "text-positive" if step.done else "text-grey-6"
                    ).props(f'aria-label="{state}"')
                    with ui.column().classes("gap-0 min-w-0"):
                        ui.label(step.title).classes("font-medium" + (" line-through text-grey-7" if step.done else ""))
                        with ui.row().classes("gap-x-2 gap-y-0 items-baseline flex-wrap"):
                            ui.label(step.hint).classes("text-sm text-grey-7")
                            ui.link(step.link_text, step.link).classes("text-sm")


@console_page("/", "Home", icon="home", order=0)
async def home(user: SessionUser) -> None:
    ui.label(f"Welcome, {user.display_name}").classes("text-lg -mt-2 text-grey-8 dark:text-grey-4")
    onboarding = OnboardingCard(user)
    models = sorted(get_hub().table.models)
    with ui.card().classes("w-full gap-2"):
        ui.label("Call the gateway").classes("text-lg font-medium")
        ui.markdown(
            "Any OpenAI SDK works: point its base URL at this server's `/v1` and use a gateway token from your "
            "[Profile](/profile) as the API key (here read from `LLMHUB_TOKEN`). Ask for a logical model by name, or a "
            "concrete `provider/model`. Scripts manage the hub through the [API](/api/docs)."
        ).classes("text-sm")
        snippet_tabs(gateway_snippets(server_url(), TOKEN_PLACEHOLDER, models[0] if models else "smart"), testid="home-snippets")
    await onboarding.refresh()
