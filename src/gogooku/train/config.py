"""The run config: one TOML per run with ``[data]``, ``[model]``, ``[train]`` and ``[loss]``.

``[model]`` is a union discriminated by ``kind``: ``"atft"`` (:class:`AtftConfig`), ``"apex"``
(:class:`~gogooku.models.apex.ApexConfig`), ``"lgbm"``,
``"linear"``, ``"factor"`` (the tabular baselines). Unknown keys are errors everywhere
(``StrictModel``); ``load_run_config`` names the file and the dotted key of a bad value, and
also checks the sections against each other (the model's window equals the loader's, no loss
horizon is longer than the splits' purged label horizon; APEX's window is at most the loader's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from gogooku.config import ConfigError, DataConfig, StrictModel, load_config
from gogooku.models.apex import ApexConfig
from gogooku.models.atft_gat_fan import AtftConfig
from gogooku.models.factor import FactorConfig
from gogooku.models.gbdt import LgbmConfig
from gogooku.models.linear import LinearConfig

ModelConfig = Annotated[
    AtftConfig | ApexConfig | LgbmConfig | LinearConfig | FactorConfig,
    Field(discriminator="kind"),
]
MODEL_KINDS: tuple[str, ...] = ("atft", "apex", "lgbm", "linear", "factor")
NEURAL_KINDS: tuple[str, ...] = ("atft", "apex")


class TrainConfig(StrictModel):
    """The neural training loop (``gogooku.train.loop``).

    Learning rate at optimiser step s of S: lr · s / W during the W = ⌈warmup_frac · S⌉ warm-up
    steps, then (cosine) lr · (m + (1 − m) · ½(1 + cos(π (s − W) / (S − W)))) with
    m = ``min_lr_ratio``, or constant lr without ``cosine``. EMA: θ̄ ← d θ̄ + (1 − d) θ after
    every step (d = ``ema_decay``, 0 disables it); validation, checkpoints' best weights and
    predictions use θ̄.
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


class LossConfig(StrictModel):
    """Loss weights λ and horizons (see ``gogooku.train.losses`` for the formulas)."""

    rank: float = Field(0.5, ge=0, description="rank-IC surrogate −corr(p, rank(y))")
    cs_ic: float = Field(0.3, ge=0)
    sharpe: float = Field(0.1, ge=0)
    quantile: float = Field(0.1, ge=0)
    top_rank: float = Field(0.0, ge=0, description="top-K DCG-weighted ListNet")
    listnet: float = Field(0.0, ge=0, description="ListNet on the standardised target")
    pairwise: float = Field(0.0, ge=0, description="margin between top-K and bottom-K forecasts")
    horizons: list[int] = Field([1, 5, 10, 20], min_length=1)
    main_horizon: int = 5
    main_weight: float = Field(2.0, gt=0, description="ω of the main horizon (others 1)")
    listnet_temperature: float = Field(1.0, gt=0, description="τ_y of the ListNet target softmax")
    sharpe_temperature: float = Field(2.0, gt=0, description="τ_s of the portfolio softmax")
    top_k: int = Field(20, ge=1, description="K: stocks with target mass in top_rank")
    pairwise_k: int = Field(50, ge=1, description="K: top and bottom stocks paired in pairwise")
    pairwise_margin: float = Field(1.0, gt=0, description="μ: margin in forecast std units")

    @model_validator(mode="after")
    def _consistent(self) -> LossConfig:
        if len(set(self.horizons)) != len(self.horizons) or any(h < 1 for h in self.horizons):
            raise ValueError(f"horizons {self.horizons} must be distinct positive integers")
        if self.main_horizon not in self.horizons:
            raise ValueError(f"main_horizon {self.main_horizon} is not in horizons {self.horizons}")
        terms = (
            self.rank,
            self.cs_ic,
            self.sharpe,
            self.quantile,
            self.top_rank,
            self.listnet,
            self.pairwise,
        )
        if sum(terms) <= 0:
            raise ValueError("all loss weights are 0")
        return self


class RunConfig(StrictModel):
    """A complete run: data, model, training loop and loss."""

    data: DataConfig = DataConfig()
    model: ModelConfig = AtftConfig()
    train: TrainConfig = TrainConfig()
    loss: LossConfig = LossConfig()

    @model_validator(mode="after")
    def _sections_agree(self) -> RunConfig:
        longest = max(self.loss.horizons)
        if longest > self.data.splits.label_horizon:
            raise ValueError(
                f"loss.horizons contains {longest} but data.splits.label_horizon is "
                f"{self.data.splits.label_horizon}: the purge would not cover its labels"
            )
        if isinstance(self.model, AtftConfig) and self.model.window != self.data.loader.window:
            raise ValueError(
                f"model.window {self.model.window} != data.loader.window {self.data.loader.window}"
            )
        if isinstance(self.model, ApexConfig) and self.model.window > self.data.loader.window:
            raise ValueError(
                f"model.window {self.model.window} > data.loader.window "
                f"{self.data.loader.window}: APEX reads the last model.window days of the window"
            )
        return self


def load_run_config(path: str | Path) -> RunConfig:
    """Load and validate a run config file; errors name the file and key."""
    try:
        return load_config(path, RunConfig)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def default_run_config(kind: str) -> RunConfig:
    """The defaults for model ``kind`` (every section at its default)."""
    if kind not in MODEL_KINDS:
        raise ConfigError(f"--model {kind!r}: expected one of {', '.join(MODEL_KINDS)}")
    return RunConfig.model_validate({"model": {"kind": kind}})
