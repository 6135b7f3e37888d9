"""MLflow logging read back from MLflow's local file store (``MlflowClient``): a trained run
through ``gogooku train`` and its promoted bundle, a hand-made run's epoch histories, a
walk-forward run's nested fits, tracking off, and an unreachable server."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.runs import create_run
from gogooku.tracking.config import TRACKING_FILE, TrackingConfig
from gogooku.tracking.mlflow_log import track_run
from gogooku.tracking.record import final_metrics

from ..support.configs import SPLITS

mlflow = pytest.importorskip("mlflow")

CONFIG = SPLITS + (
    '\n[target]\nhorizons = [1, 5, 20]\n\n[evaluate]\nbootstrap = 10\n\n[model]\nkind = "linear"\n'
)
D = dt.date
RANGES = {
    "train": (D(2020, 1, 6), D(2020, 3, 31)),
    "valid": (D(2020, 4, 1), D(2020, 4, 30)),
    "test": (D(2020, 5, 1), D(2020, 5, 29)),
}


@pytest.fixture(autouse=True)
def _file_store_allowed(monkeypatch):
    """Reading the file store back needs MLflow's opt-in too (logging sets it for itself)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _client(uri: str):
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _invoke(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def _mlflow_id(run_dir) -> str:
    return json.loads((run_dir / TRACKING_FILE).read_text())["mlflow_run_id"]


@pytest.mark.slow
def test_train_logs_its_run_and_a_promoted_bundle_becomes_a_model_version(
    home, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory
    config = tmp_path / "linear.toml"
    config.write_text(CONFIG)
    _invoke("train", "--model", "linear", "--dataset", "tiny", "--config", config, "--run", "ln",
            "--set", "tracking.enabled=true")  # fmt: skip
    run_dir = home / "runs" / "ln"
    uri = (home / "mlruns").absolute().as_uri()  # the default store
    client = _client(uri)
    run = client.get_run(_mlflow_id(run_dir))
    params, tags = run.data.params, run.data.tags
    assert params["model.kind"] == "linear" and params["run.dataset"] == "tiny"
    assert params["data.splits.train_days"] == "60" and "tracking.enabled" not in params
    assert len(params["run.dataset_fingerprint"]) == 64
    assert tags["gogooku.run_id"] == "ln" and tags["gogooku.run_dir"] == str(run_dir.absolute())
    logged = run.data.metrics
    expected = final_metrics(run_dir)
    assert logged == expected
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test5 = metrics["splits"]["test"]["horizons"]["5d"]
    assert logged["test.5d.rank_ic"] == test5["signal"]["rank_ic_mean"]
    assert (
        logged["test.5d.long_short_net_sharpe"] == test5["portfolio"]["long_short"]["net"]["sharpe"]
    )
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {
        "run.json", "config.toml", "metrics.json", "report.html", "predictions.parquet",
        "train_summary.json",
    }  # fmt: skip

    def registry(version: str) -> dict[str, object]:
        """{bundle version: model version} and the alias current's model version; MLflow's file
        registry reads a version through a client of the global URI, so the test gives it one
        (gogooku sets it for its own calls)."""
        with monkeypatch.context() as env:
            env.setenv("MLFLOW_TRACKING_URI", uri)
            found = client.search_model_versions("name='ridge'")
            current = client.get_model_version_by_alias("ridge", "current").version
        assert {v.tags["gogooku.version"] for v in found} >= {version}
        return {"versions": {v.tags["gogooku.version"]: v for v in found}, "current": current}

    _invoke("bundle", "--run", "ln", "--name", "ridge")
    _invoke("promote", "ridge", "v0001")
    first = registry("v0001")
    version = first["versions"]["v0001"]
    assert version.run_id == run.info.run_id
    bundle = home / "bundles" / "ridge" / "v0001"
    assert version.source == bundle.absolute().as_uri()
    from gogooku.bundle.store import sha256_file

    assert version.tags["gogooku.bundle_hash"] == sha256_file(bundle / "manifest.json")
    assert first["current"] == version.version
    _invoke("bundle", "--run", "ln", "--name", "ridge")
    _invoke("promote", "ridge", "v0002")
    second = registry("v0002")
    assert second["current"] == second["versions"]["v0002"].version
    _invoke("rollback", "ridge")
    after = registry("v0001")
    assert sorted(after["versions"]) == ["v0001", "v0002"]  # one model version per bundle version
    assert after["current"] == version.version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gogooku_home", "linear.toml"]


def test_epoch_histories_and_tracking_off(_isolated_home, tmp_path):
    run_dir, _ = create_run("atft", "tiny", [5], RANGES, run_id="net")
    rows = [
        {"epoch": e, "train_loss": 1.0 / (e + 1), "val_rank_ic": {"5": 0.01 * e}} for e in range(3)
    ]
    (run_dir / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert track_run(run_dir, TrackingConfig()) is None
    assert not (_isolated_home / "mlruns").exists() and not (run_dir / TRACKING_FILE).exists()

    uri = (tmp_path / "store").as_uri()
    run_id = track_run(run_dir, TrackingConfig(enabled=True, uri=uri, experiment="e1"))
    client = _client(uri)
    history = client.get_metric_history(run_id, "epoch.val_rank_ic.5d")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.0), (1, 0.01), (2, 0.02)]
    losses = client.get_metric_history(run_id, "epoch.train_loss")
    assert sorted((m.step, m.value) for m in losses) == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert (
        client.get_experiment_by_name("e1").experiment_id
        == client.get_run(run_id).info.experiment_id
    )
    assert not (_isolated_home / "mlruns").exists()


def test_unreachable_server_warns_and_leaves_the_run(_isolated_home, caplog):
    run_dir, _ = create_run("linear", "tiny", [5], RANGES, run_id="r")
    before = sorted(p.name for p in run_dir.iterdir())
    cfg = TrackingConfig(enabled=True, uri="http://127.0.0.1:9", retries=0, timeout_s=5)
    with caplog.at_level(logging.WARNING):
        assert track_run(run_dir, cfg) is None
    assert "tracking: run r was not logged to http://127.0.0.1:9" in caplog.text
    assert sorted(p.name for p in run_dir.iterdir()) == before


@pytest.mark.slow
def test_walkforward_logs_a_parent_and_one_nested_run_per_fit(home, tmp_path):
    config = tmp_path / "linear.toml"
    config.write_text(CONFIG)
    uri = (tmp_path / "store").as_uri()
    _invoke("walkforward", "--model", "linear", "--dataset", "tiny", "--config", config,
            "--folds", "last:2", "--run", "wf", "--set", "tracking.enabled=true",
            "--set", f"tracking.uri={uri}")  # fmt: skip
    run_dir = home / "runs" / "wf"
    client = _client(uri)
    parent = client.get_run(_mlflow_id(run_dir))
    assert parent.data.params["run.n_folds"] == "2"
    assert {"test.fold1.5d.rank_ic", "test.fold2.5d.rank_ic"} <= set(parent.data.metrics)
    assert parent.data.metrics == final_metrics(run_dir)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert sorted(c.data.tags["gogooku.run_id"] for c in children) == ["g001-s0", "g002-s0"]
    assert not (home / "mlruns").exists()


def test_unreachable_server_keeps_the_train_command_green(home, tmp_path):
    config = tmp_path / "factor.toml"
    config.write_text(CONFIG.replace('kind = "linear"', 'kind = "factor"'))
    result = _invoke("train", "--model", "factor", "--dataset", "tiny", "--config", config,
                     "--run", "f", "--set", "tracking.enabled=true",
                     "--set", "tracking.uri=http://127.0.0.1:9", "--set", "tracking.retries=0")  # fmt: skip
    assert "was not logged to http://127.0.0.1:9" in result.output
    run_dir = home / "runs" / "f"
    assert (run_dir / "metrics.json").is_file() and (run_dir / "report.html").is_file()
    assert not (run_dir / TRACKING_FILE).exists()
