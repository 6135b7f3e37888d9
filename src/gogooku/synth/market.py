"""``generate_market``: the synthetic market as J-Quants-shaped tables plus the oracle.

Order of construction (``MarketState`` field order): calendar and trading days → universe and
listings → B's latents (``draw_latents``) → market volatility and regime → prices (the daily
recursion adds the planted price signals and B's side contributions to the expected return) →
``equities_bars_daily`` and ``indices_topix`` → B's side tables → oracle.

Adjusted prices (a documented departure from J-Quants): ``Adj*`` fields are *forward-only*
cumulative, expressed in the share basis of the stock's first listed day,
``AdjC[t] = C[t] / Π_{s ≤ t} AdjFactor[s]`` and ``AdjVo[t] = Vo[t] · Π_{s ≤ t} AdjFactor[s]``.
J-Quants instead rescales all history after every split (so its Adj* change retroactively); both
conventions give the same ratios ``AdjC[t2] / AdjC[t1]`` and therefore the same labels, and ours
never changes a published value, which keeps the market prefix-stable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial

import numpy as np
import polars as pl

from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.synth.config import SynthConfig
from gogooku.synth.day_sources import DaySource, day_sources
from gogooku.synth.latents import PERSISTENCE, draw_latents
from gogooku.synth.nonlinear import PERSISTENCE_V2, NonlinearState, leader_graph
from gogooku.synth.prices import (
    MARKET_DRIFT,
    DailyBars,
    Schedule,
    VolPath,
    corporate_actions,
    expected_dispersion,
    simulate_bars,
    simulate_vol,
)
from gogooku.synth.sessions import with_sessions
from gogooku.synth.side import render_side_tables
from gogooku.synth.signals import (
    ORACLE_HORIZONS,
    PEER,
    PRICE_SIGNALS,
    SignalSpec,
    SignalState,
    oracle_targets,
    price_mu,
)
from gogooku.synth.state import MarketState
from gogooku.synth.universe import (
    HALT_DAY,
    StockParams,
    build_calendar,
    build_universe,
    horizon_end,
    listed_mask,
    master_table,
    trading_sessions,
)
from gogooku.synth.value import PERSISTENCE_VALUE, ValueState, split_multiplier, usable_book

TOPIX_START = 1500.0
# Minute bars and ticks exist on the market's last 60 trading days only (the real add-on keeps 2
# years): enough for the 20-day means of the ``mb`` block, and a month's bulk files stay small.
MINUTE_DAYS = 60
ADV_WINDOW = 20


@dataclass
class SyntheticMarket:
    """A generated market: its state, every dataset table and the oracle."""

    config: SynthConfig
    state: MarketState
    tables: dict[str, pl.DataFrame]
    oracle: pl.DataFrame  # Date, Code, exp_target_{1,5,10,20}d
    peers: pl.DataFrame  # Code, PeerCode: the hidden peer graph (for evaluation only)
    minute_days: int | None = MINUTE_DAYS  # trading days (the last ones) with minute bars
    # Code, LeaderCode, Kind: version 2's hidden leader graph (evaluation only; None in version 1)
    leaders: pl.DataFrame | None = None
    # Date, Code and the inputs of mu (``state_frame``); only with keep_states=True
    states: pl.DataFrame | None = None

    @property
    def day_sources(self) -> dict[str, DaySource]:
        """Datasets rendered per requested day: minute bars, ticks, morning session, all options."""
        return day_sources(self.tables, self.config.seed, self.minute_days)

    @property
    def premium_renderers(self) -> dict[str, Callable[[pl.DataFrame], pl.DataFrame]]:
        """Premium-only fields rendered per served page: the bars' M*/A* session fields."""
        return {"equities_bars_daily": partial(with_sessions, seed=self.config.seed)}


def _schema_columns(dataset_id: str) -> dict[str, pl.DataType]:
    ep = ENDPOINTS[dataset_id]
    return {k: v for k, v in ep.schema.items() if k not in ep.premium_fields}


def _flat(values: np.ndarray, t_idx: np.ndarray, i_idx: np.ndarray) -> np.ndarray:
    return values[t_idx, i_idx]


def bars_table(
    days: list[date], codes: pl.Series, listed: np.ndarray, bars: DailyBars
) -> pl.DataFrame:
    """``equities_bars_daily`` rows for every listed (Date, Code), sorted by Date then Code.

    No-trade days keep their row with null O/H/L/C/Vo/Va/Adj*/MktCap and ``UL``/``LL`` False.
    ``Mkt Cap`` is ``C × shares outstanding`` in million JPY. ``ExRT`` is ``"1"`` on a split
    ex-date, ``"2"`` on a reverse split, null otherwise. The Premium-only M*/A* session fields
    are not part of the table: the service renders them per page on the Premium plan
    (``SyntheticMarket.premium_renderers``, ``gogooku.synth.sessions``).
    """
    t_idx, i_idx = np.nonzero(listed)
    cum = np.cumprod(bars.adj_factor, axis=0)
    f = _flat(bars.adj_factor, t_idx, i_idx)
    c = _flat(cum, t_idx, i_idx)
    close = _flat(bars.close, t_idx, i_idx)
    frame = pl.DataFrame(
        {
            "Date": pl.Series(days, dtype=pl.Date).gather(t_idx),
            "Code": codes.gather(i_idx),
            "O": _flat(bars.open, t_idx, i_idx),
            "H": _flat(bars.high, t_idx, i_idx),
            "L": _flat(bars.low, t_idx, i_idx),
            "C": close,
            "UL": _flat(bars.upper_hit, t_idx, i_idx),
            "LL": _flat(bars.lower_hit, t_idx, i_idx),
            "Vo": _flat(bars.volume, t_idx, i_idx),
            "Va": _flat(bars.value, t_idx, i_idx),
            "AdjFactor": f,
            "AdjO": _flat(bars.open, t_idx, i_idx) / c,
            "AdjH": _flat(bars.high, t_idx, i_idx) / c,
            "AdjL": _flat(bars.low, t_idx, i_idx) / c,
            "AdjC": close / c,
            "AdjVo": _flat(bars.volume, t_idx, i_idx) * c,
            "MktCap": close * _flat(bars.shares, t_idx, i_idx) / 1e6,
            "ExRT": np.where(f < 1.0, "1", np.where(f > 1.0, "2", "")),
        },
        nan_to_null=True,
    ).with_columns(pl.col("ExRT").replace("", None))
    return frame.cast(_schema_columns("equities_bars_daily")).select(
        list(_schema_columns("equities_bars_daily"))
    )


def topix_table(
    days: list[date], member: np.ndarray, listed: np.ndarray, bars: DailyBars
) -> pl.DataFrame:
    """``indices_topix``: cap-weighted price index of the TOPIX members (ScaleCat != "-").

    ``C[t] = C[t-1] · (1 + Σ w_i (AdjC_i[t] / AdjC_i[last] − 1))`` with ``w`` the previous market
    capitalisations of members traded on ``t`` (dividend drops included: TOPIX is a price index);
    ``O`` likewise from opens; ``H``/``L`` extend ``max(O, C)``/``min(O, C)`` half-way to the
    weighted average high/low. On 2020-10-01 all four equal the previous close (as J-Quants).
    """
    cum = np.cumprod(bars.adj_factor, axis=0)
    n_days, n = listed.shape
    last_adj = np.full(n, np.nan)
    last_cap = np.full(n, np.nan)
    level = TOPIX_START
    rows = np.empty((n_days, 4))
    for t in range(n_days):
        adj_c = bars.close[t] / cum[t]
        ok = member & listed[t] & np.isfinite(adj_c) & np.isfinite(last_adj)
        if days[t] == HALT_DAY or not ok.any():
            rows[t] = level
        else:
            w = last_cap[ok] / last_cap[ok].sum()
            base = last_adj[ok]
            rel = {
                k: float(w @ (getattr(bars, k)[t, ok] / cum[t, ok] / base))
                for k in ("open", "high", "low", "close")
            }
            o, c = level * rel["open"], level * rel["close"]
            top, bottom = max(o, c), min(o, c)
            h = top + 0.5 * max(level * rel["high"] - top, 0.0)
            low = bottom - 0.5 * max(bottom - level * rel["low"], 0.0)
            rows[t] = (o, h, low, c)
            level = c
        traded = listed[t] & np.isfinite(adj_c)
        last_adj = np.where(traded, adj_c, np.where(listed[t], last_adj, np.nan))
        last_cap = np.where(traded, bars.close[t] * bars.shares[t], last_cap)
    rows = np.round(rows, 2)
    return pl.DataFrame(
        {
            "Date": pl.Series(days, dtype=pl.Date),
            "O": rows[:, 0],
            "H": rows[:, 1],
            "L": rows[:, 2],
            "C": rows[:, 3],
        }
    ).select(list(_schema_columns("indices_topix")))


def average_traded_value(value: np.ndarray, window: int = ADV_WINDOW) -> np.ndarray:
    """Mean traded value over the last ``window`` trading days with trades (NaN before any)."""
    has = np.isfinite(value)
    csum = np.cumsum(np.where(has, value, 0.0), axis=0)
    ccount = np.cumsum(has, axis=0)
    prev_sum = np.zeros_like(csum)
    prev_count = np.zeros_like(ccount)
    prev_sum[window:] = csum[:-window]
    prev_count[window:] = ccount[:-window]
    count = ccount - prev_count
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum - prev_sum) / count, np.nan)


def oracle_frame(
    days: list[date],
    codes: pl.Series,
    listed: np.ndarray,
    horizon_days: list[date],
    schedule: Schedule,
    signals: SignalState,
    dispersion: np.ndarray,
    vol: VolPath,
    side: dict[str, np.ndarray],
    params: StockParams,
    persistence: dict[str, float] = PERSISTENCE,
    signals_in_mu: tuple[SignalSpec, ...] = PRICE_SIGNALS,
) -> pl.DataFrame:
    """The oracle (Date, Code, exp_target_{1,5,10,20}d) for every listed (Date, Code).

    Dividend yields and the halt day are read from the horizon schedule up to ``T + 22``
    sessions, so the values near ``end`` do not depend on ``end`` (see ``oracle_targets``).
    """
    n_days = len(days)
    need = n_days + max(ORACLE_HORIZONS) + 2
    horizon = np.array(horizon_days[:need])
    trading = np.ones(need, dtype=bool)
    trading[: len(horizon)] = horizon != HALT_DAY
    div_yield = np.zeros((need, listed.shape[1]))
    div_yield[: schedule.div_yield.shape[0]] = schedule.div_yield
    targets = oracle_targets(
        signals,
        dispersion,
        vol.high,
        listed,
        side,
        persistence,
        params.beta * MARKET_DRIFT,
        div_yield,
        trading,
        signals_in_mu,
    )
    t_idx, i_idx = np.nonzero(listed)
    return pl.DataFrame(
        {
            "Date": pl.Series(days, dtype=pl.Date).gather(t_idx),
            "Code": codes.gather(i_idx),
            **{f"exp_target_{h}d": targets.pop(h)[t_idx, i_idx] for h in ORACLE_HORIZONS},
        }
    )


def state_frame(
    days: list[date], codes: pl.Series, listed: np.ndarray, arrays: dict[str, np.ndarray]
) -> pl.DataFrame:
    """``Date, Code`` and one Float64 column per ``(T, N)`` array, over the listed cells."""
    t_idx, i_idx = np.nonzero(listed)
    return pl.DataFrame(
        {
            "Date": pl.Series(days, dtype=pl.Date).gather(t_idx),
            "Code": codes.gather(i_idx),
            **{name: np.asarray(a, dtype=np.float64)[t_idx, i_idx] for name, a in arrays.items()},
        }
    )


def generate_market(
    config: SynthConfig,
    *,
    side_tables: bool = True,
    minute_days: int | None = MINUTE_DAYS,
    keep_states: bool = False,
) -> SyntheticMarket:
    """Generate the whole market for ``config`` (deterministic, prefix-stable in ``end``).

    ``side_tables=False`` skips rendering engineer B's observable side datasets (the latents and
    their return contributions are still simulated, so prices and the oracle are unchanged).
    ``minute_days`` is the number of last trading days with minute bars and ticks (None: all).
    ``keep_states`` keeps the inputs of the expected return as ``market.states`` (``gap``).
    """
    calendar, days = build_calendar(config)
    horizon_days = trading_sessions(config.start, horizon_end(config))
    if horizon_days[: len(days)] != days:
        raise RuntimeError("trading days are not a prefix of the horizon sessions")
    universe, params = build_universe(config, horizon_days)
    n_days = len(days)
    listed = listed_mask(params, n_days)
    latents = draw_latents(config, days, universe)
    side = latents.contributions(universe, config.market_version)
    vol = simulate_vol(config, days)
    oracle_rows = n_days + max(ORACLE_HORIZONS) + 2
    schedule = corporate_actions(config, params, horizon_days, oracle_rows)
    dispersion = expected_dispersion(params, vol, listed)
    signals = SignalState(n_days, params.peers)
    codes = universe["Code"]
    v2 = config.market_version >= 2
    graph = leader_graph(config, params, codes) if v2 else None
    nonlinear = NonlinearState(params, graph, listed, *latents.public_crowding()) if graph else None
    value = None
    if v2:
        multiplier = split_multiplier(schedule.split_factor, listed)
        value = ValueState(usable_book(config, universe, latents, multiplier, listed), listed)
    in_mu = (PEER,) if v2 else PRICE_SIGNALS

    def mu_fn(t: int, state: SignalState, close: np.ndarray) -> np.ndarray:
        mu = price_mu(t, state, dispersion[t], bool(vol.high[t]), in_mu)
        for contribution in side.values():
            mu += contribution[t]
        if nonlinear is not None:
            mu += nonlinear.mu(t, state, dispersion[t])
        if value is not None:
            mu += value.mu(t, close, dispersion[t])
        return np.where(listed[t], mu, 0.0)

    bars = simulate_bars(config, days, params, listed, vol, schedule, signals, mu_fn, v2)
    states = None
    if keep_states:
        arrays = {f"z_{name}": z for name, z in signals.z.items()}
        arrays["high_vol"] = np.broadcast_to(vol.high[:, None], listed.shape)
        arrays["side"] = sum(side.values(), np.zeros(listed.shape))
        arrays.update(nonlinear.states() if nonlinear else {})
        arrays.update({"z_value": value.z} if value else {})
        states = state_frame(days, codes, listed, arrays)
    persistence = PERSISTENCE
    if nonlinear is not None and value is not None:
        side.update(nonlinear.terms | value.terms)
        persistence = {**PERSISTENCE, **PERSISTENCE_V2, "value": PERSISTENCE_VALUE}
    oracle = oracle_frame(
        days, codes, listed, horizon_days, schedule, signals, dispersion, vol, side, params,
        persistence, in_mu,
    )  # fmt: skip
    del signals, schedule
    nonlinear = value = None  # their (T, N) arrays are not needed for the tables
    side.clear()  # the oracle was the last reader; frees (T, N) arrays before the tables
    bars_frame = bars_table(days, codes, listed, bars)
    member = (universe["ScaleCat"] != "-").to_numpy()
    topix = topix_table(days, member, listed, bars)
    state = MarketState(
        config=config,
        calendar=calendar,
        days=days,
        universe=universe,
        listed=listed,
        latents=latents,
        market_vol=vol.market_vol,
        high_vol_regime=vol.high,
        ret=bars.ret,
        close=bars.close,
        volume=bars.volume,
        adv=average_traded_value(bars.value),
        bars=bars_frame,
        topix=topix,
        dividend=bars.dividend,
        adj_factor=bars.adj_factor,
    )
    del bars
    tables = {
        "markets_calendar": calendar,
        "equities_master": master_table(universe, days, listed),
        "equities_bars_daily": bars_frame,
        "indices_topix": topix,
    }
    if side_tables:
        tables.update(render_side_tables(state))
    rows, cols = params.peers.nonzero()
    peers = pl.DataFrame({"Code": codes.gather(rows), "PeerCode": codes.gather(cols)}).sort(
        "Code", "PeerCode"
    )
    leaders = graph.links if graph else None
    return SyntheticMarket(config, state, tables, oracle, peers, minute_days, leaders, states)
