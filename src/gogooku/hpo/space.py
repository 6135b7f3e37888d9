"""The search space: a ``[search]`` table in a run config TOML, validated before any trial runs.

An ``hpo`` config is a run config (``gogooku.train.config.RunConfig``: ``[data]``, ``[model]``,
``[train]``, ``[loss]``) plus one table mapping dotted config paths to distributions::

    [search]
    "train.lr" = {type = "float", low = 1e-4, high = 3e-3, log = true}
    "model.lstm_layers" = {type = "int", low = 1, high = 3}
    "model.hidden_size" = {type = "categorical", choices = [32, 64]}

- ``float``: ``low ≤ x ≤ high``, log-uniform with ``log = true`` (then low > 0), on the grid
  low + i·step when ``step`` is given (``log`` and ``step`` exclude each other);
- ``int``: ``low ≤ x ≤ high`` on the grid low + i·step (``step`` ≥ 1), log-uniform with ``log``;
- ``categorical``: one of ``choices`` (booleans, integers, floats or strings).

:func:`check_space` refuses, naming the path: a path that is not a leaf key of the run config of
that model kind (``model.hidden_size`` on an ``lgbm`` config), ``model.kind``, and a value that
the run config rejects. The values tried are every choice, low and the largest grid value of every
range, one path at a time, then the combinations of those values over all paths (up to
``MAX_COMBINATIONS``), so a joint constraint (``hidden_size`` divisible by ``attention_heads``)
fails at start rather than in a trial.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Annotated, Literal

import optuna
from pydantic import Field, ValidationError, model_validator

from gogooku.config import ConfigError, StrictModel, read_toml
from gogooku.train.config import RunConfig

SEARCH_TABLE = "search"
MAX_COMBINATIONS = 4096
Choice = bool | int | float | str


class FloatDistribution(StrictModel):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _valid(self) -> FloatDistribution:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"need finite low <= high, got low={self.low} high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log = true needs low > 0, got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined")
        return self

    def candidates(self) -> list[float]:
        if self.step is None:
            return [self.low, self.high]
        return [self.low, self.low + math.floor((self.high - self.low) / self.step) * self.step]

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)


class IntDistribution(StrictModel):
    type: Literal["int"]
    low: int
    high: int
    step: int = Field(1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _valid(self) -> IntDistribution:
        if self.low > self.high:
            raise ValueError(f"need low <= high, got low={self.low} high={self.high}")
        if self.log and (self.low < 1 or self.step != 1):
            raise ValueError("log = true needs low >= 1 and step = 1")
        return self

    def candidates(self) -> list[int]:
        return [self.low, self.low + (self.high - self.low) // self.step * self.step]

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)


class CategoricalDistribution(StrictModel):
    type: Literal["categorical"]
    choices: list[Choice] = Field(min_length=1)

    def candidates(self) -> list[Choice]:
        return list(self.choices)

    def suggest(self, trial: optuna.Trial, name: str) -> Choice:
        return trial.suggest_categorical(name, self.choices)


Distribution = Annotated[
    FloatDistribution | IntDistribution | CategoricalDistribution, Field(discriminator="type")
]


class SearchSpace(StrictModel):
    """Dotted run-config path → distribution (the ``[search]`` table)."""

    params: dict[str, Distribution] = Field(min_length=1)

    def sample(self, trial: optuna.Trial) -> dict[str, Choice]:
        """One value per path from ``trial`` (Optuna parameter name = the dotted path)."""
        return {path: dist.suggest(trial, path) for path, dist in self.params.items()}


def _errors(source: str, prefix: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in (*([prefix] if prefix else []), *err["loc"]))
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{source}: {key or '<top level>'}: {msg}")
    return "\n".join(lines)


def apply_params(base: RunConfig, params: dict[str, Choice]) -> RunConfig:
    """``base`` with each dotted path set to its value, validated again as a whole."""
    data = base.model_dump(mode="python")
    for path, value in params.items():
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    return RunConfig.model_validate(data)


def _check_path(base: RunConfig, path: str, source: str) -> None:
    node: object = base.model_dump(mode="python")
    walked: list[str] = []
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            where = ".".join(walked) or "the top level"
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "none (not a table)"
            raise ConfigError(
                f"{source}: search.{path!r}: no key {key!r} under {where} of the "
                f"{base.model.kind!r} run config (keys there: {known})"
            )
        node = node[key]
        walked.append(key)
    if isinstance(node, dict):
        raise ConfigError(f"{source}: search.{path!r} is a table, not a value")
    if path == "model.kind":
        raise ConfigError(f"{source}: search.'model.kind' cannot be searched (use --model)")


def check_space(base: RunConfig, space: SearchSpace, source: str) -> None:
    """Raise :class:`ConfigError` naming the path unless every searched value validates."""
    for path, dist in space.params.items():
        _check_path(base, path, source)
        for value in dist.candidates():
            try:
                apply_params(base, {path: value})
            except ValidationError as exc:
                raise ConfigError(
                    f"{source}: search.{path!r} = {value!r} is not a valid run config:\n"
                    + _errors(source, "", exc)
                ) from None
    grids = [d.candidates() for d in space.params.values()]
    if math.prod(len(g) for g in grids) > MAX_COMBINATIONS:
        return
    for combo in itertools.product(*grids):
        params = dict(zip(space.params, combo, strict=True))
        try:
            apply_params(base, params)
        except ValidationError as exc:
            raise ConfigError(
                f"{source}: the search values {params} together are not a valid run config:\n"
                + _errors(source, "", exc)
            ) from None


def load_hpo_config(path: str | Path) -> tuple[RunConfig, SearchSpace]:
    """Read ``path``: the run config without ``[search]``, and the checked search space."""
    path = Path(path)
    data = read_toml(path)
    table = data.pop(SEARCH_TABLE, None)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: missing table [{SEARCH_TABLE}] (config path → distribution)")
    try:
        base = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_errors(str(path), "", exc)) from None
    try:
        space = SearchSpace.model_validate({"params": table})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"][1:]]
            key = f"{SEARCH_TABLE}.{loc[0]!r}" + "".join(f".{p}" for p in loc[1:]) if loc else ""
            lines.append(f"{path}: {key or SEARCH_TABLE}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    check_space(base, space, str(path))
    return base, space
