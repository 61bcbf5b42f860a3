"""The console's landing page: where things are and how to call the gateway."""

from nicegui import ui

from components.frame import console_page
from services.accounts.sessions import SessionUser


@console_page("/", "Home", icon="home", order=0)
def home(user: SessionUser) -> None:
    with ui.card().classes("w-full"):
        ui.label(f"Welcome, {user.display_name}").classes("text-lg font-medium")
        ui.markdown(
            "Call the gateway with any OpenAI SDK: set `base_url` to this server's `/v1` and use a "
            "gateway token from your **Profile** as the API key. Ask for a logical model such as "
            "`smart`, or a concrete `provider/model`. Scripts can use the management API at "
            "[/api/docs](/api/docs)."
        )
