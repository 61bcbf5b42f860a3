"""The start-up line: where the console, the API and its docs are, and where the data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.server import reachable_urls, ready_message
from app.settings import SettingsError, load_settings
from services.errors import StartupError
from services.hub import Hub, HubOptions
from tests.conftest import RunningApp, free_port
from tests.factories import wait_until


def test_a_started_hub_says_where_it_is_and_where_its_data_lives(fresh_app: RunningApp) -> None:
    log = wait_until(lambda: fresh_app.log() if "LLM Hub is ready" in fresh_app.log() else None, "the start-up line")
    assert f"Console: {fresh_app.url}" in log
    assert f"OpenAI-compatible API: {fresh_app.url}/v1" in log and f"API docs: {fresh_app.url}/api/docs" in log
    assert f"Data: {(fresh_app.data_dir / 'llmhub.db').resolve()} (SQLite)" in log
    assert f"encrypted with {(fresh_app.data_dir / 'secret.key').resolve()}" in log
    assert f"First visit: open {fresh_app.url}/setup" in log  # no admin yet


def test_a_wildcard_bind_lists_loopback_first_and_a_named_host_as_it_is(tmp_path: Path) -> None:
    assert reachable_urls("0.0.0.0", 8080)[0] == "http://127.0.0.1:8080"
    assert reachable_urls("::1", 9000) == ["http://[::1]:9000"]
    settings = load_settings(host="hub.example.internal", port=8443, data_dir=tmp_path, secret_key="from-the-environment")
    message = ready_message(settings, needs_setup=False)
    assert "Console: http://hub.example.internal:8443\n" in message
    assert "encrypted with LLMHUB_SECRET_KEY" in message and "First visit" not in message


def test_the_database_url_is_checked_and_its_password_never_shown(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, database_url="postgres://llmhub:hunter2-secret@db.internal:5432/llmhub")
    assert settings.database == "postgresql+psycopg://llmhub:hunter2-secret@db.internal:5432/llmhub"  # psycopg 3 always
    message = ready_message(settings, needs_setup=False)
    assert "Data: postgresql+psycopg://llmhub:***@db.internal:5432/llmhub" in message and "hunter2" not in message
    assert load_settings(data_dir=tmp_path).database == f"sqlite:///{tmp_path / 'llmhub.db'}"
    for wrong, problem in (("mysql://root:hunter2-secret@db/llmhub", "unsupported database 'mysql'"), ("not a url", "not a database URL")):
        with pytest.raises(SettingsError) as refused:
            load_settings(data_dir=tmp_path, database_url=wrong)
        assert "LLMHUB_DATABASE_URL" in str(refused.value) and problem in str(refused.value)
        assert "hunter2" not in str(refused.value)  # the value is hidden: a URL may hold a password


def test_a_database_that_cannot_be_reached_stops_the_start_naming_it(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://llmhub:hunter2-secret@127.0.0.1:{free_port()}/llmhub"  # nothing listens there
    shown = r"postgresql\+psycopg://llmhub:\*\*\*@127.0.0.1:\d+/llmhub"
    with pytest.raises(StartupError, match=rf"cannot open the database {shown}: ") as refused:
        Hub(HubOptions(data_dir=tmp_path, database_url=url))
    assert "hunter2" not in refused.value.message
