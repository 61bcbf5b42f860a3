"""Lint and types are part of the test command: a ruff or mypy finding fails the suite.

Both read their configuration from ``pyproject.toml`` (rule set, line length, strict typing on
``services/``); run them alone with ``ruff check .`` and ``mypy``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([sys.executable, "-m", "ruff", "check", "--no-cache", "."], id="ruff"),
        pytest.param([sys.executable, "-m", "mypy"], id="mypy"),
    ],
)
def test_static_check_finds_nothing(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"{command[2]} found problems:\n{result.stdout}{result.stderr}"
