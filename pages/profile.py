"""Every user's own page: who they are, their password, two-factor sign-in and gateway tokens."""

from __future__ import annotations

from nicegui import ui

from app.auth import keep_signed_in
from app.runtime import get_hub
from components.account_ui import FormError, acting, password_field, text_field
from components.blocking import io_bound
from components.dialogs import transient_dialog
from components.frame import console_page
from components.secret_dialogs import show_once
from components.token_panel import TokenPanel
from services.accounts.sessions import SessionUser
from services.accounts.users import MIN_PASSWORD_LENGTH
from services.accounts.views import ProfileView, TwoFactorEnrolment
from services.errors import RequestError


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


class ProfilePage:
    def __init__(self, user: SessionUser, profile: ProfileView) -> None:
        self.user = user
        self.accounts = get_hub().accounts
        with ui.element("div").classes("w-full grid gap-4 md:grid-cols-2"):
            self._account_card(profile)
            self._password_card()
            self._two_factor_card(profile)

    @staticmethod
    def _account_card(profile: ProfileView) -> None:
        with ui.card().classes("w-full gap-2"):
            ui.label("Account").classes("text-lg font-medium")
            with ui.row().classes("items-center gap-3"):
                ui.icon("account_circle", size="48px").classes("text-primary")
                with ui.column().classes("gap-0"):
                    if profile.name:
                        ui.label(profile.name).classes("font-medium")
                    ui.label(profile.email).classes("text-grey-7 text-sm" if profile.name else "font-medium")
                ui.badge(profile.role, color="primary" if profile.role == "admin" else "grey-7")

    def _password_card(self) -> None:
        with ui.card().classes("w-full gap-3 md:row-span-2"):
            ui.label("Change password").classes("text-lg font-medium")
            current = password_field("Current password", autocomplete="current-password")
            new = password_field("New password")
            new.props(f'hint="At least {MIN_PASSWORD_LENGTH} characters"')
            again = password_field("Confirm new password")
            error = FormError()

            async def change() -> None:
                with error.guard():
                    epoch = await io_bound(
                        self.accounts.change_password, acting(self.user), current=current.value, new=new.value, confirm=again.value
                    )
                    keep_signed_in(epoch)
                    current.value = new.value = again.value = ""
                    ui.notify("Password changed. Your other sessions were signed out.", type="positive")

            ui.button("Change password", on_click=change).props("no-caps").classes("self-start")

    @ui.refreshable_method
    def _two_factor_card(self, profile: ProfileView) -> None:
        with ui.card().classes("w-full gap-3").props("data-testid=two-factor"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("Two-factor sign-in").classes("text-lg font-medium grow")
                ui.badge("on" if profile.two_factor else "off", color="positive" if profile.two_factor else "grey-6")
            if profile.two_factor:
                ui.label(
                    f"Signing in asks for a code from your authenticator app. Recovery codes left: {profile.recovery_codes_left}."
                ).classes("text-grey-7 text-sm")
                turn_off = ui.button("Turn off", icon="lock_open", on_click=self._disable)
                turn_off.props("outline no-caps color=negative").classes("self-start")
            else:
                ui.label("Add a code from an authenticator app to your password, so a stolen password is not enough.").classes(
                    "text-grey-7 text-sm"
                )
                ui.button("Turn on", icon="lock", on_click=self._enrol).props("no-caps").classes("self-start")

    async def _reload_two_factor(self) -> None:
        self._two_factor_card.refresh(await io_bound(self.accounts.profile, self.user.id))

    async def _enrol(self) -> None:
        try:
            enrolment = await io_bound(self.accounts.start_two_factor, self.user.id)
        except RequestError as exc:
            ui.notify(exc.message, type="negative")
            return
        codes = await self._enrol_dialog(enrolment)
        if not codes:
            return
        await self._reload_two_factor()
        await show_once(
            "Your recovery codes", "\n".join(codes),
            "Store these somewhere safe. Each one signs you in once if you lose your phone. They are shown only now.",
            multiline=True,
        )

    async def _enrol_dialog(self, enrolment: TwoFactorEnrolment) -> list[str] | None:
        with transient_dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
            ui.label("Turn on two-factor sign-in").classes("text-lg font-semibold")
            ui.label("1. Scan this code with an authenticator app (such as Aegis, 1Password or Google Authenticator).").classes("text-sm")
            qr_code = ui.image(enrolment.qr_data_url).classes("w-48 h-48 self-center bg-white rounded")
            qr_code.props('alt="QR code for your authenticator app"')
            with ui.column().classes("w-full gap-0 items-center"):
                ui.label("Cannot scan it? Type this key instead:").classes("text-grey-7 text-sm")
                ui.label(_grouped(enrolment.secret)).classes("font-mono text-base select-all").props("data-testid=totp-secret")
            ui.label("2. Enter the 6-digit code the app shows.").classes("text-sm")
            code = text_field("Authentication code", autocomplete="one-time-code").props("inputmode=numeric")
            error = FormError()

            async def confirm_code() -> None:
                with error.guard():
                    codes = await io_bound(self.accounts.enable_two_factor, acting(self.user), secret=enrolment.secret, code=code.value)
                    dialog.submit(codes)

            code.on("keydown.enter", confirm_code)
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat color=grey-8")
                ui.button("Turn on", on_click=confirm_code)
        codes: list[str] | None = await dialog
        return codes

    async def _disable(self) -> None:
        with transient_dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
            ui.label("Turn off two-factor sign-in").classes("text-lg font-semibold")
            ui.label("Enter a code from your authenticator app, or a recovery code.").classes("text-grey-7 text-sm")
            code = text_field("Authentication code", autocomplete="one-time-code")
            error = FormError()

            async def turn_off() -> None:
                with error.guard():
                    await io_bound(self.accounts.disable_two_factor, acting(self.user), code=code.value)
                    dialog.submit(True)

            code.on("keydown.enter", turn_off)
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat color=grey-8")
                ui.button("Turn off", on_click=turn_off).props("color=negative")
        turned_off = await dialog
        if turned_off:
            ui.notify("Two-factor sign-in is off", type="positive")
            await self._reload_two_factor()


@console_page("/profile", "Profile", icon="account_circle", nav=False)
async def profile_page(user: SessionUser) -> None:
    profile = await io_bound(get_hub().accounts.profile, user.id)
    ProfilePage(user, profile)
    tokens = TokenPanel(user)
    await tokens.load()
