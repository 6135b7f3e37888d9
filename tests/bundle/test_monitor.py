"""Live monitoring on the tiny synthetic market: a model that degrades at a regime change.

The stored predictions are written by the test, not by a model: until ``SWITCH`` the served
version's score is the oracle (the realised 5-day label of the panel), from ``SWITCH`` on its
sign-flipped copy — a model whose signal reversed after it was trained. The shadow version
keeps the oracle. From ``SWITCH`` on one input feature of the panel is shifted by +5 standard
deviations (a feature whose distribution moved). ``gogooku monitor`` must score only matured
days, see the daily RankIC fall from +1 to −1, the feature's PSI jump, and the service's
``/metrics`` must make the alert rules on live RankIC and drift fire.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from gogooku.bundle.livestore import LiveStore
from gogooku.bundle.reference import load_reference
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.store import promote, read_audit, set_shadow, shadow_version
from gogooku.cli import app
from gogooku.httpserver import background_server
from gogooku.serve.app import create_app
from gogooku.serve.auth import add_key
from gogooku.serve.config import ServeConfig

from ..support.live import oracle_labels, write_scores

FIRST, SWITCH = date(2020, 8, 14), date(2020, 10, 20)
LAST_SESSION = date(2020, 12, 30)
RULES = Path(__file__).parents[2] / "docs" / "prometheus" / "alerts.yml"


def _private_dataset(home: Path) -> Path:
    """A copy of the linked dataset ``tiny`` (the test rewrites its panel)."""
    source = (home / "datasets").resolve() / "tiny"
    (home / "datasets").unlink()
    shutil.copytree(source, home / "datasets" / "tiny", symlinks=True)
    return home / "datasets" / "tiny" / "panel.parquet"


def _samples(exposition: str) -> list[tuple[str, dict, float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    ]


def firing(rule: str, exposition: str) -> list[dict]:
    """Label sets for which the alert ``rule`` (an expression ``metric{sel} OP number``) holds
    on the scraped samples."""
    doc = yaml.safe_load(RULES.read_text())
    expr = next(r["expr"] for g in doc["groups"] for r in g["rules"] if r.get("alert") == rule)
    m = re.fullmatch(r"\s*(\w+)(?:\{([^}]*)\})?\s*([<>])\s*([-+\d.e]+)\s*", str(expr))
    assert m, f"{rule}: expression {expr!r} is not of the form metric{{sel}} OP number"
    name, sel, op, bound = m.group(1), m.group(2) or "", m.group(3), float(m.group(4))
    wanted = dict(re.findall(r'(\w+)="([^"]*)"', sel))
    return [
        labels
        for n, labels, value in _samples(exposition)
        if n == name
        and all(labels.get(k) == v for k, v in wanted.items())
        and (value < bound if op == "<" else value > bound)
    ]


@pytest.mark.slow
def test_monitor_sees_a_degrading_model_and_the_alerts_fire(world_home):
    panel_path = _private_dataset(world_home)
    create_bundle("lg", "lg")
    create_bundle("ln", "lg")
    promote("lg", "v0001")
    set_shadow("lg", "v0002")
    info = json.loads((world_home / "bundles" / "lg" / "v0001" / "bundle.json").read_text())
    moved = info["features"][0]
    panel = pl.read_parquet(panel_path)
    shift = 5 * panel[moved].std()
    panel.with_columns(
        pl.when(pl.col("Date") >= SWITCH).then(pl.col(moved) + shift).otherwise(pl.col(moved))
    ).write_parquet(panel_path)
    oracle = oracle_labels(world_home, FIRST)
    runner = CliRunner()

    write_scores("v0001", oracle.filter(pl.col("Date") < SWITCH))
    result = runner.invoke(app, ["monitor", "lg", "--json"])
    assert result.exit_code == 0, result.output
    before = {r["version"]: r for r in json.loads(result.output)}
    assert before["v0001"]["role"] == "served" and before["v0001"]["reference"] == "bundle"
    assert before["v0001"]["rankic_1d"] == pytest.approx(1.0)
    assert before["v0001"]["rankic_20d"] == pytest.approx(1.0)

    write_scores("v0001", oracle, sign_from=SWITCH)
    write_scores("v0002", oracle)
    result = runner.invoke(app, ["monitor", "lg", "--top-k", "5", "--json"])
    assert result.exit_code == 0, result.output
    after = {r["version"]: r for r in json.loads(result.output)}
    assert after["v0002"]["role"] == "shadow"
    assert after["v0002"]["rankic_20d"] == pytest.approx(1.0)
    live = LiveStore()
    series = live.live_series("lg", "v0001")
    # no look-ahead: a day is scored only when the close of its exit session d + 1 + 5 is stored
    sessions = oracle["Date"].unique().sort().to_list()
    matured = [d for i, d in enumerate(sessions) if i + 6 < len(sessions)]
    assert series["date"].to_list() == matured
    assert series["exit_date"][-1] == LAST_SESSION == sessions[-1]
    days = series.filter(pl.col("rankic").is_not_null())
    early, late = days.filter(pl.col("date") < SWITCH), days.filter(pl.col("date") >= SWITCH)
    assert early.height > 20 and late.height > 20
    assert np.allclose(early["rankic"], 1.0) and np.allclose(late["rankic"], -1.0)
    assert (late["spread"] < 0).all() and (early["spread"] > 0).all()
    assert after["v0001"]["rankic_20d"] == pytest.approx(-1.0)
    assert after["v0001"]["rankic_60d"] == pytest.approx(
        days["rankic"].tail(60).mean()
    )  # trailing mean over the days with a defined RankIC
    assert series.filter(pl.col("date") >= SWITCH)["rankic_20d"].tail(3).max() < 0
    drift = live.drift_day("lg", "v0001")
    feature = (
        drift.filter(pl.col("kind") == "feature").drop_nulls("psi").sort("psi", descending=True)
    )
    assert feature["name"][0] == moved and feature["psi"][0] > 5
    early_drift = live.drift_day("lg", "v0001", FIRST).filter(pl.col("name") == moved)
    assert early_drift["psi"][0] < 2
    report = world_home / "monitor" / "lg" / "report.html"
    assert "Live RankIC per version" in report.read_text() and "v0002" in report.read_text()

    keys = world_home / "keys.json"
    key = add_key(keys, "ops")
    cfg = ServeConfig(models=["lg"], api_keys_file=keys, max_data_age_s=0)
    with background_server(create_app(cfg)) as url:
        exposition = httpx.get(url + "/metrics").text
        models = httpx.get(url + "/v1/models", headers={"X-API-Key": key}).json()
        ranked = httpx.get(url + "/v1/rankings", headers={"X-API-Key": key}).json()
    assert models[0]["current"] == "v0001" and models[0]["shadow"] == "v0002"
    assert {v["version"]: v["role"] for v in models[0]["versions"]} == {
        "v0001": "served",
        "v0002": "shadow",
    }
    assert ranked["version"] == "v0001"  # the shadow is stored, never served
    low = firing("GogookuLiveRankICLow", exposition)
    assert [(x["model"], x["version"]) for x in low] == [("lg", "v0001")]
    assert ("lg", "v0001") in {
        (x["model"], x["version"]) for x in firing("GogookuFeatureDrift", exposition)
    }
    assert 'gogooku_model_shadow{model="lg",version="v0002"} 1.0' in exposition
    assert (
        f'gogooku_feature_drift_psi{{feature="{moved}",model="lg",version="v0001"}}' in exposition
    )
    per_version = [
        s for s in _samples(exposition) if s[0] == "gogooku_feature_drift_psi"
        and s[1]["version"] == "v0001"
    ]  # fmt: skip
    assert 0 < len(per_version) <= 20


def test_monitor_idempotent_and_nothing_to_do(world_home):
    create_bundle("ln", "lg")
    promote("lg", "v0001")
    oracle = oracle_labels(world_home, FIRST).filter(pl.col("Date") < date(2020, 9, 30))
    write_scores("v0001", oracle)
    runner = CliRunner()
    first = runner.invoke(app, ["monitor", "--json"])
    assert first.exit_code == 0, first.output
    rows = LiveStore().live_series("lg", "v0001")
    again = json.loads(runner.invoke(app, ["monitor", "--json"]).output)
    assert again[0]["scored_now"] == 0 and again[0]["drift_days_now"] == 0
    redo = json.loads(runner.invoke(app, ["monitor", "lg", "--days", "3", "--json"]).output)
    assert redo[0]["scored_now"] == 3 and redo[0]["drift_days_now"] == 3
    assert LiveStore().live_series("lg", "v0001").equals(rows)
    assert shadow_version("lg") is None and read_audit("lg")[-1]["action"] == "promote"


def test_bundles_without_a_reference_get_one_from_the_dataset(world_home, tmp_path):
    path, info = create_bundle("lg", "lg")
    stored = json.loads((path / "reference.json").read_text())
    assert stored["source"] == "bundle" and stored["scores"]["valid"] == [
        "2020-07-13",
        "2020-08-12",
    ]
    assert set(stored["features"]) == set(info.features)
    # an old bundle (no reference.json): computed from its dataset and run folder
    assert load_reference(tmp_path, info) == {**stored, "source": "dataset"}
    (world_home / "runs").unlink()
    assert load_reference(tmp_path, info)["scores"] is None
    (world_home / "datasets").unlink()
    assert load_reference(tmp_path, info) is None  # no reference: null PSI
