"""What instances on one database share: the console's session secret (kept in the database, or
``LLMHUB_SESSION_SECRET``) and the provider secrets' key (an instance with another one refuses to start)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from services.catalog.config_file import apply_config_text
from services.errors import SecretKeyError
from services.hub import Hub, HubOptions
from services.usage.tables import APP_SETTING
from tests import databases
from tests.conftest import ROOT, child_env
from tests.factories import TEST_ACTOR

ONE_KEY = """
providers:
  - name: emu
    kind: openai
    base_url: http://127.0.0.1:9/v1
    keys:
      - label: main
        secret: sk-emu-0123456789
"""


def shared_database(tmp_path: Path) -> str:
    """A database two hubs with their own data dirs both open: empty, on this module's backend."""
    databases.CURRENT.fresh()
    return databases.CURRENT.url_for(tmp_path)


@contextmanager
def hub_on(url: str, data_dir: Path, **options: Any) -> Iterator[Hub]:
    """A hub on ``url`` with its own data dir; ``options`` go to ``HubOptions``."""
    hub = Hub(HubOptions(data_dir=data_dir, database_url=url, **options))
    try:
        yield hub
    finally:
        hub.engine.dispose()


def stored_session_secrets(hub: Hub) -> list[object]:
    with hub.engine.connect() as connection:
        return list(connection.execute(select(APP_SETTING.c.value).where(APP_SETTING.c.key == "session_secret")).scalars())


def test_instances_on_one_database_sign_sessions_with_one_secret_kept_encrypted(tmp_path: Path) -> None:
    url, key = shared_database(tmp_path), Fernet.generate_key().decode()
    with hub_on(url, tmp_path / "one", secret_key=key) as one, hub_on(url, tmp_path / "two", secret_key=key) as two:
        secret = one.session_secret()
        assert len(secret) >= 32 and two.session_secret() == secret == one.session_secret()
        [stored] = stored_session_secrets(one)
        assert secret not in str(stored)  # encrypted with the provider secrets' key
        assert not (tmp_path / "one" / "session.key").exists()


def test_instances_starting_together_end_with_the_same_secret(tmp_path: Path) -> None:
    url, key = shared_database(tmp_path), Fernet.generate_key().decode()
    hubs = [Hub(HubOptions(data_dir=tmp_path / f"hub{n}", database_url=url, secret_key=key)) for n in range(4)]
    try:
        with ThreadPoolExecutor(len(hubs)) as pool:
            secrets = set(pool.map(Hub.session_secret, hubs))
        assert len(secrets) == 1 and len(stored_session_secrets(hubs[0])) == 1
    finally:
        for hub in hubs:
            hub.engine.dispose()


def test_the_environment_secret_wins_and_an_old_session_key_file_is_carried_over(tmp_path: Path) -> None:
    url = shared_database(tmp_path)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "session.key").write_text("the-secret-of-an-older-release\n")
    with hub_on(url, tmp_path / "old") as upgraded:
        assert upgraded.session_secret() == "the-secret-of-an-older-release"  # nobody signed out by the upgrade
    with hub_on(url, tmp_path / "given", session_secret="s" * 40) as given:
        assert given.session_secret() == "s" * 40


def test_an_instance_whose_key_cannot_decrypt_the_stored_keys_refuses_to_start(tmp_path: Path) -> None:
    url = shared_database(tmp_path)
    with hub_on(url, tmp_path / "first", secret_key=Fernet.generate_key().decode()) as first:
        apply_config_text(ONE_KEY, catalog=first.catalog, source="test", actor=TEST_ACTOR)
    with pytest.raises(SecretKeyError, match="set LLMHUB_SECRET_KEY to the key they were stored with"):
        Hub(HubOptions(data_dir=tmp_path / "second", database_url=url, secret_key=Fernet.generate_key().decode()))
    with pytest.raises(SecretKeyError, match=r"another key than the key in .*secret.key: set LLMHUB_SECRET_KEY"):
        Hub(HubOptions(data_dir=tmp_path / "third", database_url=url))
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py")], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=child_env(LLMHUB_DATA_DIR=str(tmp_path / "fourth"), LLMHUB_DATABASE_URL=url, LLMHUB_PORT="9",
                      LLMHUB_SECRET_KEY=Fernet.generate_key().decode()),
    )
    assert result.returncode == 2, result.stderr
    assert "llmhub: the provider keys in the database were encrypted with another key than LLMHUB_SECRET_KEY" in result.stderr
