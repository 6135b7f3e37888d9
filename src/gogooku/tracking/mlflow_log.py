"""MLflow logging of run folders and registration of promoted bundles: the one module that
imports MLflow (inside the functions, so nothing imports it unless tracking is on).

``track_run(run_dir, cfg, fit_dirs)`` logs a finished run folder as one MLflow run, a walk-forward
run's fits as nested runs of it (``mlflow.parentRunId``). It is called after the run folder is
complete and never raises: a tracking failure (server
down, bad URI) is logged as a warning with its reason, the run folder stays as it is and the
command still succeeds. ``tracking.json`` in the run folder then records the MLflow run id.
``register_bundle`` makes a promoted bundle a version of the registered model named after it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gogooku.io import atomic_write_json
from gogooku.runs import load_run
from gogooku.settings import environ_applied
from gogooku.tracking.config import TRACKING_FILE, TrackingConfig, TrackingError
from gogooku.tracking.record import artifacts, epoch_metrics, final_metrics, run_params, run_tags

log = logging.getLogger(__name__)

BATCH = 100  # MLflow's limit of params (and tags) per log_batch call
INSTALL_HINT = "pip install 'gogooku[tracking]'"


def require_mlflow(cfg: TrackingConfig) -> None:
    """Refuse an enabled ``[tracking]`` when MLflow is not installed (checked before training)."""
    if not cfg.enabled:
        return
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise TrackingError(
            f"[tracking] enabled = true but MLflow is not installed: {INSTALL_HINT}"
        ) from None


@contextmanager
def _mlflow_env(cfg: TrackingConfig) -> Iterator[None]:
    """MLflow's own switches for this call only: HTTP retries and timeout from ``cfg`` (MLflow's
    default retries for minutes), the file store it refuses without being asked (MLflow 3 keeps
    ``file:`` stores in maintenance mode; they need no server and no database), and ``cfg``'s URI
    as the process-wide one (MLflow's file registry reads a model version through a client of
    the global URI, whose default would create ``mlflow.db`` in the working directory)."""
    names = {
        "MLFLOW_TRACKING_URI": cfg.tracking_uri(),
        "MLFLOW_REGISTRY_URI": cfg.tracking_uri(),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(cfg.retries),
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(max(1, cfg.timeout_s))),
        "MLFLOW_ALLOW_FILE_STORE": "true",
    }
    with environ_applied(names):
        yield


def _client(cfg: TrackingConfig) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=cfg.tracking_uri(), registry_uri=cfg.tracking_uri())


def _experiment_id(client: Any, cfg: TrackingConfig) -> str:
    found = client.get_experiment_by_name(cfg.experiment)
    if found is not None:
        return found.experiment_id
    location = None
    uri = cfg.tracking_uri()
    if uri.startswith("sqlite:///"):  # MLflow would put artifacts under the working directory
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return client.create_experiment(cfg.experiment, artifact_location=location)


def _log_folder(client: Any, experiment_id: str, run_dir: Path, parent: str | None = None) -> str:
    """One MLflow run of ``run_dir`` (module doc of ``gogooku.tracking.record``); its id."""
    from mlflow.entities import Metric, Param

    info = load_run(run_dir)
    tags = run_tags(run_dir, info)
    if parent is not None:
        tags["mlflow.parentRunId"] = parent
    run = client.create_run(experiment_id, tags=tags)
    run_id = run.info.run_id
    stamp = int(time.time() * 1000)
    params = [Param(k, v) for k, v in run_params(run_dir, info).items()]
    metrics = [Metric(k, v, stamp, step) for k, v, step in epoch_metrics(run_dir)]
    metrics += [Metric(k, v, stamp, 0) for k, v in final_metrics(run_dir).items()]
    for i in range(0, len(params), BATCH):
        client.log_batch(run_id, params=params[i : i + BATCH])
    for i in range(0, len(metrics), 10 * BATCH):
        client.log_batch(run_id, metrics=metrics[i : i + 10 * BATCH])
    for path in artifacts(run_dir):
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)
    return run_id


def _record(run_dir: Path, cfg: TrackingConfig, experiment_id: str, run_id: str) -> None:
    atomic_write_json(
        run_dir / TRACKING_FILE,
        {
            "tracking_uri": cfg.tracking_uri(),
            "experiment": cfg.experiment,
            "experiment_id": experiment_id,
            "mlflow_run_id": run_id,
            "logged_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )


def _warn(what: str, exc: Exception, cfg: TrackingConfig) -> None:
    log.warning(
        "tracking: %s was not logged to %s (%s: %s); the run folder is complete",
        what,
        cfg.tracking_uri(),
        type(exc).__name__,
        str(exc).splitlines()[0][:300] if str(exc) else "",
    )


def track_run(run_dir: Path, cfg: TrackingConfig, fit_dirs: Sequence[Path] = ()) -> str | None:
    """Log ``run_dir`` as one MLflow run when ``cfg.enabled``, with each of ``fit_dirs`` (a
    walk-forward run's fits) as a nested run; the MLflow run id, or None (off, or failed: a
    warning)."""
    if not cfg.enabled:
        return None
    try:
        with _mlflow_env(cfg):
            client = _client(cfg)
            experiment_id = _experiment_id(client, cfg)
            run_id = _log_folder(client, experiment_id, Path(run_dir))
            for fit in fit_dirs:
                _log_folder(client, experiment_id, Path(fit), parent=run_id)
    # any failure of the store or the server (MLflow raises many types) must not fail the run
    except Exception as exc:
        _warn(f"run {Path(run_dir).name}", exc, cfg)
        return None
    _record(Path(run_dir), cfg, experiment_id, run_id)
    return run_id


def _model_version(client: Any, name: str, version: str, source: str, tags: dict, run_id):
    """The model version of bundle ``name@version`` (made on its first promotion)."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, tags={"gogooku.bundle": name})
    for mv in client.search_model_versions(f"name='{name}'"):
        if mv.tags.get("gogooku.version") == version:
            return mv
    return client.create_model_version(name, source, run_id=run_id, tags=tags)


def register_bundle(
    bundle_dir: Path,
    name: str,
    version: str,
    bundle_hash: str,
    cfg: TrackingConfig,
    mlflow_run_id: str | None = None,
) -> str | None:
    """Register bundle ``name@version`` (folder ``bundle_dir``) as a version of the registered
    model ``name`` (once per bundle version) and point its alias ``current`` at it; the model
    version, or None when ``cfg`` does not register bundles or the registry failed (a
    warning)."""
    if not (cfg.enabled and cfg.register_bundles):
        return None
    tags = {"gogooku.version": version, "gogooku.bundle_hash": bundle_hash}
    try:
        with _mlflow_env(cfg):
            client = _client(cfg)
            mv = _model_version(
                client, name, version, Path(bundle_dir).absolute().as_uri(), tags, mlflow_run_id
            )
            client.set_registered_model_alias(name, "current", mv.version)
    # the promotion itself is done; a registry failure must not undo or fail it
    except Exception as exc:
        _warn(f"bundle {name}@{version}", exc, cfg)
        return None
    return str(mv.version)
