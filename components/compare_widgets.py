"""The compare page's smaller pieces: a conversation's new title, which models a blind round draws from, and the
blind round's vote panel."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from components.dialogs import transient_dialog
from services.compare.conversations import ConversationState


async def ask_title(current: str) -> str | None:
    """The new title typed, or None when cancelled."""
    with transient_dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
        ui.label("Rename conversation").classes("text-lg font-semibold")
        title = ui.input("Title", value=current).props("outlined dense autofocus").classes("w-full")
        title.on("keydown.enter", lambda: dialog.submit(title.value))
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat no-caps")
            ui.button("Rename", on_click=lambda: dialog.submit(title.value)).props("unelevated no-caps color=primary")
    answer: str | None = await dialog
    return answer


async def ask_blind_pool(models: list[str], picks: list[str]) -> list[str] | None:
    """The models a blind round draws two from (``picks`` ticked at first, else all), or None when cancelled."""
    with transient_dialog() as dialog, ui.card().classes("w-full max-w-lg gap-3").props("data-testid=blind-dialog"):
        ui.label("Blind comparison").classes("text-lg font-semibold")
        ui.label("Two models are drawn at random from this set and shown as Model A and Model B. "
                 "Vote for the better answer; then the names are revealed.").classes("text-sm text-grey-7")
        pool = ui.select(models, value=picks if len(picks) >= 2 else list(models), multiple=True, label="Draw from").props(
            "outlined use-chips"
        ).classes("w-full")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat no-caps")
            ui.button("Start", icon="shuffle", on_click=lambda: dialog.submit(list(pool.value or []))).props(
                "unelevated no-caps color=primary"
            )
    chosen: list[str] | None = await dialog
    return chosen


VOTES = (("a", "A is better", "arrow_back"), ("b", "B is better", "arrow_forward"), ("tie", "Tie", "drag_handle"),
         ("both_bad", "Both are bad", "thumb_down"))


def blind_vote_panel(state: ConversationState, *, ready: bool, vote: Callable[[str], object], new_round: Callable[[], object]) -> None:
    """Under a blind pair: the vote buttons once both have answered (``ready``), then the names and a new round."""
    if state.revealed:
        names = ", ".join(state.display_name(c) for c in state.columns)
        ui.label(f"Revealed: {names}").classes("font-medium").props("data-testid=blind-revealed")
        ui.button("New blind round", icon="shuffle", on_click=new_round).props("outline no-caps")
    elif ready:
        ui.label("Which answer is better?").classes("font-medium")
        with ui.row().classes("gap-2 justify-center"):
            for outcome, label, icon in VOTES:
                ui.button(label, icon=icon, on_click=lambda o=outcome: vote(o)).props("unelevated no-caps color=primary")
    else:
        ui.label("Blind mode: the models are hidden as Model A and Model B. Vote once both have answered.").classes(
            "text-sm text-grey-7"
        )
