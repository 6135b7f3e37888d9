"""Typed run configuration: strict pydantic models loaded from TOML.

A run config is one TOML file whose top-level tables are sections (``[splits]``,
``[normalization]``, ``[loader]``; later issues add model and training sections). Every section is
a :class:`StrictModel`: unknown keys are errors, values are validated when the file is loaded,
and the error names the file and the dotted key (``configs/x.toml: splits.purge_day: unknown
key``).

- ``load_config(path, Model)`` validates the whole file as ``Model``;
  ``load_config(path, Model, section="splits")`` validates one table of it (so a full run config
  can be handed to a command that needs one section).
- ``dump_config(config, path)`` writes a model back as TOML (atomically); ``None`` values are left
  out (TOML has no null), so a field may only be ``None`` by default (``clip = inf`` is how
  normalisation says "no clipping").
- The shipped run configs live in ``CONFIGS_DIR`` (``gogooku/configs/``, package data); a config
  path that is not a file but names one of them (``lgbm.toml``, ``configs/lgbm.toml``) reads it.
- ``--set dotted.key=value`` overrides (``apply_overrides``) change the file's dict before it is
  validated, so an override is checked like the file (an unknown key is named with the ``--set``
  that made it). The value is read as a TOML value (``1``, ``1e-3``, ``true``, ``"x"``,
  ``[1, 5]``, ``{a = 1}``) and, when it is not one, as a bare string (``model.objective=lambdarank``).
- ``load_split_config(path)`` reads the folds of a data config (``[splits]``) or of a run config
  (``[data.splits]``; its defaults when the run config has no such table).
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gogooku.errors import GogookuError
from gogooku.io import atomic_write_text

M = TypeVar("M", bound=BaseModel)

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
"""The run configs shipped in the package (a checkout's ``configs/`` links here)."""


class ConfigError(GogookuError, ValueError):
    """A config file is missing, not TOML, or does not validate; the message names file and key."""


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# -- data sections -------------------------------------------------------------------------------
class SplitConfig(StrictModel):
    """Walk-forward folds in trading days of the dataset's date axis (see ``gogooku.dataset.splits``).

    Fold k: train = ``train_days`` days (``expanding``: from the first usable day to the end of
    train grows by ``step_days`` per fold; ``rolling``: the window slides by ``step_days``), then
    ``purge_days + embargo_days`` days skipped, ``val_days`` of validation, the same gap again,
    ``test_days`` of test. ``purge_days`` must be at least ``label_horizon + 1`` so that the label
    window [t+1, t+1+h] of the last training row ends before the first validation day.
    """

    scheme: Literal["expanding", "rolling"] = "expanding"
    train_days: int = Field(756, ge=1)
    val_days: int = Field(126, ge=1)
    test_days: int = Field(126, ge=1)
    step_days: int | None = Field(None, ge=1, description="default: test_days")
    label_horizon: int = Field(20, ge=0, description="longest label horizon h in trading days")
    purge_days: int | None = Field(None, ge=0, description="default: label_horizon + 1")
    embargo_days: int = Field(0, ge=0)
    first_day: int = Field(
        0, ge=0, description="date-axis index of the first usable day (e.g. window length - 1)"
    )
    max_folds: int | None = Field(None, ge=1)
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _purge_covers_labels(self) -> SplitConfig:
        if self.purge_days is not None and self.purge_days < self.label_horizon + 1:
            raise ValueError(
                f"purge_days={self.purge_days} is shorter than label_horizon + 1 = "
                f"{self.label_horizon + 1}: training labels would reach into validation"
            )
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self

    @property
    def purge(self) -> int:
        return self.label_horizon + 1 if self.purge_days is None else self.purge_days

    @property
    def step(self) -> int:
        return self.test_days if self.step_days is None else self.step_days

    @property
    def gap(self) -> int:
        """Trading days skipped between train and validation and between validation and test."""
        return self.purge + self.embargo_days


class NormalizationConfig(StrictModel):
    """Per-date cross-sectional transform (see ``gogooku.dataset.normalize``)."""

    method: Literal["rank_gauss", "robust_z"] = "rank_gauss"
    clip: float = Field(5.0, gt=0, description="clip to ±clip; inf: no clipping")
    missing_indicator: bool = False


class LoaderConfig(StrictModel):
    """Day-batch loader (see ``gogooku.dataset.loader``)."""

    window: int = Field(60, ge=1, description="L: days of features per sample, ending at t")
    days_per_batch: int = Field(1, ge=1)
    shuffle: bool = True
    contiguous_days: bool = Field(
        False,
        description="batches of consecutive days sharing one stock draw (DMN turnover); the "
        "order of the batches is shuffled",
    )
    seed: int = 0
    stocks_per_day: int | None = Field(None, ge=1, description="random subset of listed stocks")
    features: list[str] | None = None
    feature_blocks: list[str] | None = None
    targets: list[str] | None = None
    normalize: Literal["cached", "batch", "off"] = Field(
        "cached",
        description="cached: precomputed per-date normalised array; batch: normalise each batch "
        "on its device; off: raw features (NaN where missing)",
    )
    require_labels: bool = True
    prefetch: int = Field(2, ge=1, description="batches prepared ahead on CUDA")
    pin_memory: bool = True


class Ts2VecConfig(StrictModel):
    """TS2Vec pretraining of a fold's temporal encoder (``gogooku.train.pretrain``)."""

    dim: int = Field(16, ge=1, description="D: embedding size (features emb_ts2vec_0..D-1)")
    hidden: int = Field(32, ge=1, description="C: width of the convolution stack")
    blocks: int = Field(4, ge=1, description="residual blocks; receptive field 1+4(2^blocks-1)")
    segment: int = Field(32, ge=2, description="days per training sample (cropped in two views)")
    batch_stocks: int = Field(64, ge=2, description="stocks per step (the instance negatives)")
    epochs: int = Field(3, ge=1, description="passes over the training days as segment ends")
    lr: float = Field(1e-3, gt=0)
    alpha: float = Field(0.5, ge=0, le=1, description="weight of the instance term")
    mask_p: float = Field(0.5, ge=0, lt=1, description="timestamp masking probability")
    seed: int = 0


class EmbeddingsConfig(StrictModel):
    """Learned embeddings appended to the model inputs; each is off unless its table is given."""

    ts2vec: Ts2VecConfig | None = None


class DataConfig(StrictModel):
    """The data sections of a run config."""

    splits: SplitConfig = SplitConfig()
    normalization: NormalizationConfig = NormalizationConfig()
    loader: LoaderConfig = LoaderConfig()
    embeddings: EmbeddingsConfig = EmbeddingsConfig()


# -- load / dump ---------------------------------------------------------------------------------
SET_OPTION = "--set"


def parse_value(text: str) -> Any:
    """An override's value: ``text`` read as a TOML value (``1``, ``2.5``, ``true``, ``"a b"``,
    ``[1, 5]``, ``{x = 1}``, ``2024-01-04``), else ``text`` itself as a string."""
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    return parsed["v"] if parsed.keys() == {"v"} else text


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``"a.b.c=value"`` → ``(("a", "b", "c"), parse_value("value"))``."""
    key, sep, value = text.partition("=")
    parts = tuple(part.strip() for part in key.split("."))
    if not sep or not all(parts):
        raise ConfigError(
            f"{SET_OPTION} {text!r}: expected KEY=VALUE with a dotted KEY, e.g. train.epochs=1"
        )
    return parts, parse_value(value.strip())


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """A copy of the config dict ``data`` with each ``dotted.key=value`` of ``overrides`` set
    (in order; tables on the way are made when missing). A key through a value that is not a table
    is refused; unknown keys are left for the validation (which names the ``--set``)."""
    out = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for depth, part in enumerate(parts[:-1], start=1):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"{SET_OPTION} {text}: {'.'.join(parts[:depth])} is not a table "
                    f"(it is {child!r})"
                )
            node = child
        node[parts[-1]] = value
    return out


def _override_of(key: tuple[str, ...], overrides: Sequence[str]) -> str | None:
    """The last override whose dotted key is ``key``, lies under it or above it."""
    for text in reversed(overrides):
        parts, _ = parse_override(text)
        n = min(len(parts), len(key))
        if parts[:n] == key[:n]:
            return text
    return None


def _format_errors(
    path: Path | str, prefix: str, exc: ValidationError, overrides: Sequence[str] = ()
) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in (*(prefix.split(".") if prefix else ()), *err["loc"]))
        key = ".".join(loc)
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        given = _override_of(loc, overrides) if loc else None
        if given is not None:
            msg += f" (from {SET_OPTION} {given})"
        elif not loc and overrides:  # a check across sections: any override may be behind it
            msg += " (with " + ", ".join(f"{SET_OPTION} {o}" for o in overrides) + ")"
        lines.append(f"{path}: {key or '<top level>'}: {msg}")
    return "\n".join(lines)


def validate_config(
    data: dict,
    model_cls: type[M],
    source: Path | str,
    section: str | None = None,
    overrides: Sequence[str] = (),
) -> M:
    """Validate ``data`` (or its dotted table ``section``) as ``model_cls``; errors name
    ``source`` (a file, or what the dict came from), the dotted key and the ``--set`` behind it."""
    if section is not None:
        for depth, part in enumerate(section.split("."), start=1):
            if part not in data:
                raise ConfigError(f"{source}: missing table [{section}]")
            data = data[part]
            if not isinstance(data, dict):
                name = ".".join(section.split(".")[:depth])
                raise ConfigError(f"{source}: {name}: expected a table, got {type(data).__name__}")
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, section or "", exc, overrides)) from None


def config_path(path: str | Path) -> Path:
    """``path`` when it is a file; else, for a bare name or ``configs/NAME``, the shipped config
    ``NAME`` when there is one (``lgbm.toml`` and ``configs/lgbm.toml`` work from any folder);
    else ``path`` unchanged."""
    path = Path(path)
    if path.is_file() or path.parent not in (Path(), Path("configs")):
        return path
    shipped = CONFIGS_DIR / path.name
    return shipped if shipped.is_file() else path


def read_toml(path: str | Path) -> dict:
    """The TOML file ``path`` (resolved by :func:`config_path`) as a dict; a missing or malformed
    file is a ConfigError naming it."""
    path = Path(path)
    try:
        with config_path(path).open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_config(
    path: str | Path,
    model_cls: type[M],
    section: str | None = None,
    overrides: Sequence[str] = (),
) -> M:
    """Read the TOML file ``path``, apply ``overrides`` (``dotted.key=value``, keys from the
    file's top level) and validate it (or its table ``section``) as ``model_cls``."""
    path = Path(path)
    data = apply_overrides(read_toml(path), overrides)
    return validate_config(data, model_cls, path, section, overrides)


def load_split_config(path: str | Path, overrides: Sequence[str] = ()) -> SplitConfig:
    """The walk-forward splits of a config file: its ``[splits]`` (a data config such as
    ``configs/splits_default.toml``) or, in a run config (a file with a ``[data]`` table or a
    ``[model]``), its ``[data.splits]`` — the defaults when that table is absent, as a run would
    use them. ``overrides`` are keyed from the file's top level (``splits.train_days=500`` or
    ``data.splits.train_days=500``)."""
    path = Path(path)
    data = apply_overrides(read_toml(path), overrides)
    if "splits" in data:
        return validate_config(data, SplitConfig, path, "splits", overrides)
    if "data" in data or "model" in data:
        data.setdefault("data", {})
        if isinstance(data["data"], dict):
            data["data"].setdefault("splits", {})
        return validate_config(data, SplitConfig, path, "data.splits", overrides)
    raise ConfigError(
        f"{path}: missing table [splits] (a data config) or [data.splits] (a run config)"
    )


def _toml_key(key: str) -> str:
    if key and all(c.isalnum() or c in "-_" for c in key):
        return key
    return _toml_scalar(key)


def _toml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_scalar(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):  # an inline table: a list of tables such as [train] phases
        items = (f"{_toml_key(k)} = {_toml_scalar(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    raise ConfigError(f"cannot write {type(value).__name__} value {value!r} as TOML")


def _toml_lines(data: dict, prefix: str) -> list[str]:
    lines = [
        f"{_toml_key(k)} = {_toml_scalar(v)}"
        for k, v in data.items()
        if v is not None and not isinstance(v, dict)
    ]
    for key, value in data.items():
        if isinstance(value, dict):
            name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
            lines += ["", f"[{name}]", *_toml_lines(value, name)]
    return lines


def dump_config(config: BaseModel, path: str | Path) -> Path:
    """Write ``config`` as TOML to ``path`` (temp file + ``os.replace``); returns the path."""
    path = Path(path)
    text = "\n".join(_toml_lines(config.model_dump(mode="python"), "")).lstrip("\n") + "\n"
    return atomic_write_text(path, text)
