"""docs/prometheus/alerts.yml and the Grafana dashboards (deploy/grafana/dashboards/*.json) use
only metrics the service exports: checked against a live ``/metrics`` of a service on the tiny
synthetic market (live-monitoring gauges once ``gogooku monitor`` has scored a matured day)."""

from __future__ import annotations

import json
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
from gogooku.serve.metrics import METRIC_NAMES

REPO = Path(__file__).parents[2]
RULES = REPO / "docs" / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
METRIC = re.compile(r"\b(gogooku_[a-z0-9_]+)\b")


def rule_metrics() -> set[str]:
    """Metric names in the rules' expressions (besides Prometheus' own ``up``)."""
    doc = yaml.safe_load(RULES.read_text())
    exprs = [str(r["expr"]) for g in doc["groups"] for r in g["rules"]]
    assert len(exprs) >= 5
    return {n for e in exprs for n in METRIC.findall(e)}


LIVE_MONITOR_METRICS = [
    n
    for n in METRIC_NAMES
    if n.startswith(("gogooku_live_", "gogooku_feature_drift", "gogooku_prediction_drift"))
    or n == "gogooku_model_shadow"
]


def dashboard_queries(dashboard: dict) -> list[str]:
    """Every PromQL string of a dashboard: panel targets (rows' nested panels too) and
    template-variable queries."""
    queries = [
        str(t["expr"])
        for panel in dashboard["panels"]
        for p in (panel, *panel.get("panels", []))
        for t in p.get("targets", [])
    ]
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        queries.append(str(query.get("query", "") if isinstance(query, dict) else query or ""))
    return queries


def live_exposition(world_home: Path) -> str:
    """``/metrics`` of a service on the world's LightGBM run (bundled, promoted, predicted)
    after one ranking and one rejected request."""
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
    return exposition


def exported_names(exposition: str) -> set[str]:
    """The sample names of an exposition (``…_bucket``, ``…_total``), and a histogram's name
    (its samples' without ``_bucket``/``_sum``/``_count``)."""
    samples = {
        line.split("{")[0].split(" ")[0]
        for line in exposition.splitlines()
        if line and line[0] != "#"
    }
    return samples | {re.sub(r"_(bucket|sum|count)$", "", s) for s in samples}


def test_every_alert_metric_is_exported(world_home):
    exposition = live_exposition(world_home)
    samples = exported_names(exposition)
    missing = sorted(n for n in rule_metrics() if n not in samples)
    assert not missing, f"alert rules use metrics the service does not export: {missing}"
    assert (
        'gogooku_model_info{kind="lgbm",model="lg",run_id="lg",version="v0001"} 1.0' in exposition
    )
    assert 'route="/v1/rankings"' in exposition and 'status="422"' in exposition


def test_every_dashboard_metric_is_exported(world_home):
    assert DASHBOARDS, "no dashboard JSON under deploy/grafana/dashboards"
    exported = exported_names(live_exposition(world_home))
    for path in DASHBOARDS:
        queries = dashboard_queries(json.loads(path.read_text()))
        used = {n for q in queries for n in METRIC.findall(q)}
        unknown = sorted(used - exported)
        assert not unknown, f"{path.name} queries metrics the service does not export: {unknown}"
        assert len(queries) >= 10 and "gogooku_http_request_duration_seconds_bucket" in used
    # the live-monitoring panels: every one of those gauges is on a dashboard
    all_used = {
        n
        for path in DASHBOARDS
        for q in dashboard_queries(json.loads(path.read_text()))
        for n in METRIC.findall(q)
    }
    assert len(LIVE_MONITOR_METRICS) == 7 and set(LIVE_MONITOR_METRICS) <= all_used
