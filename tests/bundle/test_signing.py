"""Signed manifests: a file changed together with its manifest, a signed version copied under
another version, unsigned bundles where signatures are required, and unusable key files."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from typer.testing import CliRunner

from gogooku.bundle.job import predict
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.signing import SigningError, generate_key, load_key
from gogooku.bundle.store import BundleError, promote, sign_bundle, verify_bundle
from gogooku.cli import app
from gogooku.config import ConfigError
from gogooku.serve.app import create_app
from gogooku.serve.config import ServeConfig
from gogooku.settings import get_settings


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "secrets" / "bundle.key"
    path.parent.mkdir()
    result = CliRunner().invoke(app, ["bundle", "keygen", str(path)])
    assert result.exit_code == 0, result.output
    assert (path.stat().st_mode & 0o777) == 0o600
    return path


def _rewrite(path, name: str, text: str) -> None:
    (path / name).chmod(0o644)
    (path / name).write_text(text)


def _tamper_with_manifest(path) -> None:
    """Change a model file and list its new hash in the manifest (what verify_bundle trusts)."""
    model = path / "lgbm_5d.txt"
    _rewrite(path, "lgbm_5d.txt", model.read_text().replace("Tree=0", "Tree=0 "))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["lgbm_5d.txt"] = hashlib.sha256(model.read_bytes()).hexdigest()
    _rewrite(path, "manifest.json", json.dumps(manifest))


def test_a_signed_manifest_catches_a_file_changed_with_its_manifest(
    world_home, key_file, monkeypatch
):
    monkeypatch.setenv("GOGOOKU_BUNDLE_KEY_FILE", str(key_file))
    key = load_key(key_file)
    path, _ = create_bundle("lg", "lg")
    assert (path / "manifest.sig").is_file() and verify_bundle(path, key) == []
    copy = path.parent / "v0002"  # a signed version copied under another number
    shutil.copytree(path, copy)
    assert "signature does not match" in " ".join(verify_bundle(copy, key))

    _tamper_with_manifest(path)
    assert verify_bundle(path) == []  # the hashes alone no longer see it
    (problem,) = verify_bundle(path, key)
    assert problem.endswith(
        "manifest.sig: the signature does not match "
        + str(path / "manifest.json")
        + " (manifest altered)"
    )
    with pytest.raises(BundleError, match="manifest altered"):
        promote("lg", "v0001")
    with pytest.raises(BundleError, match="manifest altered"):
        predict("lg@v0001")  # /v1/rankings serves what predict stores
    result = CliRunner().invoke(app, ["bundle", "verify", "lg@v0001"])
    assert result.exit_code == 1 and "manifest altered" in result.output

    served = create_app(ServeConfig(models=["lg"], bundle_key_file=key_file)).state.states["lg"]
    (path.parent / "CURRENT").write_text("v0001\n")
    assert served.current() is None and "manifest altered" in served.error


def test_unsigned_bundles_are_refused_where_signatures_are_required(
    world_home, key_file, monkeypatch
):
    path, _ = create_bundle("lg", "lg")
    promote("lg", "v0001")
    assert not (path / "manifest.sig").exists()
    strict = ServeConfig(models=["lg"], bundle_key_file=key_file, require_signed_bundles=True)
    state = create_app(strict).state.states["lg"]
    assert state.current() is None and "manifest.sig: missing (the bundle is not signed)" in (
        state.error
    )
    lenient = create_app(ServeConfig(models=["lg"], bundle_key_file=key_file))
    assert lenient.state.states["lg"].current() is not None

    env = {"GOGOOKU_BUNDLE_KEY_FILE": str(key_file)}
    runner = CliRunner()
    result = runner.invoke(app, ["bundle", "verify", "lg", "--require-signature"], env=env)
    assert result.exit_code == 1 and "not signed" in result.output
    result = runner.invoke(app, ["bundle", "sign", "lg"], env=env)
    assert result.exit_code == 0 and "signed lg@v0001" in result.output
    result = runner.invoke(app, ["bundle", "verify", "lg", "--require-signature"], env=env)
    assert result.exit_code == 0 and "lg@v0001: ok (signature: checked)" in result.output
    assert state.current() is not None  # signed: served from the next request on

    monkeypatch.setenv("GOGOOKU_BUNDLE_KEY_FILE", str(key_file))
    _rewrite(path, "config.toml", (path / "config.toml").read_text() + "\n")
    with pytest.raises(BundleError, match=r"config\.toml: SHA-256 differs"):
        sign_bundle("lg", "v0001")  # signing never blesses a changed file


def test_key_files_and_serve_configs_that_cannot_protect_anything_are_refused(key_file, tmp_path):
    with pytest.raises(SigningError, match="exists; not overwritten"):
        generate_key(key_file)
    loose = tmp_path / "loose.key"
    loose.write_text("k" * 64)
    loose.chmod(0o644)
    with pytest.raises(SigningError, match=r"loose\.key: readable by group or others"):
        load_key(loose)
    short = tmp_path / "short.key"
    short.write_text("k" * 8)
    short.chmod(0o600)
    with pytest.raises(SigningError, match=r"short\.key: 8 bytes, need at least 32"):
        load_key(short)
    inside = get_settings().home / "bundles" / "lg" / "bundle.key"
    inside.parent.mkdir(parents=True)
    shutil.copy(key_file, inside)
    with pytest.raises(SigningError, match=r"inside .*bundles; keep the key elsewhere"):
        load_key(inside)
    with pytest.raises(SigningError, match=r"missing\.key: No such file"):
        load_key(tmp_path / "missing.key")
    with pytest.raises(ConfigError, match="require_signed_bundles needs bundle_key_file"):
        create_app(ServeConfig(require_signed_bundles=True))

    config = tmp_path / "serve.toml"
    config.write_text("require_signed_bundles = true\n")
    result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert "require_signed_bundles needs bundle_key_file" in result.output
    assert "Traceback" not in result.output
