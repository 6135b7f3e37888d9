"""Bundles: create, verify, list, promote, rollback and the audit log; refusals."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest
from typer.testing import CliRunner

from gogooku.bundle.job import predict
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.store import (
    BundleError,
    current_version,
    promote,
    read_audit,
    resolve,
    rollback,
    verify_bundle,
)
from gogooku.cli import app


def test_bundle_holds_run_metadata_and_hashes(world_home):
    path, info = create_bundle("lg", "lg")
    assert info.version == "v0001" and info.model == "lgbm" and info.dataset == "tiny"
    # horizons = "main": the run, and so the bundle, predicts the main horizon only
    assert info.horizons == [5] and info.main_horizon == 5
    # two seeds: one file per booster
    assert info.model_files == ["lgbm_5d.s1.txt", "lgbm_5d.txt"] and len(info.feature_hash) == 64
    assert "sector33_id" not in info.features and info.features
    assert info.ranges.test[0] > info.ranges.valid[1] > info.ranges.train[1]
    manifest = json.loads((path / "manifest.json").read_text())["files"]
    assert set(manifest) == {
        "bundle.json",
        "config.toml",
        "run.json",
        "lgbm_5d.txt",
        "lgbm_5d.s1.txt",
        "reference.json",
    }
    assert all(not (p.stat().st_mode & stat.S_IWUSR) for p in path.iterdir())
    assert verify_bundle(path) == []
    assert not list(path.parent.glob(".tmp-*"))


def test_verify_reports_changed_missing_and_unlisted_files(world_home):
    path, _ = create_bundle("lg", "lg")
    target = path / "lgbm_5d.txt"
    target.chmod(0o644)
    target.write_text(target.read_text() + "\n")
    (path / "config.toml").chmod(0o644)
    (path / "config.toml").unlink()
    (path / "extra.txt").write_text("x")
    problems = " ".join(verify_bundle(path))
    assert "lgbm_5d.txt: SHA-256 differs" in problems
    assert "config.toml: missing" in problems and "extra.txt: not in the manifest" in problems
    with pytest.raises(BundleError, match="fails verification"):
        promote("lg", "v0001")


def test_promote_rollback_and_audit(world_home):
    create_bundle("lg", "m")
    create_bundle("ln", "m")
    assert current_version("m") is None
    with pytest.raises(BundleError, match="no promoted version"):
        resolve("m")
    assert promote("m", "v0001") is None
    assert promote("m", "v0002") == "v0001"
    assert resolve("m").name == "v0002"
    assert rollback("m") == ("v0002", "v0001")
    assert current_version("m") == "v0001"
    with pytest.raises(BundleError, match="first promoted version"):
        rollback("m")
    log = read_audit("m")
    actions = [(e["action"], e["from"], e["to"]) for e in log]
    assert actions == [
        ("create", None, "v0001"),
        ("create", None, "v0002"),
        ("promote", None, "v0001"),
        ("promote", "v0001", "v0002"),
        ("rollback", "v0002", "v0001"),
    ]
    assert all(e["who"] and e["at"] for e in log)


def test_cli_bundle_promote_predict_rollback(world_home):
    runner = CliRunner()
    env = {"GOGOOKU_HOME": str(world_home)}
    for args in (
        ["bundle", "--run", "lg", "--name", "c"],
        ["bundle", "--run", "ln", "--name", "c"],
    ):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
    assert "created c@v0002 (linear" in result.output
    result = runner.invoke(app, ["bundle", "verify", "c"], env=env)
    assert result.exit_code == 0 and "c@v0001: ok (signature: none)" in result.output
    result = runner.invoke(app, ["bundle", "verify", "c", "--json"], env=env)
    assert json.loads(result.output) == [
        {"name": "c", "version": v, "ok": True, "problems": [], "signature": "none"}
        for v in ("v0001", "v0002")
    ]
    result = runner.invoke(app, ["bundle", "list", "--json"], env=env)
    assert [r["version"] for r in json.loads(result.output)] == ["v0001", "v0002"]
    result = runner.invoke(app, ["rollback", "c"], env=env)
    assert result.exit_code == 1 and "nothing is promoted" in result.output
    for version in ("v0001", "v0002"):
        assert runner.invoke(app, ["promote", "c", version], env=env).exit_code == 0
    result = runner.invoke(app, ["predict", "--bundle", "c", "--date", "2020-12-30"], env=env)
    assert result.exit_code == 0, result.output
    assert "stored 23 scores of c@v0002 for 2020-12-30" in result.output
    result = runner.invoke(app, ["rollback", "c"], env=env)
    assert result.exit_code == 0 and "c: v0002 -> v0001" in result.output
    result = runner.invoke(app, ["promote", "c", "v0009"], env=env)
    assert result.exit_code == 1 and "v0009" in result.output


def test_factor_runs_and_runs_without_model_files_are_refused(world_home, tmp_path):
    from gogooku.runs import create_run

    run_dir, _ = create_run(
        "factor",
        "tiny",
        [5],
        {"train": ("2020-01-01",) * 2, "valid": ("2020-02-01",) * 2, "test": ("2020-03-01",) * 2},
        run_id="fac",
        root=tmp_path,
    )
    (run_dir / "config.toml").write_text('[model]\nkind = "factor"\n')
    with pytest.raises(BundleError, match="no fitted model to bundle"):
        create_bundle(run_dir, "f")
    copy = tmp_path / "lg_copy"
    shutil.copytree(world_home / "runs" / "lg", copy)
    (copy / "lgbm_5d.txt").unlink()
    with pytest.raises(BundleError, match=r"lgbm_5d\.txt.*missing"):
        create_bundle(copy, "g")


def test_predict_refuses_a_dataset_whose_features_changed(world_home):
    create_bundle("lg", "lg")
    promote("lg", "v0001")
    datasets = world_home / "datasets"
    source = datasets.resolve() / "tiny"
    datasets.unlink()
    datasets.mkdir()
    shutil.copytree(source, datasets / "tiny", symlinks=True)
    features = json.loads((datasets / "tiny" / "features.json").read_text())
    victim = next(
        c for c in features["columns"] if c["role"] == "feature" and c["block"] == "returns"
    )
    victim["formula"] = "something else"
    os.chmod(datasets / "tiny" / "features.json", 0o644)
    (datasets / "tiny" / "features.json").write_text(json.dumps(features))
    with pytest.raises(
        BundleError, match=r"feature hash [0-9a-f]{64} differs from .*'s [0-9a-f]{64}"
    ):
        predict("lg")
