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

Or, instead of distributions, a fixed list of named candidates (``[[search.candidates]]``: a
``name`` and dotted path → value overrides of the base), tried once each in the listed order::

    [[search.candidates]]
    name = "alpha1e5"
    "model.alpha" = 1e5

The Optuna parameter is then ``candidate`` (the name); :func:`check_candidates` refuses, naming
the candidate, a path as above, a duplicate name and a candidate that is not a valid run config.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import optuna
from pydantic import ConfigDict, Field, ValidationError, model_validator

from gogooku.config import (
    ConfigError,
    DataConfig,
    SplitConfig,
    StrictModel,
    apply_overrides,
    read_toml,
    validate_config,
)
from gogooku.train.config import RunConfig, with_data

SEARCH_TABLE = "search"
CANDIDATES_KEY = "candidates"
CANDIDATE_PARAM = "candidate"
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

    def overrides(self, params: dict[str, Choice]) -> dict[str, Choice]:
        """The dotted path → value settings of a trial's ``params`` (the params themselves)."""
        return params


class Candidate(StrictModel):
    """One named config of a candidate list: dotted path → value overrides of the base."""

    model_config = ConfigDict(extra="allow", frozen=True, validate_default=True)

    name: str = Field(min_length=1)

    @property
    def values(self) -> dict[str, Choice]:
        return dict(self.model_extra or {})


class CandidateSpace(StrictModel):
    """A fixed list of named configs (``[[search.candidates]]``), each tried once, in order."""

    candidates: list[Candidate] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> CandidateSpace:
        names = [c.name for c in self.candidates]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"candidate names must be unique, repeated: {repeated}")
        return self

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.candidates]

    def sample(self, trial: optuna.Trial) -> dict[str, Choice]:
        """``{"candidate": name}``: the enqueued candidate of ``trial``."""
        return {CANDIDATE_PARAM: trial.suggest_categorical(CANDIDATE_PARAM, self.names)}

    def overrides(self, params: dict[str, Choice]) -> dict[str, Choice]:
        """The named candidate's dotted path → value overrides."""
        return next(c.values for c in self.candidates if c.name == params[CANDIDATE_PARAM])


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


def check_candidates(base: RunConfig, space: CandidateSpace, source: str) -> None:
    """Raise :class:`ConfigError` naming the candidate unless each one is a valid run config."""
    for cand in space.candidates:
        for path in cand.values:
            _check_path(base, path, f"{source}: candidate {cand.name!r}")
        try:
            apply_params(base, cand.values)
        except ValidationError as exc:
            raise ConfigError(
                f"{source}: candidate {cand.name!r} is not a valid run config:\n"
                + _errors(source, "", exc)
            ) from None


def _load_candidates(base: RunConfig, table: dict, source: str) -> CandidateSpace:
    others = sorted(set(table) - {CANDIDATES_KEY})
    if others:
        raise ConfigError(
            f"{source}: [{SEARCH_TABLE}] has {CANDIDATES_KEY} and distributions {others}: "
            "use one or the other"
        )
    try:
        space = CandidateSpace.model_validate({CANDIDATES_KEY: table[CANDIDATES_KEY]})
    except ValidationError as exc:
        raise ConfigError(_errors(source, SEARCH_TABLE, exc)) from None
    check_candidates(base, space, source)
    return space


def load_space(base: RunConfig, table: dict, source: str) -> SearchSpace | CandidateSpace:
    """The checked space of a ``[search]`` table: distributions, or ``candidates``."""
    if CANDIDATES_KEY in table:
        return _load_candidates(base, table, source)
    try:
        space = SearchSpace.model_validate({"params": table})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"][1:]]
            key = f"{SEARCH_TABLE}.{loc[0]!r}" + "".join(f".{p}" for p in loc[1:]) if loc else ""
            lines.append(f"{source}: {key or SEARCH_TABLE}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    check_space(base, space, source)
    return space


def load_hpo_config(
    path: str | Path,
    overrides: Sequence[str] = (),
    data: str | Path | DataConfig | SplitConfig | None = None,
) -> tuple[RunConfig, SearchSpace | CandidateSpace]:
    """Read ``path``: the run config without ``[search]`` (with the ``--set`` ``overrides`` of
    that run config applied and, when given, its ``[data]`` sections replaced by ``data``'s, see
    :func:`gogooku.train.config.with_data`), and the search space checked against it."""
    path = Path(path)
    doc = read_toml(path)
    table = doc.pop(SEARCH_TABLE, None)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: missing table [{SEARCH_TABLE}] (config path → distribution)")
    doc = apply_overrides(doc, overrides)
    base = validate_config(doc, RunConfig, path, overrides=overrides)
    if data is not None:
        base = with_data(base, data)
    return base, load_space(base, table, str(path))
