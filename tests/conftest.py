"""Shared test settings: every test gets its own GOGOOKU_HOME."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "gogooku_home"
    monkeypatch.setenv("GOGOOKU_HOME", str(home))
    monkeypatch.delenv("JQUANTS_API_KEY", raising=False)
    monkeypatch.delenv("JQUANTS_PLAN", raising=False)
    return home
