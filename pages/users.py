"""Admin: the people who may use the console and the gateway, invites, and how new people join."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.account_ui import FormError, acting, password_field, text_field
from components.blocking import io_bound
from components.dialogs import transient_dialog
from components.frame import console_page
from components.local_time import iso, time_column
from components.secret_dialogs import confirm, show_once
from components.table_cells import value_with_narrow_caption
from services.accounts.service import INVITE_DAYS, MAX_INVITE_DAYS, REGISTRATION_MODES
from services.accounts.sessions import SessionUser
from services.accounts.users import MIN_PASSWORD_LENGTH, UserPublic
from services.accounts.views import InviteView
from services.errors import RequestError

SECONDARY = {"classes": "max-md:hidden", "headerClasses": "max-md:hidden"}
USER_COLUMNS: list[dict[str, Any]] = [
    {"name": "email", "label": "Email", "field": "email", "align": "left", "sortable": True},
    {"name": "name", "label": "Name", "field": "name", "align": "left", "sortable": True, **SECONDARY},
    {"name": "role", "label": "Role", "field": "role", "align": "left", "sortable": True, **SECONDARY},
    {"name": "status", "label": "Status", "field": "status", "align": "left", "sortable": True},
    {"name": "totp", "label": "2FA", "field": "totp", "align": "center", **SECONDARY},
    time_column("last_login", "Last sign-in", **SECONDARY),
    time_column("created", "Created", **SECONDARY),
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]
INVITE_COLUMNS: list[dict[str, Any]] = [
    {"name": "email", "label": "Email", "field": "email", "align": "left"},
    {"name": "role", "label": "Role", "field": "role", "align": "left"},
    time_column("expires", "Expires"),
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]
EMAIL_SLOT = value_with_narrow_caption("[props.row.name, props.row.role].filter(Boolean).join(' · ')")
BADGE_SLOT = r"""
<q-td :props="props">
  <q-badge :color="{admin: 'primary', user: 'grey-7', active: 'positive', pending: 'warning', disabled: 'grey-6'}[props.value]"
           :label="props.value" />
</q-td>
"""
TOTP_SLOT = r"""
<q-td :props="props">
  <q-icon :name="props.value ? 'verified_user' : 'remove'" :class="props.value ? 'text-positive' : 'text-grey-5'" size="20px"
          :aria-label="props.value ? 'two-factor on' : 'two-factor off'" />
</q-td>
"""
# (action, label expression, shown when) for each row's menu
USER_MENU = [
    ("approve", "'Approve'", "props.row.status === 'pending'"),
    ("reject", "'Reject'", "props.row.status === 'pending'"),
    ("role", "props.row.role === 'admin' ? 'Make plain user' : 'Make admin'", "props.row.status !== 'pending'"),
    ("reset_password", "'Reset password…'", "props.row.status !== 'pending'"),
    ("sign_out", "'Sign out everywhere'", "props.row.status === 'active'"),
    ("reset_2fa", "'Turn off two-factor'", "props.row.totp"),
    ("disable", "'Disable'", "props.row.status === 'active'"),
    ("enable", "'Enable'", "props.row.status === 'disabled'"),
]


def _menu_slot() -> str:
    items = "".join(
        f'<q-item v-if="{shown}" clickable @click="() => $parent.$emit(\'act\', {{action: \'{action}\', row: props.row}})">'
        f"<q-item-section>{{{{ {label} }}}}</q-item-section></q-item>"
        for action, label, shown in USER_MENU
    )
    return (
        '<q-td :props="props"><q-btn flat round dense icon="more_vert" color="grey-8" '
        ':aria-label="\'Actions for \' + props.row.email" :data-testid="\'actions-\' + props.row.email">'
        f'<q-menu auto-close anchor="bottom right" self="top right"><q-list dense style="min-width: 220px">{items}</q-list></q-menu>'
        "</q-btn></q-td>"
    )


INVITE_ACTIONS_SLOT = r"""
<q-td :props="props">
  <q-btn flat dense no-caps color="negative" icon="close" label="Revoke" @click="() => $parent.$emit('revoke', props.row)" />
</q-td>
"""


def user_row(user: UserPublic) -> dict[str, Any]:
    return {
        "id": user.id, "email": user.email, "name": user.name, "role": user.role, "status": user.status,
        "totp": user.totp_enabled, "last_login": iso(user.last_login_at), "created": iso(user.created_at),
    }


def invite_row(invite: InviteView) -> dict[str, Any]:
    return {"id": invite.id, "email": invite.email, "role": invite.role, "expires": iso(invite.expires_at)}


class UsersPage:
    def __init__(self, user: SessionUser, mode: str) -> None:
        self.me = user
        self.accounts = get_hub().accounts
        self.actions: dict[str, Callable[[dict[str, Any]], Awaitable[object]]] = {
            "approve": lambda row: self._apply(row, "approved", self.accounts.approve_user, row["id"]),
            "reject": self._reject,
            "role": self._change_role,
            "reset_password": self._reset_password,
            "sign_out": self._sign_out_everywhere,
            "reset_2fa": self._reset_two_factor,
            "disable": self._disable,
            "enable": lambda row: self._apply(row, "enabled", self.accounts.set_enabled, row["id"], True),
        }
        with ui.card().classes("w-full gap-3"):
            with ui.row().classes("w-full items-center gap-2"):
                self.pending = ui.label().classes("grow text-warning font-medium").props("data-testid=pending-note")
                ui.button("Invite link", icon="link", on_click=self._invite).props("outline no-caps")
                ui.button("New user", icon="person_add", on_click=self._create).props("no-caps")
            self.table = ui.table(rows=[], columns=USER_COLUMNS, row_key="id", pagination=25).classes("w-full").props("flat")
            self.table.add_slot("body-cell-email", EMAIL_SLOT)
            for slot in ("role", "status"):
                self.table.add_slot(f"body-cell-{slot}", BADGE_SLOT)
            self.table.add_slot("body-cell-totp", TOTP_SLOT)
            self.table.add_slot("body-cell-actions", _menu_slot())
            self.table.on("act", lambda e: self.actions[e.args["action"]](e.args["row"]))
        with ui.element("div").classes("w-full grid gap-4 md:grid-cols-2"):
            self._registration_card(mode)
            with ui.card().classes("w-full gap-2"):
                ui.label("Open invites").classes("text-lg font-medium")
                self.invites = ui.table(rows=[], columns=INVITE_COLUMNS, row_key="id").classes("w-full").props("flat dense")
                self.invites.props('no-data-label="No open invites"')
                self.invites.add_slot("body-cell-actions", INVITE_ACTIONS_SLOT)
                self.invites.on("revoke", lambda e: self._revoke_invite(e.args))

    def _registration_card(self, mode: str) -> None:
        async def change(event: Any) -> None:
            try:
                await io_bound(self.accounts.set_registration_mode, acting(self.me), event.value)
            except RequestError as exc:
                ui.notify(exc.message, type="negative")
                return
            ui.notify(f"Registration: {REGISTRATION_MODES[event.value]}", type="positive")

        with ui.card().classes("w-full gap-2"):
            ui.label("Registration").classes("text-lg font-medium")
            toggle = ui.toggle({"closed": "Closed", "open": "Open with approval"}, value=mode, on_change=change)
            toggle.props("no-caps toggle-color=primary data-testid=registration-mode")
            ui.label(
                "Closed: only admins add people (here, or by invite link). "
                "Open: anyone can register at /register and waits until an admin approves."
            ).classes("text-grey-7 text-sm")

    async def load(self) -> None:
        users = await io_bound(self.accounts.list_users)
        invites = await io_bound(self.accounts.list_open_invites)
        self.table.rows = [user_row(user) for user in users]
        self.invites.rows = [invite_row(invite) for invite in invites]
        waiting = sum(user.status == "pending" for user in users)
        self.pending.text = f"{waiting} account{'s' if waiting != 1 else ''} waiting for approval" if waiting else ""

    async def _apply(self, row: dict[str, Any], done: str, call: Callable[..., Any], *args: Any) -> bool:
        """Run one change, say how it went, reload. A change to one's own account reloads the page:
        it may have ended this very session."""
        try:
            await io_bound(call, acting(self.me), *args)
        except RequestError as exc:
            ui.notify(exc.message, type="negative", multi_line=True)
            return False
        ui.notify(f"{row['email']} {done}", type="positive")
        if row["id"] == self.me.id:
            ui.navigate.to("/users")
        else:
            await self.load()
        return True

    async def _reject(self, row: dict[str, Any]) -> None:
        if await confirm(f"Reject {row['email']}?", "The account stays disabled; you can enable it later.", action="Reject"):
            await self._apply(row, "rejected", self.accounts.reject_user, row["id"])

    async def _disable(self, row: dict[str, Any]) -> None:
        message = "They are signed out, and their gateway tokens stop working. Their history stays; you can enable them again."
        if await confirm(f"Disable {row['email']}?", message, action="Disable"):
            await self._apply(row, "disabled", self.accounts.set_enabled, row["id"], False)

    async def _change_role(self, row: dict[str, Any]) -> None:
        role = "user" if row["role"] == "admin" else "admin"
        message = "Admins manage keys, models, users and everything else." if role == "admin" else "They lose access to the admin pages."
        title = f"Make {row['email']} {'an admin' if role == 'admin' else 'a plain user'}?"
        if await confirm(title, message, action="Change role", danger=False):
            await self._apply(row, f"is now {role}", self.accounts.set_role, row["id"], role)

    async def _sign_out_everywhere(self, row: dict[str, Any]) -> None:
        if await confirm(f"Sign {row['email']} out everywhere?", "Every console session of theirs ends now.", action="Sign out"):
            await self._apply(row, "signed out everywhere", self.accounts.sign_out_everywhere, row["id"])

    async def _reset_two_factor(self, row: dict[str, Any]) -> None:
        message = "For someone who lost their phone and recovery codes: they sign in with their password alone until they set it up again."
        if await confirm(f"Turn off two-factor for {row['email']}?", message, action="Turn off"):
            await self._apply(row, "no longer has two-factor sign-in", self.accounts.turn_off_two_factor_for, row["id"])

    async def _reset_password(self, row: dict[str, Any]) -> None:
        with transient_dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
            ui.label(f"Reset the password of {row['email']}").classes("text-lg font-semibold")
            ui.label("Their sessions end. Give them the new password yourself; they can change it on their profile.").classes(
                "text-grey-7 text-sm"
            )
            how = ui.radio({"generate": "Generate a password", "type": "Type one"}, value="generate").props("inline")
            typed = password_field("New password")
            typed.bind_visibility_from(how, "value", value="type")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat color=grey-8")
                ui.button("Reset password", on_click=lambda: dialog.submit(typed.value if how.value == "type" else ""))
        choice = await dialog
        if choice is None:
            return
        try:
            password = await io_bound(self.accounts.reset_password, acting(self.me), row["id"], choice or None)
        except RequestError as exc:
            ui.notify(exc.message, type="negative")
            return
        if row["id"] == self.me.id:
            ui.navigate.to("/login")
            return
        await self.load()
        await show_once(f"New password for {row['email']}", password, "Shown only now. Pass it on safely.")

    async def _create(self) -> None:
        with transient_dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
            ui.label("New user").classes("text-lg font-semibold")
            email = text_field("Email", autocomplete="off")
            name = text_field("Name")
            role = ui.toggle({"user": "Plain user", "admin": "Admin"}, value="user").props("no-caps toggle-color=primary")
            password = password_field("Initial password")
            password.props(f'hint="At least {MIN_PASSWORD_LENGTH} characters; give it to them yourself"')
            error = FormError()

            async def create() -> None:
                with error.guard():
                    await io_bound(
                        self.accounts.create_user, acting(self.me),
                        email=email.value, name=name.value, role=role.value, password=password.value,
                    )
                    dialog.submit(email.value)

            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat color=grey-8")
                ui.button("Create user", on_click=create)
        created = await dialog
        if created:
            ui.notify(f"{created.strip().lower()} created", type="positive")
            await self.load()

    async def _invite(self) -> None:
        with transient_dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
            ui.label("Invite someone").classes("text-lg font-semibold")
            ui.label("They get a link to choose their name and password. The link works once.").classes("text-grey-7 text-sm")
            email = text_field("Email", autocomplete="off")
            role = ui.toggle({"user": "Plain user", "admin": "Admin"}, value="user").props("no-caps toggle-color=primary")
            days = ui.number("Link valid for (days)", value=INVITE_DAYS, min=1, max=MAX_INVITE_DAYS, precision=0).props("outlined")
            error = FormError()

            async def create() -> None:
                with error.guard():
                    invite = await io_bound(
                        self.accounts.create_invite, acting(self.me), email=email.value, role=role.value, days=int(days.value or 0)
                    )
                    dialog.submit(invite)

            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat color=grey-8")
                ui.button("Create link", on_click=create)
        invite = await dialog
        if invite is None:
            return
        await self.load()
        base = str(ui.context.client.request.base_url).rstrip("/")
        await show_once(f"Invite link for {invite.email}", f"{base}/invite/{invite.raw_token}", "Send it to them. It is shown only now.")

    async def _revoke_invite(self, row: dict[str, Any]) -> None:
        if not await confirm(f"Revoke the invite for {row['email']}?", "The link stops working.", action="Revoke"):
            return
        try:
            await io_bound(self.accounts.revoke_invite, acting(self.me), int(row["id"]))
        except RequestError as exc:
            ui.notify(exc.message, type="negative")
        await self.load()


@console_page("/users", "Users", icon="group", admin=True, order=80)
async def users_page(user: SessionUser) -> None:
    mode = await io_bound(get_hub().accounts.registration_mode)
    page = UsersPage(user, mode)
    await page.load()
