"""The ``vro-bot`` command line, run in-process with its environment set per test.

``cli_env`` clears every variable the bot reads and moves into an empty folder (no ``.env``),
so each test states its whole configuration through ``monkeypatch.setenv``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from bot.config import Settings

SetEnv = Callable[[Mapping[str, str]], None]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SetEnv:
    """A clean process environment for ``bot.cli.main``; call it with the variables to set."""
    known = {name.upper() for name in Settings.model_fields}
    for name in list(os.environ):
        if name.upper() in known:
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    def set_env(values: Mapping[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env
