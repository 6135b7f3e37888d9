"""The ``[tracking]`` section of the run config and where its MLflow store lives.

Tracking is off by default. ``uri = ""`` is the local file store ``file:$GOGOOKU_HOME/mlruns``
(works offline); any MLflow tracking URI (``sqlite:///...``, ``http://...``) is accepted as
written. A run folder that was logged holds ``tracking.json`` (the store, experiment and MLflow
run id), which a bundle of that run copies, so its promotion names the training run.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from gogooku.config import StrictModel
from gogooku.errors import GogookuError
from gogooku.settings import get_settings

TRACKING_FILE = "tracking.json"
STORE_DIR = "mlruns"


class TrackingError(GogookuError, RuntimeError):
    """Tracking is enabled but cannot work (MLflow not installed)."""


class TrackingConfig(StrictModel):
    """Optional MLflow logging of the run (``docs/tracking.md``)."""

    enabled: bool = False
    uri: str = Field("", description='MLflow tracking URI; "" = file:$GOGOOKU_HOME/mlruns')
    experiment: str = Field("gogooku", min_length=1)
    register_bundles: bool = Field(
        True, description="a promoted bundle of the run becomes a registered model version"
    )
    retries: int = Field(2, ge=0, description="retries of a failed HTTP request to the server")
    timeout_s: float = Field(30.0, gt=0, description="seconds per HTTP request to the server")

    def tracking_uri(self) -> str:
        """``uri``, or the home's local file store when it is empty."""
        if self.uri:
            return self.uri
        return (get_settings().home / STORE_DIR).absolute().as_uri()


def default_store() -> Path:
    """``$GOGOOKU_HOME/mlruns``: the folder of the default file store."""
    return get_settings().home / STORE_DIR
