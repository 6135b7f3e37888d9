"""``ServeConfig``: the service's typed settings, from a TOML file and/or the environment.

Sources, later ones winning: the defaults below; the TOML file named by ``GOGOOKU_SERVE_CONFIG``
(or passed to ``load_serve_config``; top-level keys are the fields, unknown keys are errors);
``GOGOOKU_SERVE_MODELS`` (comma-separated bundle names), ``GOGOOKU_API_KEYS_FILE`` and
``GOGOOKU_BUNDLE_KEY_FILE`` (the bundle signing key, ``gogooku.bundle.signing``).
With no ``models`` the service serves every bundle name that has a promoted version at startup.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from gogooku.bundle.signing import KEY_ENV as BUNDLE_KEY_ENV
from gogooku.bundle.signing import load_key
from gogooku.bundle.storeurl import is_postgres, redact, store_target
from gogooku.config import ConfigError, StrictModel, load_config
from gogooku.serve.auth import FileKeys
from gogooku.serve.dbkeys import StoreKeys
from gogooku.settings import get_settings

CONFIG_ENV = "GOGOOKU_SERVE_CONFIG"
MODELS_ENV = "GOGOOKU_SERVE_MODELS"
KEYS_ENV = "GOGOOKU_API_KEYS_FILE"


class ServeConfig(StrictModel):
    """Settings of the ranking service."""

    models: list[str] = Field(
        default_factory=list, description="bundle names served; the first is the default model"
    )
    api_keys_file: Path | None = Field(
        None,
        description="JSON key file (default: $GOGOOKU_HOME/api_keys.json; with a PostgreSQL "
        "prediction store the keys live in the store and no file may be set)",
    )
    rate_per_s: float = Field(50.0, gt=0, description="token-bucket refill rate per API key")
    rate_burst: int = Field(100, ge=1, description="token-bucket capacity per API key")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1, description="request bodies above → 413")
    max_data_age_s: float = Field(
        4 * 86400.0,
        ge=0,
        description="/readyz fails when the newest stored prediction date is older (0: off)",
    )
    default_top_k: int = Field(50, ge=1)
    max_top_k: int = Field(5000, ge=1)
    max_predict_rows: int = Field(500_000, ge=1, description="rows per POST /v1/predict")
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="a connection whose request line and headers are not complete this many "
        "seconds after it opened (or after its previous response) is closed",
    )
    response_cache_mb: float = Field(
        64.0,
        ge=0,
        description="bodies of /v1/rankings answers kept pre-serialised, least recently used "
        "first out (0: no cache)",
    )
    bundle_check_s: float = Field(
        1.0,
        ge=0,
        description="a cached answer re-hashes nothing: its bundle's files are re-checked (stat) "
        "at most this often; a promote or rollback is seen at the next request",
    )
    protect_ops: bool = Field(
        False, description="/docs, /openapi.json and /metrics need X-API-Key as /v1 does"
    )

    bundle_key_file: Path | None = Field(
        None,
        description="HMAC key file checking bundle signatures (manifest.sig): a bundle whose "
        "signature fails is not served",
    )
    require_signed_bundles: bool = Field(
        False, description="unsigned bundles are not served either (needs bundle_key_file)"
    )

    @property
    def keys_path(self) -> Path:
        return self.api_keys_file or get_settings().home / "api_keys.json"

    def key_source(self) -> FileKeys | StoreKeys:
        """Where the API keys live: the ``api_keys`` table of a PostgreSQL prediction store
        (shared by replicas; then no key file may be configured), else the key file."""
        target = store_target()
        if not is_postgres(target):
            return FileKeys(self.keys_path)
        if self.api_keys_file is not None:
            raise ConfigError(
                f"serve config: api_keys_file {self.api_keys_file} with the PostgreSQL store "
                f"{redact(target)}: the keys live in the store; unset api_keys_file "
                f"(and ${KEYS_ENV})"
            )
        return StoreKeys(target)

    def bundle_key(self) -> bytes | None:
        """The signing key of ``bundle_key_file`` (None: signatures are not checked)."""
        if self.bundle_key_file is None:
            if self.require_signed_bundles:
                raise ConfigError(
                    "serve config: require_signed_bundles needs bundle_key_file "
                    f"(or ${BUNDLE_KEY_ENV})"
                )
            return None
        return load_key(self.bundle_key_file)


def load_serve_config(path: str | Path | None = None) -> ServeConfig:
    """The config from ``path`` (default: ``$GOGOOKU_SERVE_CONFIG`` when set) plus the
    environment overrides of the module doc."""
    path = path or os.environ.get(CONFIG_ENV)
    cfg = load_config(path, ServeConfig) if path else ServeConfig()
    update: dict[str, object] = {}
    if os.environ.get(MODELS_ENV):
        update["models"] = [m.strip() for m in os.environ[MODELS_ENV].split(",") if m.strip()]
    if os.environ.get(KEYS_ENV):
        update["api_keys_file"] = Path(os.environ[KEYS_ENV])
    if os.environ.get(BUNDLE_KEY_ENV):
        update["bundle_key_file"] = Path(os.environ[BUNDLE_KEY_ENV])
    return ServeConfig.model_validate({**cfg.model_dump(), **update}) if update else cfg
