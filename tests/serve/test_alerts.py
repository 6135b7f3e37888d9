"""docs/prometheus/alerts.yml uses only metrics the service exports (live monitoring ones once
``gogooku monitor`` has scored a matured day)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import httpx
import yaml

from gogooku.bundle.job import predict
from gogooku.bundle.monitor import monitor
from gogooku.bundle.scoring import create_bundle
from gogooku.bundle.store import promote
from gogooku.httpserver import background_server
from gogooku.serve.app import create_app
from gogooku.serve.auth import add_key
from gogooku.serve.config import ServeConfig

RULES = Path(__file__).parents[2] / "docs" / "prometheus" / "alerts.yml"


def rule_metrics() -> set[str]:
    """Metric names in the rules' expressions (besides Prometheus' own ``up``)."""
    doc = yaml.safe_load(RULES.read_text())
    exprs = [str(r["expr"]) for g in doc["groups"] for r in g["rules"]]
    assert len(exprs) >= 5
    return {n for e in exprs for n in re.findall(r"\b(gogooku_[a-z_]+)\b", e)}


def test_every_alert_metric_is_exported(world_home):
    create_bundle("lg", "lg")
    promote("lg", "v0001")
    predict("lg", date(2020, 12, 1))  # matured by the store's last session: live gauges
    predict("lg")
    monitor("lg", report=False)
    key = add_key(world_home / "keys.json", "ops")
    cfg = ServeConfig(models=["lg"], api_keys_file=world_home / "keys.json")
    with background_server(create_app(cfg)) as url:
        httpx.get(url + "/v1/rankings", headers={"X-API-Key": key}).raise_for_status()
        httpx.get(url + "/v1/rankings", params={"top_k": 0}, headers={"X-API-Key": key})
        exposition = httpx.get(url + "/metrics").text
        stale = httpx.get(url + "/readyz")  # default max_data_age_s: 4 days; the data is 2020
    assert stale.status_code == 503 and "2020-12-30 is" in stale.json()["reasons"][0]
    samples = {
        line.split("{")[0].split(" ")[0]
        for line in exposition.splitlines()
        if line and line[0] != "#"
    }
    missing = sorted(n for n in rule_metrics() if n not in samples)
    assert not missing, f"alert rules use metrics the service does not export: {missing}"
    assert (
        'gogooku_model_info{kind="lgbm",model="lg",run_id="lg",version="v0001"} 1.0' in exposition
    )
    assert 'route="/v1/rankings"' in exposition and 'status="422"' in exposition
