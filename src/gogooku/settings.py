"""Process-wide settings read from the environment (``GOGOOKU_HOME``, ``JQUANTS_API_KEY``, ...).

Per-run knobs live in typed run configs; these settings only say where data lives and how to
reach the J-Quants API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Plan(StrEnum):
    """J-Quants subscription plans, in increasing order of access."""

    FREE = "free"
    LIGHT = "light"
    STANDARD = "standard"
    PREMIUM = "premium"

    @property
    def rank(self) -> int:
        return list(Plan).index(self)


class AddOn(StrEnum):
    """J-Quants add-on contracts, bought on top of a base plan; each opens its own endpoints."""

    MINUTE = "minute"  # minute bars and ticks (/equities/bars/minute, /equities/trades)
    TDNET = "tdnet"  # TDnet timely disclosure (/td/list, /td/files, /td/bulk)


def parse_addons(text: str) -> frozenset[AddOn]:
    """``"minute,tdnet"`` → the add-ons; an unknown name raises ``ValueError`` naming it."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - {a.value for a in AddOn})
    if unknown:
        raise ValueError(f"unknown add-on(s) {unknown}; known: {', '.join(a.value for a in AddOn)}")
    return frozenset(AddOn(name) for name in names)


DEFAULT_BASE_URL = "https://api.jquants.com/v2"


class Settings(BaseSettings):
    """Environment settings. ``GOGOOKU_HOME`` holds raw/, datasets/, runs/, hpo/ and bundles/;
    ``GOGOOKU_STORE`` names the prediction store when it is not the home's SQLite file."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    home: Path = Field(default=Path("gogooku_home"), validation_alias="GOGOOKU_HOME")
    jquants_api_key: SecretStr | None = Field(default=None, validation_alias="JQUANTS_API_KEY")
    jquants_plan: Plan = Field(default=Plan.FREE, validation_alias="JQUANTS_PLAN")
    jquants_addons: Annotated[frozenset[AddOn], NoDecode] = Field(
        default=frozenset(), validation_alias="JQUANTS_ADDONS"
    )
    jquants_base_url: str = Field(default=DEFAULT_BASE_URL, validation_alias="JQUANTS_BASE_URL")
    # Retries of a failed request (5xx, dropped connection, timeout, broken body) and the first
    # back-off wait (doubled per retry, at most 60 s); the read timeout of one request.
    jquants_max_retries: int = Field(default=5, ge=0, validation_alias="JQUANTS_MAX_RETRIES")
    jquants_backoff_s: float = Field(default=1.0, ge=0, validation_alias="JQUANTS_BACKOFF_S")
    jquants_timeout_s: float = Field(default=60.0, gt=0, validation_alias="JQUANTS_TIMEOUT_S")
    # The prediction store (predictions, live monitoring, API keys with PostgreSQL): a SQLite
    # file or a postgresql:// URL; unset: $GOGOOKU_HOME/predictions.sqlite (gogooku.bundle.db).
    store: str | None = Field(default=None, validation_alias="GOGOOKU_STORE")

    @field_validator("jquants_addons", mode="before")
    @classmethod
    def _addons_from_text(cls, value: object) -> object:
        return parse_addons(value) if isinstance(value, str) else value

    @property
    def raw_dir(self) -> Path:
        return self.home / "raw"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"


def get_settings() -> Settings:
    return Settings()


@contextmanager
def environ_applied(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``env`` inside the block and restored after it (a variable
    that was unset is unset again)."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
