"""Prometheus metrics of the service, in a registry of its own (one per app).

Exported (``METRIC_NAMES``; the alert rules in ``docs/prometheus/alerts.yml`` may use only these):

- ``gogooku_http_requests_total{route,method,status}`` — counter per route template;
- ``gogooku_http_request_duration_seconds{route,method}`` — latency histogram;
- ``gogooku_model_info{model,version,kind,run_id}`` — 1 for the served version of each model;
- ``gogooku_model_ready{model}`` — 1 when the bundle is verified and loaded, else 0;
- ``gogooku_prediction_dispersion{model,version}`` — cross-sectional std of the main-horizon
  score on the latest stored date;
- ``gogooku_prediction_coverage{model,version}`` — scored stocks / listed stocks of that date;
- ``gogooku_prediction_rows{model,version}`` — scored stocks of that date;
- ``gogooku_data_age_seconds{model}`` — now − 00:00 UTC of the latest stored date;

live monitoring (``gogooku monitor``; per served model, for its promoted and its shadow version,
read from the prediction store's live tables, ``gogooku.bundle.livesummary``):

- ``gogooku_live_rankic{model,version,window}`` — RankIC of the latest matured day
  (``window="1d"``) and its trailing means (``"20d"``, ``"60d"``; absent until defined);
- ``gogooku_live_topk_spread{model,version,window}`` — the same of the top-K spread;
- ``gogooku_live_matured_days{model,version}`` — matured days scored;
- ``gogooku_feature_drift_psi_max{model,version}`` — the largest feature PSI of the latest day;
- ``gogooku_feature_drift_psi{model,version,feature}`` — PSI of the 20 most drifted features;
- ``gogooku_prediction_drift_psi{model,version}`` — PSI of the latest day's scores;
- ``gogooku_model_shadow{model,version}`` — 1 for the shadow version, 0 for the served one.

The model gauges are set when ``/metrics`` is scraped (``Metrics.observe_models``,
``Metrics.observe_live``).
"""

from __future__ import annotations

import datetime as dt

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

METRIC_NAMES = (
    "gogooku_http_requests_total",
    "gogooku_http_request_duration_seconds",
    "gogooku_model_info",
    "gogooku_model_ready",
    "gogooku_prediction_dispersion",
    "gogooku_prediction_coverage",
    "gogooku_prediction_rows",
    "gogooku_data_age_seconds",
    "gogooku_live_rankic",
    "gogooku_live_topk_spread",
    "gogooku_live_matured_days",
    "gogooku_feature_drift_psi_max",
    "gogooku_feature_drift_psi",
    "gogooku_prediction_drift_psi",
    "gogooku_model_shadow",
)
WINDOWS = ("1d", "20d", "60d")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def data_age_seconds(day: dt.date, now: dt.datetime | None = None) -> float:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return ((now or dt.datetime.now(dt.UTC)) - start).total_seconds()


class Metrics:
    """The collectors of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "gogooku_http_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "gogooku_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "gogooku_model_info",
            "Served bundle",
            ["model", "version", "kind", "run_id"],
            registry=r,
        )
        self.ready = Gauge(
            "gogooku_model_ready", "Bundle verified and loaded", ["model"], registry=r
        )
        labels = ["model", "version"]
        self.dispersion = Gauge(
            "gogooku_prediction_dispersion", "Std of latest scores", labels, registry=r
        )
        self.coverage = Gauge(
            "gogooku_prediction_coverage", "Scored / listed stocks, latest date", labels, registry=r
        )
        self.rows = Gauge(
            "gogooku_prediction_rows", "Scored stocks, latest date", labels, registry=r
        )
        self.data_age = Gauge(
            "gogooku_data_age_seconds", "Age of the latest stored date", ["model"], registry=r
        )
        self._live_gauges(r, labels)

    def _live_gauges(self, r: CollectorRegistry, labels: list[str]) -> None:
        windowed = [*labels, "window"]
        self.live_rankic = Gauge(
            "gogooku_live_rankic", "Live RankIC of matured days", windowed, registry=r
        )
        self.live_spread = Gauge(
            "gogooku_live_topk_spread", "Live top-K spread of matured days", windowed, registry=r
        )
        self.matured = Gauge(
            "gogooku_live_matured_days", "Matured prediction days scored", labels, registry=r
        )
        self.psi_max = Gauge(
            "gogooku_feature_drift_psi_max", "Largest feature PSI, latest day", labels, registry=r
        )
        self.psi = Gauge(
            "gogooku_feature_drift_psi",
            "Feature PSI, latest day (top 20 features)",
            [*labels, "feature"],
            registry=r,
        )
        self.prediction_psi = Gauge(
            "gogooku_prediction_drift_psi", "PSI of the latest day's scores", labels, registry=r
        )
        self.shadow = Gauge(
            "gogooku_model_shadow", "1: shadow version, 0: served version", labels, registry=r
        )

    def observe_models(self, states, store) -> None:
        """Set the model gauges from the served states and the prediction store."""
        for gauge in (self.model_info, self.dispersion, self.coverage, self.rows):
            gauge.clear()
        for state in states:
            bundle = state.current()
            self.ready.labels(state.name).set(1 if bundle is not None else 0)
            if bundle is None:
                continue
            info = bundle.info
            self.model_info.labels(state.name, info.version, info.model, info.run_id).set(1)
            run = store.day_run(state.name, info.version)
            if run is None:
                continue
            if run.dispersion is not None:
                self.dispersion.labels(state.name, info.version).set(run.dispersion)
            self.coverage.labels(state.name, info.version).set(run.rows / max(run.listed, 1))
            self.rows.labels(state.name, info.version).set(run.rows)
            self.data_age.labels(state.name).set(data_age_seconds(run.date))

    def observe_live(self, rows) -> None:
        """Set the live gauges from ``rows`` of (model, version, shadow?, summary dict of
        ``gogooku.bundle.livesummary.summary``)."""
        gauges = (self.live_rankic, self.live_spread, self.matured, self.psi_max, self.psi)
        for gauge in (*gauges, self.prediction_psi, self.shadow):
            gauge.clear()
        for model, version, is_shadow, s in rows:
            self.shadow.labels(model, version).set(1 if is_shadow else 0)
            self.matured.labels(model, version).set(s["matured_days"])
            for window in WINDOWS:
                for gauge, stem in ((self.live_rankic, "rankic"), (self.live_spread, "spread")):
                    value = s[f"{stem}_{window}"]
                    if value is not None:
                        gauge.labels(model, version, window).set(value)
            if s["psi_max"] is not None:
                self.psi_max.labels(model, version).set(s["psi_max"])
            for feature, value in s["psi_top"].items():
                self.psi.labels(model, version, feature).set(value)
            if s["prediction_psi"] is not None:
                self.prediction_psi.labels(model, version).set(s["prediction_psi"])

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
