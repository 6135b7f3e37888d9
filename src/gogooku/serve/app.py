"""The ranking service: ``create_app(config)``, also the app factory of
``uvicorn --factory gogooku.serve.app:create_app`` (configured from the environment, see
``gogooku.serve.config``). Importing this module builds no app and loads no bundle.

Routes: ``/healthz`` (process alive), ``/readyz`` (every served bundle verified and loaded and
its newest stored prediction date at most ``max_data_age_s`` old; 503 with the reasons
otherwise), ``/metrics`` (Prometheus, ``gogooku.serve.metrics``), ``/docs`` (OpenAPI), and under
``/v1`` — behind ``X-API-Key`` and a per-key token bucket (``gogooku.serve.auth``) —
``GET /v1/models`` (each version's role: served or shadow), ``GET /v1/rankings`` (reads the prediction store through the
``RankingCache``; an answer given before is served as stored bytes by ``CachedRankings``,
``gogooku.serve.cache``, while its bundle and the store are unchanged) and
``POST /v1/predict`` (scores raw feature rows with the served bundle,
``LoadedBundle.score_rows``).

Every request resolves each bundle through ``ModelState.current()``, so promote and rollback
apply on the next request without a restart; requests in flight keep the bundle they started
with. Bodies larger than ``max_body_bytes`` get 413; an unexpected error gets a generic 500
body (the traceback goes to the log only). Every response carries ``X-Content-Type-Options:
nosniff`` and ``/v1/*`` responses ``Cache-Control: no-store``; with ``protect_ops`` the
``/docs`` page, ``/openapi.json`` and ``/metrics`` need the key too.

(No ``from __future__ import annotations`` here: FastAPI must evaluate the route annotations,
which read the config's ``max_top_k`` from ``create_app``'s scope.)
"""

import datetime as dt
import json
import logging
import time
import weakref
from typing import Annotated

import orjson
import polars as pl
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader

from gogooku import __version__
from gogooku.bundle.livestore import LiveStore
from gogooku.bundle.livesummary import summary
from gogooku.bundle.predstore import PredictionStore
from gogooku.bundle.store import (
    CURRENT_FILE,
    BundleError,
    bundles_dir,
    load_info,
    shadow_version,
    versions,
)
from gogooku.serve.auth import KeyStore, RateLimiter
from gogooku.serve.cache import CachedAnswer, CachedRankings, ResponseCache
from gogooku.serve.config import ServeConfig, load_serve_config
from gogooku.serve.metrics import Metrics, data_age_seconds
from gogooku.serve.schemas import (
    ModelInfo,
    PredictRequest,
    PredictResponse,
    RankingsResponse,
    VersionInfo,
)
from gogooku.serve.state import ModelState, RankingCache
from gogooku.target import pred_column

log = logging.getLogger(__name__)
JSON = "application/json"


class BodyLimitMiddleware:
    """413 for a body over ``limit`` bytes, declared (``Content-Length``) or streamed (chunked).

    A streamed body is counted as the app reads it; at the first byte over the limit the 413 is
    sent and the app is told the client disconnected, so it stops reading (an exception raised
    from ``receive`` would reach FastAPI's body parser, which answers 400), and whatever it
    sends afterwards is dropped."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def _reject(self, send) -> None:
        body = json.dumps({"detail": f"request body larger than {self.limit} bytes"}).encode()
        headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(send)
            return
        seen = 0
        started = rejected = False

        async def limited_receive():
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    rejected = True
                    if not started:
                        await self._reject(send)
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message):
            nonlocal started
            if rejected:
                return
            started |= message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, tracked_send)


class MetricsMiddleware:
    """Counts requests and observes latency per route template."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        t0 = time.perf_counter()

        async def tracked_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope["method"]
            self.metrics.latency.labels(path, method).observe(time.perf_counter() - t0)
            self.metrics.requests.labels(path, method, str(status)).inc()


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff`` on every response, ``Cache-Control: no-store`` on
    ``/v1/*`` (rankings are per key and per day: no shared cache may keep them)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [(b"x-content-type-options", b"nosniff")]
        if scope["path"].startswith("/v1/"):
            extra.append((b"cache-control", b"no-store"))

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _promoted_names() -> list[str]:
    root = bundles_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CURRENT_FILE).is_file())


def create_app(config: ServeConfig | None = None, store: PredictionStore | None = None) -> FastAPI:
    """A service for ``config`` (default: ``load_serve_config()``); see the module doc."""
    cfg = config or load_serve_config()
    store = store or PredictionStore()
    metrics = Metrics()
    keys = KeyStore(cfg.key_source())
    limiter = RateLimiter(cfg.rate_per_s, cfg.rate_burst)
    cache = RankingCache(store)
    live = LiveStore(store.target)
    key = cfg.bundle_key()

    def new_state(name: str) -> ModelState:
        return ModelState(name, key, cfg.require_signed_bundles)

    states: dict[str, ModelState] = {n: new_state(n) for n in cfg.models}

    def served() -> list[ModelState]:
        if not cfg.models:
            for name in _promoted_names():
                if name not in states:
                    states[name] = new_state(name)
        return list(states.values())

    def state_of(model: str | None) -> ModelState:
        available = served()
        if not available:
            raise HTTPException(503, "no bundle is promoted")
        if model is None:
            return available[0]
        if model not in states:
            raise HTTPException(404, f"model {model!r} is not served; served: {sorted(states)}")
        return states[model]

    def bundle_of(state: ModelState):
        bundle = state.current()
        if bundle is None:
            raise HTTPException(503, f"model {state.name!r} is not ready: {state.error}")
        return bundle

    api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")

    def admit(key: str | None) -> str:
        """The key's name; 401, 403 or 429 (HTTPException) when it may not be served."""
        if not key:
            raise HTTPException(401, "missing X-API-Key header")
        entry = keys.lookup(key)
        if entry is None:
            raise HTTPException(401, "unknown API key")
        if entry.revoked:
            raise HTTPException(403, f"API key {entry.name!r} is revoked")
        wait = limiter.take(entry.name)
        if wait is not None:
            raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": str(wait)})
        return entry.name

    async def require_key(key: str | None = Security(api_key)) -> str:
        return admit(key)

    # With protect_ops the OpenAPI schema, its pages and /metrics are routes behind the key.
    open_docs = (
        {"openapi_url": None, "docs_url": None, "redoc_url": None} if cfg.protect_ops else {}
    )
    app = FastAPI(
        title="gogooku ranking service",
        version=__version__,
        description="Daily stock rankings from promoted model bundles (see docs/operations.md).",
        **open_docs,
    )
    answers = ResponseCache(int(cfg.response_cache_mb * 2**20))
    if answers.max_bytes:
        app.add_middleware(
            CachedRankings,
            cache=answers,
            store=store,
            admit=admit,
            bundle_check_s=cfg.bundle_check_s,
        )
    app.add_middleware(BodyLimitMiddleware, limit=cfg.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    ops_key = [Depends(require_key)] if cfg.protect_ops else []
    app.state.config, app.state.states, app.state.metrics = cfg, states, metrics

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each bad field (loc, type, msg), without echoing the input back."""
        errors = [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """Ready when every served bundle is verified and loaded and its data is fresh."""
        reasons, models = [], {}
        available = served()
        if not available:
            reasons.append(f"no bundle is promoted under {bundles_dir()}")
        for state in available:
            bundle = state.current()
            if bundle is None:
                reasons.append(state.error)
                models[state.name] = None
                continue
            version = bundle.info.version
            models[state.name] = version
            run = store.day_run(state.name, version)
            if run is None:
                reasons.append(
                    f"{state.name}@{version}: no stored predictions (run gogooku predict)"
                )
            elif cfg.max_data_age_s > 0:
                age = data_age_seconds(run.date)
                if age > cfg.max_data_age_s:
                    reasons.append(
                        f"{state.name}@{version}: latest data date {run.date} is {age:.0f}s old "
                        f"(max_data_age_s {cfg.max_data_age_s:.0f})"
                    )
        body = {"ready": not reasons, "models": models, "reasons": reasons}
        return JSONResponse(body, status_code=200 if not reasons else 503)

    if cfg.protect_ops:

        @app.get("/openapi.json", include_in_schema=False, dependencies=ops_key)
        async def openapi() -> JSONResponse:
            return JSONResponse(app.openapi())

        @app.get("/docs", include_in_schema=False, dependencies=ops_key)
        async def docs() -> Response:
            return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    @app.get("/metrics", tags=["ops"], response_class=Response, dependencies=ops_key)
    async def prometheus() -> Response:
        """Prometheus exposition of the service's metrics."""
        metrics.observe_models(served(), store)
        metrics.observe_live(_live_rows(served(), live))
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", tags=["v1"], response_model=list[ModelInfo])
    async def models(_: str = Depends(require_key)) -> list[ModelInfo]:
        """Served models: versions on disk, the promoted one, readiness and metrics summary."""
        out = []
        for state in served():
            bundle = state.current()
            infos = [load_info(state.root / v) for v in versions(state.name)]
            roles = _roles(state.name, bundle.info.version if bundle else None)
            out.append(
                ModelInfo(
                    name=state.name,
                    current=bundle.info.version if bundle else None,
                    shadow=next((v for v, r in roles.items() if r == "shadow"), None),
                    ready=bundle is not None,
                    error=state.error,
                    inputs=bundle.input_names if bundle else [],
                    window=bundle.info.window if bundle else None,
                    versions=[
                        VersionInfo(
                            version=i.version,
                            run_id=i.run_id,
                            kind=i.model,
                            dataset=i.dataset,
                            created_at=i.created_at,
                            metrics=i.metrics,
                            role=roles.get(i.version),
                        )
                        for i in infos
                    ],
                )
            )
        return out

    @app.get("/v1/rankings", tags=["v1"], response_model=RankingsResponse)
    async def rankings(
        request: Request,
        _: Annotated[str, Depends(require_key)],
        date: Annotated[
            dt.date | None, Query(description="scored date (default: latest stored)")
        ] = None,
        top_k: Annotated[int, Query(ge=1, le=cfg.max_top_k)] = cfg.default_top_k,
        model: Annotated[str | None, Query(description="bundle (default: first served)")] = None,
        sector: Annotated[str | None, Query(description="33-sector code (S33), e.g. 3050")] = None,
    ) -> Response:
        """Stocks of the date ranked by the promoted version's main-horizon score."""
        generation = store.generation()  # before reading: a write after it makes the answer stale
        state = state_of(model)
        bundle = bundle_of(state)
        info = bundle.info
        run = store.day_run(state.name, info.version, date)
        if run is None:
            when = date.isoformat() if date else "any date"
            raise HTTPException(404, f"no predictions of {state.name}@{info.version} for {when}")
        day = cache.get(run)
        entries = day.select(sector, top_k)
        head = {
            "model": state.name,
            "version": info.version,
            "data_date": run.date.isoformat(),
            "created_at": run.created_at,
            "main_horizon": info.main_horizon,
            "total": run.rows,
            "count": len(entries),
        }
        body = orjson.dumps(head)[:-1] + b',"rankings":[' + b",".join(entries) + b"]}"
        response = Response(body, media_type=JSON)
        if generation is not None:
            answer = CachedAnswer(
                state,
                weakref.ref(bundle),
                generation,
                request.scope.get("route"),
                response.raw_headers,
                body,
            )
            answers.put(request.scope["query_string"], answer)
        return response

    @app.post("/v1/predict", tags=["v1"], response_model=PredictResponse)
    def predict(request: PredictRequest, _: str = Depends(require_key)) -> PredictResponse:
        """Score raw feature rows of a whole cross-section with the promoted version."""
        if len(request.rows) > cfg.max_predict_rows:
            raise HTTPException(413, f"more than {cfg.max_predict_rows} rows")
        state = state_of(request.model)
        bundle = bundle_of(state)
        frame, edges = _request_frame(request, bundle)
        try:
            day, scores = bundle.score_rows(frame, edges)
        except BundleError as exc:
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("body", "rows"), "msg": str(exc), "input": None}]
            ) from None
        horizons = bundle.info.horizons
        main = pred_column(bundle.info.main_horizon)
        preds = [
            {
                "code": r["Code"],
                "score": r[main],
                "scores": {str(h): r[pred_column(h)] for h in horizons},
            }
            for r in scores.iter_rows(named=True)
        ]
        return PredictResponse(
            model=state.name,
            version=bundle.info.version,
            date=day,
            main_horizon=bundle.info.main_horizon,
            predictions=preds,
        )

    return app


def _shadow_of(name: str) -> str | None:
    """NAME's shadow version (None: none, or an unreadable pointer)."""
    try:
        return shadow_version(name)
    except BundleError:
        return None


def _roles(name: str, served: str | None) -> dict[str, str]:
    """{version: "served" | "shadow"} of model ``name`` (``served``: the loaded version)."""
    roles = {served: "served"} if served else {}
    shadow = _shadow_of(name)
    if shadow is not None and shadow != served:
        roles[shadow] = "shadow"
    return roles


def _live_rows(states, live: LiveStore) -> list[tuple]:
    """(model, version, shadow?, live summary) of the served and shadow version of each served
    model, for ``Metrics.observe_live``."""
    rows = []
    for state in states:
        bundle = state.current()
        for version, role in _roles(state.name, bundle.info.version if bundle else None).items():
            rows.append((state.name, version, role == "shadow", summary(live, state.name, version)))
    return rows


def _request_frame(request: PredictRequest, bundle) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The rows as ``Date, Code, <inputs>`` and the edges frame; 422 naming the field on a
    missing or unknown feature, a duplicate row or missing edges."""
    names = bundle.input_names
    wanted = set(names)
    errors = []
    seen: set[tuple] = set()
    for i, row in enumerate(request.rows):
        for n in names:
            if n not in row.features:
                loc = ("body", "rows", i, "features", n)
                errors.append(
                    {"type": "missing", "loc": loc, "msg": "Field required", "input": None}
                )
        for n in sorted(set(row.features) - wanted):
            loc = ("body", "rows", i, "features", n)
            errors.append(
                {
                    "type": "extra_forbidden",
                    "loc": loc,
                    "msg": "not an input of the model",
                    "input": None,
                }
            )
        key = (row.date, row.code)
        if key in seen:
            loc = ("body", "rows", i)
            errors.append(
                {"type": "value_error", "loc": loc, "msg": f"duplicate row {key}", "input": None}
            )
        seen.add(key)
        if len(errors) >= 20:
            break
    if bundle.info.has_graph and request.edges is None:
        errors.append(
            {
                "type": "missing",
                "loc": ("body", "edges"),
                "msg": "the model reads the day's graph",
                "input": None,
            }
        )
    if errors:
        raise RequestValidationError(errors)
    rows = request.rows
    frame = pl.DataFrame(
        {
            "Date": [r.date for r in rows],
            "Code": [r.code for r in rows],
            **{n: [r.features[n] for r in rows] for n in names},
        },
        schema={"Date": pl.Date, "Code": pl.String, **dict.fromkeys(names, pl.Float64)},
    )
    edges = None
    if request.edges is not None:
        edges = pl.DataFrame(
            {
                "src": [e.src for e in request.edges],
                "dst": [e.dst for e in request.edges],
                "weight": [e.weight for e in request.edges],
            },
            schema={"src": pl.String, "dst": pl.String, "weight": pl.Float64},
        )
    return frame, edges
