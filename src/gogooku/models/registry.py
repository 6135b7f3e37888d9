"""The registry of model kinds: what ``train``, ``bundle``, ``hpo`` and ``serve`` look a kind up in.

A model kind (``[model] kind = "lgbm"``) is a :class:`ModelKind`: its ``[model]`` config class and
how it fits a run, what a bundle of it holds and how a bundle of it predicts — the small
protocol of Qlib's ``fit(dataset)`` / ``predict(dataset)`` over gogooku's run folders::

    fit(job: FitJob) -> dict                    train on job.fold, write predictions.parquet
    bundle_parts(job: BundleJob) -> BundleParts  the fitted files a bundle copies
    load(files: Path, info, cfg) -> Predictor    the model of a bundle, ready to score

A kind's ``inputs`` says what its predictor scores: ``"rows"`` — one day's normalised feature
matrix (n stocks × F'), the tabular kinds; ``"window"`` — a :class:`~gogooku.dataset.loader.DayBatch`
of ``[data.loader] window`` days, the networks. ``neural`` kinds train for epochs (hpo prunes
them per epoch, the demo caps their epochs).

Kinds are found by name, without importing them until one is used: the built-in kinds of
``gogooku.kinds`` (:data:`BUILTIN`) and every entry point of the group ``gogooku.models``
(``name = "package.module:KindClass"``, see ``docs/extending.md``). A kind's module is imported
when the kind is first looked up, so keep heavy imports (torch, lightgbm) inside its methods.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel

from gogooku.errors import GogookuError

if TYPE_CHECKING:
    from gogooku.dataset.splits import Fold
    from gogooku.runs import Ranges, RunInfo

ENTRY_POINT_GROUP = "gogooku.models"
BUILTIN: dict[str, str] = {
    "atft": "gogooku.kinds.atft:AtftKind",
    "apex": "gogooku.kinds.apex:ApexKind",
    "master": "gogooku.kinds.master:MasterKind",
    "lgbm": "gogooku.kinds.lgbm:LgbmKind",
    "linear": "gogooku.kinds.linear:LinearKind",
    "factor": "gogooku.kinds.factor:FactorKind",
}


class ModelKindError(GogookuError, ValueError):
    """No model kind of that name, or a registered kind that cannot be loaded."""


@dataclass(frozen=True)
class FitJob:
    """One run to fit: the resolved run config, the dataset folder, the fold and its date
    ranges, the run folder to write into, the selected features (``[data.loader] features /
    feature_blocks`` resolved against the dataset); ``resume`` and ``on_epoch`` concern neural
    kinds."""

    cfg: Any
    dataset_dir: Path
    fold: Fold
    ranges: Ranges
    run_dir: Path
    features: list[str]
    resume: bool = False
    on_epoch: Callable[[int, dict], None] | None = None


@dataclass(frozen=True)
class BundleJob:
    """A trained run to bundle: its folder, config, run.json and the dataset's selected
    features (``[data.loader] features / feature_blocks`` resolved against the cache)."""

    run_dir: Path
    cfg: Any
    info: RunInfo
    dataset_dir: Path
    features: list[str]


@dataclass(frozen=True)
class BundleParts:
    """What a bundle of a run holds beyond its config: the raw input features in the model's
    column order, the model files (bundle name → file in the run folder) and extra
    ``bundle.json`` fields (``window``, ``static_names``, ``raw_features``, ...)."""

    features: list[str]
    model_files: dict[str, Path]
    extra: dict[str, object] = field(default_factory=dict)


class Predictor(Protocol):
    def predict(self, inputs: Any) -> Any:
        """Scores (n, H) in the bundle's horizon order: of the n rows of a ``"rows"`` kind's
        feature matrix, or of the N stocks of a ``"window"`` kind's one-day batch."""


class ModelKind(ABC):
    """One model kind (see the module doc). Subclasses set ``name`` and ``config`` (a
    ``StrictModel`` whose ``kind`` field is ``Literal[name]``)."""

    name: ClassVar[str]
    config: ClassVar[type[BaseModel]]
    inputs: ClassVar[Literal["rows", "window"]] = "rows"
    neural: ClassVar[bool] = False

    def check_run(self, cfg: Any) -> None:
        """Raise ``ValueError`` when the run config's other sections do not fit this kind."""
        return None

    def run_params(self, cfg: Any) -> dict[str, object]:
        """Extra ``run.json`` params of a run of this kind."""
        return {}

    def predicted_horizons(self, model_cfg: Any, target: Any) -> list[int]:
        """The horizons a run of ``[model] model_cfg`` and ``[target] target`` predicts: its
        ``run.json`` horizons and ``pred_{h}d`` columns. Default: every ``[target]`` horizon; a
        kind that fits fewer (lgbm's ``horizons = "main"``) lists only those, so no horizon
        gets a copy of another's score (the evaluator would report copies as separate models)."""
        return list(target.sorted_horizons)

    @abstractmethod
    def fit(self, job: FitJob) -> dict[str, object]:
        """Train, write ``job.run_dir/predictions.parquet`` and return the training summary."""

    def bundle_parts(self, job: BundleJob) -> BundleParts:
        raise ModelKindError(
            f"run {job.info.run_id}: model kind {self.name!r} has no fitted model to bundle"
        )

    def load(self, files: Path, info: Any, cfg: Any) -> Predictor:
        raise ModelKindError(f"model kind {self.name!r} cannot be loaded from a bundle")


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def kind_names() -> list[str]:
    """Every registered kind: the built-in ones, then the installed plugins' (sorted)."""
    plugins = sorted(n for n in _entry_points() if n not in BUILTIN)
    return [*BUILTIN, *plugins]


@cache
def get_kind(name: str) -> ModelKind:
    """The model kind ``name``, its module imported on first use."""
    target = BUILTIN.get(name) or _entry_points().get(name)
    if target is None:
        raise ModelKindError(
            f"model kind {name!r} is not registered; known: {', '.join(kind_names())}"
        )
    module_name, _, attr = target.partition(":")
    try:
        kind_cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelKindError(f"model kind {name!r} ({target}) cannot be loaded: {exc}") from exc
    kind = kind_cls()
    if kind.name != name:
        raise ModelKindError(f"{target} declares kind {kind.name!r}, registered as {name!r}")
    return kind
