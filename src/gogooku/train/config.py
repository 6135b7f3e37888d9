"""The run config: one TOML per run with ``[data]``, ``[target]``, ``[model]``, ``[train]``,
``[loss]``, ``[evaluate]`` and the optional ``[tracking]`` (MLflow logging, off by default).

``[model]`` is validated by the config class of its ``kind``, looked up in the model-kind
registry (``gogooku.models.registry``: the built-in atft, apex, master, lgbm, linear, factor and
any installed plugin). Unknown keys are errors everywhere (``StrictModel``); ``load_run_config`` names
the file and the dotted key of a bad value, and also checks the sections against each other (no
target horizon is longer than the splits' purged label horizon; the kind's own checks, e.g. the
networks' window against the loader's).

``load_run_config(path, overrides, kind)`` applies ``--set dotted.key=value`` overrides before the
validation (``gogooku.config.apply_overrides``); ``with_data(cfg, data)`` replaces the ``[data]``
sections of a run config by a data config's (the demo's ``configs/demo_data.toml``, the studies'
``configs/quality_data.toml``, a test's own splits), so a small dataset never trains on the
shipped run configs' ten-year splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SerializeAsAny, ValidationError, field_validator, model_validator

from gogooku.config import (
    ConfigError,
    DataConfig,
    SplitConfig,
    StrictModel,
    apply_overrides,
    read_toml,
    validate_config,
)
from gogooku.evaluate.config import EvaluateConfig
from gogooku.models.registry import ModelKindError, get_kind, kind_names
from gogooku.target import TargetConfig
from gogooku.tracking.config import TrackingConfig


class PhaseConfig(StrictModel):
    """One phase of ``[train] phases`` (``[[train.phases]]`` tables, in order)."""

    epochs: int = Field(ge=1)
    off: list[str] = Field([], description="model parts bypassed in the forward pass")
    freeze: list[str] = Field([], description="model parts whose parameters do not train")
    lr_scale: float = Field(1.0, gt=0, description="multiplies the scheduled lr in this phase")


class TrainConfig(StrictModel):
    """The neural training loop (``gogooku.train.loop``).

    Learning rate at optimiser step s of S: lr · s / W during the W = ⌈warmup_frac · S⌉ warm-up
    steps, then (cosine) lr · (m + (1 − m) · ½(1 + cos(π (s − W) / (S − W)))) with
    m = ``min_lr_ratio``, or constant lr without ``cosine``. EMA: θ̄ ← d θ̄ + (1 − d) θ after
    every step (d = ``ema_decay``, 0 disables it); validation, checkpoints' best weights and
    predictions use θ̄.

    ``phases`` (empty: off) trains Σ phase epochs (= ``epochs``) in order; in each, the listed
    model parts are bypassed (``off``) or kept but not trained (``freeze``), and the lr schedule
    above is multiplied by ``lr_scale``. The best epoch and early stopping are taken over the
    last phase only, which must switch nothing off (the predictions come from the whole model).
    """

    epochs: int = Field(20, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_frac: float = Field(0.05, ge=0, lt=1)
    cosine: bool = True
    min_lr_ratio: float = Field(0.05, ge=0, le=1)
    grad_clip: float = Field(1.0, gt=0, description="max global L2 norm of the gradients")
    ema_decay: float = Field(0.99, ge=0, lt=1)
    patience: int = Field(5, ge=1, description="epochs without a better val RankIC before stop")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = Field(True, description="bf16 autocast (CUDA only)")
    compile: bool = Field(False, description="torch.compile the model (CUDA only)")
    collapse_std: float = Field(
        1e-4, ge=0, description="collapse when mean per-day std of main-horizon preds is below"
    )
    collapse_checks: int = Field(3, ge=1, description="consecutive low-std validation checks")
    dead_branch_eps: float = Field(1e-6, ge=0, description="branch dead when mean |out| ≤ eps")
    diagnostics_every: int = Field(50, ge=1, description="steps between activation snapshots")
    progress: bool = True
    phases: list[PhaseConfig] = Field([], description="phase training; empty: one phase")

    @model_validator(mode="after")
    def _phases_fill_epochs(self) -> TrainConfig:
        if not self.phases:
            return self
        total = sum(phase.epochs for phase in self.phases)
        if total != self.epochs:
            raise ValueError(
                f"train.phases last {total} epochs in all but train.epochs is {self.epochs}: "
                "set epochs to the sum"
            )
        if self.phases[-1].off:
            raise ValueError(
                f"the last of train.phases switches off {self.phases[-1].off}: the best epoch is "
                "chosen in the last phase, whose model must be whole"
            )
        return self


class LossConfig(StrictModel):
    """Loss weights λ (see ``gogooku.train.losses`` for the formulas); the horizons and the
    label are ``[target]``'s."""

    rank: float = Field(0.5, ge=0, description="rank-IC surrogate −corr(p, rank(y))")
    cs_ic: float = Field(0.3, ge=0)
    sharpe: float = Field(0.1, ge=0)
    quantile: float = Field(0.1, ge=0)
    top_rank: float = Field(0.0, ge=0, description="top-K DCG-weighted ListNet")
    listnet: float = Field(0.0, ge=0, description="ListNet on the standardised target")
    pairwise: float = Field(0.0, ge=0, description="margin between top-K and bottom-K forecasts")
    main_weight: float = Field(
        2.0, gt=0, description="ω of [target] main_horizon (other horizons 1)"
    )
    listnet_temperature: float = Field(1.0, gt=0, description="τ_y of the ListNet target softmax")
    sharpe_temperature: float = Field(2.0, gt=0, description="τ_s of the portfolio softmax")
    top_k: int = Field(20, ge=1, description="K: stocks with target mass in top_rank")
    pairwise_k: int = Field(50, ge=1, description="K: top and bottom stocks paired in pairwise")
    pairwise_margin: float = Field(1.0, gt=0, description="μ: margin in forecast std units")
    mse: float = Field(0.0, ge=0, description="squared error against the day's z(y)")
    sortino: float = Field(0.0, ge=0, description="soft top-K portfolio, downside deviation")
    dmn: float = Field(0.0, ge=0, description="−Sharpe of the costed tanh long-short book")
    dmn_cost_bp: float = Field(10.0, ge=0, description="c: DMN cost per unit of turnover, bp")
    dmn_turnover: float = Field(0.0, ge=0, description="λ_to: DMN mean-turnover penalty")

    @model_validator(mode="after")
    def _consistent(self) -> LossConfig:
        terms = (
            self.rank,
            self.cs_ic,
            self.sharpe,
            self.quantile,
            self.top_rank,
            self.listnet,
            self.pairwise,
            self.mse,
            self.sortino,
            self.dmn,
        )
        if sum(terms) <= 0:
            raise ValueError("all loss weights are 0")
        return self


class RunConfig(StrictModel):
    """A complete run: data, target, model, training loop, loss, evaluation and tracking."""

    data: DataConfig = DataConfig()
    target: TargetConfig = TargetConfig()
    model: SerializeAsAny[StrictModel] = Field(default_factory=lambda: _model_config("atft", {}))
    train: TrainConfig = TrainConfig()
    loss: LossConfig = LossConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    tracking: TrackingConfig = TrackingConfig()

    @field_validator("model", mode="wrap")
    @classmethod
    def _model_of_kind(cls, value: Any, handler: Any) -> StrictModel:
        if isinstance(value, StrictModel):
            return value
        if not isinstance(value, dict):
            raise ValueError("expected a table with a 'kind' key")
        return _model_config(value.get("kind", "atft"), value)

    @model_validator(mode="after")
    def _sections_agree(self) -> RunConfig:
        longest = max(self.target.horizons)
        if longest > self.data.splits.label_horizon:
            raise ValueError(
                f"target.horizons contains {longest} but data.splits.label_horizon is "
                f"{self.data.splits.label_horizon}: the purge would not cover its labels"
            )
        loader = self.data.loader
        if self.loss.dmn > 0 and (not loader.contiguous_days or loader.days_per_batch < 2):
            raise ValueError(
                f"loss.dmn = {self.loss.dmn} needs consecutive days of the same stocks in a batch: "
                "set data.loader.contiguous_days = true and data.loader.days_per_batch >= 2 (got "
                f"{loader.contiguous_days}, {loader.days_per_batch})"
            )
        self._phases_name_parts()
        get_kind(self.model.kind).check_run(self)
        return self

    def _phases_name_parts(self) -> None:
        parts = getattr(type(self.model), "PARTS", ())
        for i, phase in enumerate(self.train.phases):
            if not parts:
                raise ValueError(
                    f"train.phases: model kind {self.model.kind!r} has no parts to switch"
                )
            for key, names, allowed in (
                ("off", phase.off, [p for p in parts if p != "encoder"]),
                ("freeze", phase.freeze, list(parts)),
            ):
                unknown = sorted(set(names) - set(allowed))
                if unknown:
                    raise ValueError(
                        f"train.phases[{i}].{key} names {unknown}: expected some of "
                        f"{', '.join(allowed)} ({self.model.kind})"
                    )

    @property
    def kind(self) -> str:
        return self.model.kind


def _model_config(kind: str, value: dict) -> StrictModel:
    try:
        config = get_kind(kind).config
    except ModelKindError as exc:
        raise ValueError(str(exc)) from None
    return config.model_validate(value)


def load_run_config(
    path: str | Path | None = None, overrides: Sequence[str] = (), kind: str | None = None
) -> RunConfig:
    """Load and validate a run config file (``None``: the defaults of model ``kind``) with the
    ``--set dotted.key=value`` ``overrides`` applied first; errors name the file (or ``--model
    KIND``), the dotted key and the ``--set`` that set it."""
    if path is None:
        if kind is None:
            raise ConfigError("a run config needs a file or a model kind")
        default_run_config(kind)  # names an unknown kind
        data: dict = {"model": {"kind": kind}}
        source = f"--model {kind} (defaults)"
    else:
        data = read_toml(path)
        source = str(path)
    return validate_run_config(apply_overrides(data, overrides), source, overrides)


def validate_run_config(doc: dict, source: str, overrides: Sequence[str] = ()) -> RunConfig:
    """``doc`` validated as a :class:`RunConfig`; every error (a cross-section check's included)
    is a ConfigError naming ``source``."""
    try:
        return validate_config(doc, RunConfig, source, overrides=overrides)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


DATA_SECTIONS = tuple(DataConfig.model_fields)


def _data_tables(data: str | Path | DataConfig | SplitConfig) -> tuple[dict, str]:
    """The ``[data]`` tables that ``data`` gives (name → dict) and what to call it in errors."""
    if isinstance(data, SplitConfig):
        return {"splits": data.model_dump(mode="python")}, "the given [splits]"
    if isinstance(data, DataConfig):
        return data.model_dump(mode="python"), "the given data config"
    doc = read_toml(data)
    if "data" in doc or "model" in doc:  # a run config: its [data.*] tables
        doc.setdefault("data", {})
        validate_config(doc, DataConfig, data, "data")  # errors name the file's own keys
        tables = doc["data"]
    else:  # a data config: nothing but data tables
        validate_config(doc, DataConfig, data)
        tables = doc
    if not tables:
        raise ConfigError(f"{data}: no [splits], [normalization] or [loader] table to use")
    return tables, str(data)


def with_data(cfg: RunConfig, data: str | Path | DataConfig | SplitConfig) -> RunConfig:
    """``cfg`` with ``[data]`` sections replaced by ``data``'s, validated again as a whole.

    ``data`` is a data config file (top-level ``[splits]``, ``[normalization]``, ``[loader]`` such
    as ``configs/demo_data.toml``; or a run config, whose ``[data.*]`` tables are used; a shipped
    name works) — only the tables the file has replace ``cfg``'s —, a :class:`DataConfig` (all
    three) or a :class:`SplitConfig` (the splits only)."""
    tables, source = _data_tables(data)
    doc = cfg.model_dump(mode="python")
    doc["data"] = {**doc["data"], **tables}
    return validate_run_config(doc, f"{source} in the run config")


def default_run_config(kind: str) -> RunConfig:
    """The defaults for model ``kind`` (every section at its default)."""
    if kind not in kind_names():
        raise ConfigError(f"--model {kind!r}: expected one of {', '.join(kind_names())}")
    try:
        return RunConfig.model_validate({"model": {"kind": kind}})
    except ValidationError as exc:
        raise ConfigError(f"--model {kind!r}: {exc.errors()[0]['msg']}") from None
