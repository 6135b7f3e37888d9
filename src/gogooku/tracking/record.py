"""What a run folder gives MLflow, as plain values (no MLflow here): params, per-epoch metrics,
final metrics, tags and artifacts, with the stable names of ``docs/tracking.md``.

- params: the run config flattened to dotted keys (``train.epochs``, ``model.kind``; lists as
  JSON; ``[tracking]`` left out, its URI may hold credentials) and ``run.*``: model, dataset,
  dataset path and fingerprint (SHA-256 of the dataset's ``schema_hash`` and ``source_hashes`` in
  ``metadata.json``), the train/valid/test ranges, fold, seed, git commit; a walk-forward run adds
  ``run.n_folds`` and each fold's test range (``run.fold.K.test``).
- epoch metrics (neural kinds): every ``history.jsonl`` row at step = epoch:
  ``epoch.train_loss``, ``epoch.lr``, ``epoch.{train,val}_{ic,rank_ic}.{h}d``; a history in a
  sub-folder (APEX's ``enhanced/``) is prefixed with the folder name.
- final metrics from ``metrics.json``: ``{split}.{h}d.{name}`` (``FINAL_METRICS``), walk-forward
  folds as ``test.fold{K}.{h}d.rank_ic``, and ``train_summary.json``'s numbers as
  ``summary.{key}``. Nulls and non-finite values are not logged.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Iterator
from pathlib import Path

from gogooku import __version__
from gogooku.runs import CONFIG_FILE, PREDICTIONS_FILE, RUN_FILE, RunInfo
from gogooku.settings import get_settings

METRICS_FILE = "metrics.json"
SUMMARY_FILE = "train_summary.json"
HISTORY_FILE = "history.jsonl"
# logged when present, in this order
ARTIFACTS = (
    RUN_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    "report.html",
    PREDICTIONS_FILE,
    SUMMARY_FILE,
    HISTORY_FILE,
    "validation.json",
)
# metric name → path under metrics.json's splits.SPLIT.horizons.Hd
FINAL_METRICS: dict[str, tuple[str, ...]] = {
    "rank_ic": ("signal", "rank_ic_mean"),
    "rank_icir": ("signal", "rank_icir"),
    "ic": ("signal", "ic_mean"),
    "icir": ("signal", "icir"),
    "hit_rate": ("signal", "hit_rate"),
    "long_short_net_sharpe": ("portfolio", "long_short", "net", "sharpe"),
    "long_short_net_annual_return": ("portfolio", "long_short", "net", "annual_return"),
    "long_short_net_max_drawdown": ("portfolio", "long_short", "net", "max_drawdown"),
    "long_only_net_sharpe": ("portfolio", "long_only", "net", "sharpe"),
}
EPOCH_SCALARS = ("train_loss", "lr")
EPOCH_BY_HORIZON = ("train_ic", "train_rank_ic", "val_ic", "val_rank_ic")
PARAM_MAX = 6000  # MLflow's limit on a param value's length
SKIPPED_SECTIONS = ("tracking",)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _dig(node: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _flatten(node: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, f"{name}.")
        else:
            yield name, value


def _param_text(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= PARAM_MAX else text[: PARAM_MAX - 1] + "…"


def config_params(run_dir: Path) -> dict[str, str]:
    """The run's ``config.toml`` flattened (``[tracking]`` left out); ``{}`` without one."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return {}
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    kept = {k: v for k, v in doc.items() if k not in SKIPPED_SECTIONS}
    return {name: _param_text(value) for name, value in _flatten(kept)}


def dataset_fingerprint(dataset: str) -> tuple[Path, str | None]:
    """(folder, fingerprint) of a dataset: SHA-256 of its metadata's ``schema_hash`` and
    ``source_hashes`` (None when metadata.json is missing or has neither)."""
    folder = get_settings().datasets_dir / dataset
    path = folder / "metadata.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return folder, None
    content = {k: meta.get(k) for k in ("schema_hash", "source_hashes")}
    if not any(content.values()):
        return folder, None
    return folder, hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def git_commit(code_version: str) -> str | None:
    """The commit of a ``code_version`` ``<version>+g<commit>`` (None without one)."""
    _, sep, commit = code_version.partition("+g")
    return commit if sep and commit else None


def run_params(run_dir: Path, info: RunInfo) -> dict[str, str]:
    """Every param of the run (module doc)."""
    folder, fingerprint = dataset_fingerprint(info.dataset)
    facts: dict[str, object] = {
        "run.model": info.model,
        "run.dataset": info.dataset,
        "run.dataset_path": str(folder.absolute()),
        "run.dataset_fingerprint": fingerprint,
        "run.horizons": info.horizons,
        "run.git_commit": git_commit(info.code_version),
    }
    for split in ("train", "valid", "test"):
        start, end = info.ranges.of(split)
        facts[f"run.{split}"] = f"{start}..{end}"
    for key in ("fold", "seed"):
        if key in info.params:
            facts[f"run.{key}"] = info.params[key]
    if info.folds is not None:
        facts["run.n_folds"] = len(info.folds)
        for f in info.folds:
            start, end = f.ranges.test
            facts[f"run.fold.{f.fold}.test"] = f"{start}..{end}"
    params = config_params(run_dir)
    params.update({k: _param_text(v) for k, v in facts.items() if v is not None})
    return params


def _histories(run_dir: Path) -> Iterator[tuple[str, Path]]:
    if (run_dir / HISTORY_FILE).is_file():
        yield "", run_dir / HISTORY_FILE
    for path in sorted(run_dir.glob(f"*/{HISTORY_FILE}")):
        yield f"{path.parent.name}.", path


def epoch_metrics(run_dir: Path) -> list[tuple[str, float, int]]:
    """(name, value, epoch) of every history row of the run (module doc)."""
    out = []
    for prefix, path in _histories(run_dir):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            step = int(row["epoch"])
            values = [(k, row.get(k)) for k in EPOCH_SCALARS]
            for key in EPOCH_BY_HORIZON:
                for h, v in (row.get(key) or {}).items():
                    values.append((f"{key}.{h}d", v))
            for name, value in values:
                number = _finite(value)
                if number is not None:
                    out.append((f"{prefix}epoch.{name}", number, step))
    return out


def final_metrics(run_dir: Path) -> dict[str, float]:
    """The headline numbers of ``metrics.json`` and ``train_summary.json`` (module doc)."""
    out: dict[str, float] = {}
    path = run_dir / METRICS_FILE
    metrics = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    for split, sd in (metrics.get("splits") or {}).items():
        for h, entry in (sd.get("horizons") or {}).items():
            for name, where in FINAL_METRICS.items():
                value = _finite(_dig(entry, where))
                if value is not None:
                    out[f"{split}.{h}.{name}"] = value
        for f in sd.get("folds") or []:
            for h, entry in (f.get("horizons") or {}).items():
                value = _finite(_dig(entry, ("rank_ic_mean",)))
                if value is not None:
                    out[f"{split}.fold{f['fold']}.{h}.rank_ic"] = value
    summary = run_dir / SUMMARY_FILE
    if summary.is_file():
        for key, value in json.loads(summary.read_text(encoding="utf-8")).items():
            number = _finite(value)
            if number is not None:
                out[f"summary.{key}"] = number
    return out


def run_tags(run_dir: Path, info: RunInfo) -> dict[str, str]:
    return {
        "mlflow.runName": info.run_id,
        "gogooku.version": __version__,
        "gogooku.code_version": info.code_version,
        "gogooku.run_id": info.run_id,
        "gogooku.run_dir": str(run_dir.absolute()),
        "gogooku.model": info.model,
        "gogooku.dataset": info.dataset,
        "gogooku.walkforward": str(info.folds is not None).lower(),
    }


def artifacts(run_dir: Path) -> list[Path]:
    return [run_dir / name for name in ARTIFACTS if (run_dir / name).is_file()]
