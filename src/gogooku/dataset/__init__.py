"""The point-in-time dataset machinery: as-of joins, base frame, labels, build."""

from gogooku.dataset.asof import LookAheadError, asof_join
from gogooku.dataset.build import (
    BuildError,
    BuildResult,
    build_dataset,
    dataset_dir,
    read_features_json,
)
from gogooku.dataset.labels import HORIZONS, compute_labels, label_names

__all__ = [
    "HORIZONS",
    "BuildError",
    "BuildResult",
    "LookAheadError",
    "asof_join",
    "build_dataset",
    "compute_labels",
    "dataset_dir",
    "label_names",
    "read_features_json",
]
