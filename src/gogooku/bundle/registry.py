"""A promoted bundle in the MLflow model registry (``docs/tracking.md``, "Bundles").

The switch is the bundle's own run config: its ``config.toml``'s ``[tracking]`` (``enabled`` and
``register_bundles``, the store at ``uri``; ``""`` = ``file:$GOGOOKU_HOME/mlruns`` of the home
that promotes). The bundle's ``tracking.json`` (copied from a logged run) gives the training
run's MLflow run id when it was logged to that same store.
"""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path

from pydantic import ValidationError

from gogooku.runs import CONFIG_FILE
from gogooku.tracking.config import TRACKING_FILE, TrackingConfig
from gogooku.tracking.mlflow_log import register_bundle

log = logging.getLogger(__name__)


def bundle_tracking(path: Path) -> TrackingConfig:
    """The ``[tracking]`` of the bundle's config.toml (off when absent or invalid: a warning)."""
    file = path / CONFIG_FILE
    try:
        table = tomllib.loads(file.read_text(encoding="utf-8")).get("tracking", {})
        return TrackingConfig.model_validate(table)
    except (OSError, ValueError, ValidationError) as exc:
        log.warning("tracking: %s: no usable [tracking] (%s); not registered", file, exc)
        return TrackingConfig()


def training_run_id(path: Path, cfg: TrackingConfig) -> str | None:
    """The MLflow run id of the bundle's training run, when it was logged to ``cfg``'s store."""
    file = path / TRACKING_FILE
    if not file.is_file():
        return None
    record = json.loads(file.read_text(encoding="utf-8"))
    if record.get("tracking_uri") != cfg.tracking_uri():
        return None
    return record.get("mlflow_run_id")


def register_promoted(path: Path, name: str, version: str, bundle_hash: str) -> str | None:
    """Register bundle ``name@version`` at ``path`` when its config says so; the model version."""
    cfg = bundle_tracking(path)
    if not (cfg.enabled and cfg.register_bundles):
        return None
    return register_bundle(path, name, version, bundle_hash, cfg, training_run_id(path, cfg))
