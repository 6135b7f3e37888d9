"""The latest live figures of a model version, as the CLI, the monitor page, the service's
``/metrics`` and the promotion rule read them from the live tables (``gogooku.bundle.livestore``)."""

from __future__ import annotations

import polars as pl

from gogooku.bundle.livestore import LiveStore
from gogooku.bundle.store import current_version, shadow_version

TOP_PSI = 20


def role_of(model: str, version: str) -> str | None:
    """ "served" (the promoted version), "shadow" or None."""
    if version == current_version(model):
        return "served"
    return "shadow" if version == shadow_version(model) else None


def summary(live: LiveStore, model: str, version: str, series: pl.DataFrame | None = None) -> dict:
    """The latest figures of model@version: ``date`` (latest matured day), ``rankic_1d/20d/60d``,
    ``spread_1d/20d/60d``, ``matured_days``, ``drift_date``, ``psi_max`` (feature), ``psi_top``
    ({feature: psi}, ``TOP_PSI`` largest) and ``prediction_psi`` (None where undefined)."""
    series = live.live_series(model, version) if series is None else series
    out: dict = {"matured_days": series.height}
    last = series.row(-1, named=True) if series.height else {}
    out["date"] = last.get("date")
    for stem in ("rankic", "spread"):
        out[f"{stem}_1d"] = last.get(stem)
        for w in (20, 60):
            out[f"{stem}_{w}d"] = last.get(f"{stem}_{w}d")
    drift = live.drift_day(model, version)
    feats = drift.filter((pl.col("kind") == "feature") & pl.col("psi").is_not_null())
    feats = feats.sort("psi", "name", descending=[True, False])
    pred = drift.filter(pl.col("kind") == "prediction")["psi"]
    out["drift_date"] = drift["date"][0] if drift.height else None
    out["psi_max"] = feats["psi"][0] if feats.height else None
    out["psi_top"] = dict(zip(feats["name"][:TOP_PSI], feats["psi"][:TOP_PSI], strict=True))
    out["prediction_psi"] = pred[0] if pred.len() else None
    return out
