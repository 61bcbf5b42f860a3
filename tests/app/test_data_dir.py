"""The data directory is private (issue #16, finding 10): 0700 directories and 0600 files, the database's
WAL and SHM files and the console's session storage included, also for a data dir an older release left open."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from tests.factories import hub_process, wait_until


def modes(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode) for path in [root, *root.rglob("*")]}


def test_the_data_dir_and_everything_in_it_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "storage").mkdir(parents=True)
    data.chmod(0o755)
    (data / "storage").chmod(0o755)
    leftover = data / "storage" / "storage-user-old.json"
    leftover.write_text("{}")
    leftover.chmod(0o644)
    with hub_process(tmp_path) as app:
        httpx.get(app.url + "/login", timeout=10)  # a console visit: NiceGUI writes its session storage
        with app.client() as admin:
            assert admin.post("/api/users", json={"email": "a@example.com", "password": "long enough pw 1"}).status_code == 201
        found = wait_until(lambda: (found := modes(data)) and {"llmhub.db-wal", "llmhub.db-shm"} <= found.keys() and found,
                           "the database's WAL and SHM files")
    loose = {name: oct(mode) for name, mode in found.items() if mode != (0o700 if (data / name).is_dir() else 0o600)}
    assert not loose, f"readable by others: {loose}"
    assert {".", "llmhub.db", "llmhub.db.migrate.lock", "secret.key", "storage"} <= found.keys()  # the session secret is in the database
