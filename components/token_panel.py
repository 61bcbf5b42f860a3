"""A person's own gateway tokens: the list (masked, with this month's spend), a create dialog
that shows the raw token once, and revoking with confirmation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.account_ui import FormError, acting, text_field
from components.blocking import io_bound
from components.dialogs import transient_dialog
from components.local_time import iso, local_midnight_utc, time_column
from components.secret_dialogs import confirm, show_once
from components.snippet_tabs import server_url, snippet_tabs
from components.table_cells import value_with_narrow_caption
from services.accounts.gateway_tokens import OwnToken
from services.accounts.sessions import SessionUser
from services.accounts.snippets import gateway_snippets
from services.catalog.inputs import usd_to_micros
from services.errors import RequestError
from services.gateway.pricing import format_usd

SECONDARY = {"classes": "max-md:hidden", "headerClasses": "max-md:hidden"}
COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Name", "field": "name", "align": "left", "sortable": True},
    {"name": "token", "label": "Token", "field": "token", "align": "left", **SECONDARY, "classes": "font-mono max-md:hidden"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "spend", "label": "This month", "field": "spend", "align": "right"},
    {"name": "budget", "label": "Budget / month", "field": "budget", "align": "right", **SECONDARY},
    {"name": "rpm", "label": "Req/min", "field": "rpm", "align": "right", **SECONDARY},
    {"name": "models", "label": "Models", "field": "models", "align": "left", **SECONDARY},
    time_column("expires", "Expires", **SECONDARY),
    time_column("last_used", "Last used", **SECONDARY),
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]
NAME_SLOT = value_with_narrow_caption("props.row.token", "font-mono")
STATUS_SLOT = r"""
<q-td :props="props">
  <q-badge :color="{active: 'positive', revoked: 'grey-6', expired: 'warning'}[props.value]" :label="props.value" />
</q-td>
"""
ACTIONS_SLOT = r"""
<q-td :props="props">
  <q-btn v-if="props.row.status !== 'revoked'" flat dense no-caps color="negative" icon="block"
         :label="$q.screen.lt.md ? undefined : 'Revoke'" aria-label="Revoke"
         :data-testid="'revoke-' + props.row.name" @click="() => $parent.$emit('revoke', props.row)" />
</q-td>
"""


def usd(amount: Decimal | None) -> str:
    return "—" if amount is None else format_usd(usd_to_micros(amount))


def token_row(token: OwnToken) -> dict[str, Any]:
    return {
        "id": token.id, "name": token.name, "token": token.token_masked, "status": token.status,
        "spend": usd(token.month_spend_usd), "budget": usd(token.monthly_budget_usd), "rpm": token.rpm or "—",
        "models": ", ".join(token.allowed_models) if token.allowed_models else "all",
        "expires": iso(token.expires_at), "last_used": iso(token.last_used_at),
    }


class TokenPanel:
    def __init__(self, user: SessionUser) -> None:
        self.user = user
        self.tokens = get_hub().gateway_tokens
        with ui.card().classes("w-full gap-3"):
            with ui.row().classes("w-full items-center gap-2"):
                with ui.column().classes("gap-0 grow"):
                    ui.label("Gateway tokens").classes("text-lg font-medium")
                    ui.label("Use a token as the API key of any OpenAI SDK pointed at this server's /v1.").classes("text-grey-7 text-sm")
                ui.button("New token", icon="add", on_click=self.create).props("no-caps")
            self.table = ui.table(rows=[], columns=COLUMNS, row_key="id", pagination=10).classes("w-full").props("flat")
            self.table.props('no-data-label="No tokens yet"')
            self.table.add_slot("body-cell-name", NAME_SLOT)
            self.table.add_slot("body-cell-status", STATUS_SLOT)
            self.table.add_slot("body-cell-actions", ACTIONS_SLOT)
            self.table.on("revoke", lambda e: self.revoke(e.args))

    async def load(self) -> None:
        tokens = await io_bound(self.tokens.list_own, self.user.id)
        self.table.rows = [token_row(token) for token in tokens]

    async def create(self) -> None:
        with transient_dialog() as dialog, ui.card().classes("w-full max-w-lg gap-3"):
            ui.label("New gateway token").classes("text-lg font-semibold")
            name = text_field("Name")
            with ui.row().classes("w-full gap-3 no-wrap"):
                budget = ui.number("Monthly budget (USD)", min=0.01, step=1).props("outlined clearable").classes("grow")
                rpm = ui.number("Requests per minute", min=1, precision=0, step=1).props("outlined clearable").classes("grow")
            choices = get_hub().table.model_names()
            models = ui.select(choices, label="Allowed models", multiple=True, with_input=True, new_value_mode="add-unique")
            models.props('outlined use-chips hint="Leave empty to allow every model"').classes("w-full")
            expires = ui.date_input("Valid through (optional)").props("outlined clearable").classes("w-full")
            error = FormError()
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat color=grey-8")
                create_button = ui.button("Create token")

        async def submit() -> None:
            error.hide()
            try:
                expires_at = await local_midnight_utc(expires.value, days_later=1) if expires.value else None
                created = await io_bound(self.tokens.issue, acting(self.user), {
                    "name": name.value or "", "user_id": self.user.id, "monthly_budget_usd": budget.value,
                    "rpm": int(rpm.value) if rpm.value else None, "allowed_models": models.value or [], "expires_at": expires_at,
                })
            except (RequestError, ValueError) as exc:
                error.show(exc if isinstance(exc, RequestError) else "The expiry date is not a date.")
                return
            dialog.submit(created)

        create_button.on_click(submit)
        created = await dialog
        if created is None:
            return
        await self.load()
        model = (created.allowed_models or choices or ["smart"])[0]
        snippets = gateway_snippets(server_url(), created.token, model)

        def try_it() -> None:
            ui.label(f"Try it: these call {model} with the new token (copy one, paste it in a terminal or a file).").classes(
                "text-sm text-grey-7"
            )
            snippet_tabs(snippets, testid="token-snippets")

        await show_once(
            f"Token “{created.name}” created", created.token,
            "Copy it now: it is shown only this once. Only its last four characters are kept for display.", details=try_it,
        )

    async def revoke(self, row: dict[str, Any]) -> None:
        if not await confirm(
            f"Revoke “{row['name']}”?", "Programs using this token stop working at once. This cannot be undone.", action="Revoke"
        ):
            return
        try:
            await io_bound(self.tokens.revoke, acting(self.user), int(row["id"]), owner_id=self.user.id)
        except RequestError as exc:
            ui.notify(exc.message, type="negative")
            return
        ui.notify(f"Token “{row['name']}” revoked", type="positive")
        await self.load()
