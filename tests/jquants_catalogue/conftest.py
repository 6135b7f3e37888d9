"""Fixture loading for the endpoint-catalogue tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(endpoint_id: str) -> list[dict]:
    """The ``data`` records of the hand-written V2 response for ``endpoint_id``."""
    return json.loads((FIXTURES / f"{endpoint_id}.json").read_text(encoding="utf-8"))["data"]


@pytest.fixture
def fixture_records():
    return load_fixture
