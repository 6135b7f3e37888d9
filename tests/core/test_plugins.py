"""A model kind and a feature block that live outside this repository.

The example plugin (``examples/plugin``: kind ``icweight``, block ``range_position``, registered
through the ``gogooku.models`` and ``gogooku.features`` entry points) is installed into a
temporary folder put on ``PYTHONPATH`` only for the commands below; every step runs through the
``gogooku`` command line as a user would: fetch, build with the plugin's block, train and
evaluate the plugin's kind, bundle, promote, predict, serve and query the ranking.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gogooku.httpserver import free_port
from gogooku.models.registry import kind_names

from ..support.configs import SPLITS

PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "plugin"
RUN_CONFIG = SPLITS + '\n[target]\nhorizons = [1, 5, 20]\n\n[model]\nkind = "icweight"\ntop = 3\n'


def _gogooku(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "gogooku", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"gogooku {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("plugin_site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(PLUGIN)],
        check=True,
        timeout=300,
    )  # fmt: skip
    home = tmp_path_factory.mktemp("plugin_home")
    return {**os.environ, "PYTHONPATH": str(site), "GOGOOKU_HOME": str(home)}


def test_the_plugin_is_not_installed_in_the_test_environment():
    assert "icweight" not in kind_names()


@pytest.mark.slow
def test_a_plugin_kind_and_block_train_bundle_and_serve(plugin_env, tmp_path):
    home = Path(plugin_env["GOGOOKU_HOME"])
    _gogooku(plugin_env, "fetch", "--source", "synthetic", "--seed", "11", "--stocks", "24",
             "--start", "2020-01-01", "--end", "2020-12-31",
             "--datasets", "equities_bars_daily,equities_master,indices_topix")  # fmt: skip
    _gogooku(plugin_env, "build", "--start", "2020-03-02", "--end", "2020-12-30",
             "--name", "plug", "--blocks", "returns,range_position")  # fmt: skip
    columns = json.loads((home / "datasets" / "plug" / "features.json").read_text())["columns"]
    assert {"name": "range_pos", "block": "range_position"}.items() <= next(
        c for c in columns if c["name"] == "range_pos"
    ).items()
    assert "icweight" in _gogooku(plugin_env, "train", "--help")

    config = tmp_path / "icweight.toml"
    config.write_text(RUN_CONFIG)
    _gogooku(plugin_env, "train", "--model", "icweight", "--dataset", "plug",
             "--config", str(config), "--run", "ic")  # fmt: skip
    run_dir = home / "runs" / "ic"
    weights = json.loads((run_dir / "icweight.json").read_text())
    assert len(weights) == 3
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["splits"]) == {"train", "valid", "test"}
    assert (run_dir / "report.html").is_file()

    _gogooku(plugin_env, "bundle", "--run", "ic", "--name", "ic")
    _gogooku(plugin_env, "promote", "ic", "v0001")
    _gogooku(plugin_env, "predict", "--bundle", "ic")
    key = _gogooku(plugin_env, "apikey", "add", "tester").strip().split()[-1]
    port = free_port()
    serve_config = tmp_path / "serve.toml"
    serve_config.write_text("max_data_age_s = 0\n")  # the synthetic data ends in 2020
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gogooku",
            "serve",
            "--bundle",
            "ic",
            "--port",
            str(port),
            "--config",
            str(serve_config),
        ],
        env=plugin_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.5)
        answer = httpx.get(
            f"{base}/v1/rankings", params={"top_k": 5}, headers={"X-API-Key": key}, timeout=10
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "ic" and body["main_horizon"] == 5 and body["count"] == 5
