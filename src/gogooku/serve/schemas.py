"""Request and response bodies of the ranking service (pydantic; they make the OpenAPI schema)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Finite = Annotated[float, Field(allow_inf_nan=False)]


class FeatureRow(BaseModel):
    """One stock on one date: raw (not normalised) feature values by name; null = missing."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    date: dt.date = Field(alias="Date")
    code: str = Field(alias="Code", min_length=1, max_length=16)
    features: dict[str, Finite | None]


class Edge(BaseModel):
    """A graph edge in force on the scored date (codes), as in the dataset's graph_edges.parquet."""

    model_config = ConfigDict(extra="forbid")

    src: str
    dst: str
    weight: Finite


class PredictRequest(BaseModel):
    """Feature rows of a whole cross-section: tabular models one date, window models the
    ``window`` dates ending at the scored date (see ``GET /v1/models`` for the inputs)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="bundle name (default: the first served)")
    rows: list[FeatureRow] = Field(min_length=1)
    edges: list[Edge] | None = Field(None, description="required when the model reads a graph")


class Prediction(BaseModel):
    code: str
    score: float = Field(description="main-horizon score")
    scores: dict[str, float] = Field(description="score per horizon in trading days")


class PredictResponse(BaseModel):
    model: str
    version: str
    date: dt.date
    main_horizon: int
    predictions: list[Prediction]


class RankingEntry(BaseModel):
    rank: int
    code: str
    score: float
    scores: dict[str, float]
    sector: str | None = Field(description="33-sector code (S33) from the master data")
    sector_name: str | None
    name: str | None


class RankingsResponse(BaseModel):
    model: str
    version: str
    data_date: dt.date = Field(description="the date whose features were scored")
    created_at: str = Field(description="when the prediction job stored the day (UTC)")
    main_horizon: int
    total: int = Field(description="stocks scored on the date")
    count: int
    rankings: list[RankingEntry]


class VersionInfo(BaseModel):
    version: str
    run_id: str
    kind: str
    dataset: str
    created_at: dt.datetime
    metrics: dict[str, dict[str, float | None]]
    role: str | None = Field(
        None, description="served (the promoted version), shadow (predicted, not served) or null"
    )


class ModelInfo(BaseModel):
    name: str
    current: str | None
    shadow: str | None = Field(None, description="the shadow version (predicted, not served)")
    ready: bool
    error: str | None
    inputs: list[str] = Field(description="feature names a /v1/predict row must carry")
    window: int | None
    versions: list[VersionInfo]
