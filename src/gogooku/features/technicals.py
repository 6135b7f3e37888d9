"""Technical indicators block (``technicals``).

Computed on the stock's traded rows with adjusted prices O, H, L, C and adjusted volume V (see
``gogooku.features.ops``; C₋₁ is the previous traded close). Every indicator is expressed
relative to price so that it does not depend on the price level (the point-in-time adjusted
price level depends on where the stock's history starts).

Averages: ``SMA_n`` is the mean of the last n rows; ``EMA_n`` is the truncated exponential
average of ``ops.ema`` with α = 2/(n+1); Wilder's smoothing ``W_n`` is the same average with
α = 1/n. Truncation makes every value depend on a bounded window (stated per feature).

- MACD(12, 26, 9) in percentage form (PPO): macd = EMA₁₂(C)/EMA₂₆(C) − 1,
  signal = EMA₉(macd), histogram = macd − signal.
- RSI(n) (Wilder): Δ = C − C₋₁, RSI = 100·W_n(max(Δ,0)) / (W_n(max(Δ,0)) + W_n(max(−Δ,0))).
- Bollinger(20, 2σ): mid = SMA₂₀, σ = population std over 20 rows,
  %b = (C − (mid − 2σ)) / (4σ), width = 4σ / mid.
- ATR(14): TR = max(H − L, |H − C₋₁|, |L − C₋₁|), natr = W₁₄(TR) / C.
- ADX(14): up = H − H₋₁, dn = L₋₁ − L, +DM = up if up > dn and up > 0 else 0 (−DM mirrored),
  ±DI = 100·W₁₄(±DM)/W₁₄(TR), DX = 100·|+DI − −DI|/(+DI + −DI), ADX = W₁₄(DX). A stretch
  without any movement has no direction: ±DI = 0 when W₁₄(TR) = 0 and DX = 0 when
  +DI + −DI = 0 (otherwise one flat fortnight would blank ADX for its whole smoothing window).
- Donchian(n): position = (C − min_n L)/(max_n H − min_n L), width = (max_n H − min_n L)/C.
- Stochastic(14): %K = 100·(C − min₁₄ L)/(max₁₄ H − min₁₄ L), %D = SMA₃(%K).
- Chaikin money flow(20): Σ₂₀ MFM·V / Σ₂₀ V with MFM = ((C − L) − (H − C))/(H − L)
  (MFM = 0 on a row with H = L).
"""

from __future__ import annotations

import polars as pl

from gogooku.features import ops
from gogooku.features.base import Block, BlockContext, Feature

MA_WINDOWS = (5, 10, 20, 60, 120)
EMA_SPANS = (5, 10, 20, 60)
DONCHIAN = (20, 55)
VOLUME_WINDOWS = (5, 20)


def _ema_rows(span: int) -> int:
    return ops.ema_window(2.0 / (span + 1.0))


def _wilder_rows(n: int) -> int:
    return ops.ema_window(1.0 / n)


FEATURES: tuple[Feature, ...] = (
    *(
        Feature(
            f"sma_gap_{w}",
            f"Close relative to its {w}-day simple moving average",
            f"C / SMA_{w}(C) - 1",
            w,
        )
        for w in MA_WINDOWS
    ),
    *(
        Feature(
            f"ema_gap_{s}",
            f"Close relative to its {s}-day exponential moving average",
            f"C / EMA_{s}(C) - 1, EMA truncated to {_ema_rows(s)} rows",
            _ema_rows(s),
        )
        for s in EMA_SPANS
    ),
    Feature("sma_cross_5_20", "Short over medium moving average", "SMA_5(C) / SMA_20(C) - 1", 20),
    Feature("sma_cross_20_60", "Medium over long moving average", "SMA_20(C) / SMA_60(C) - 1", 60),
    Feature(
        "sma_20_slope_5d",
        "Five-day change of the 20-day moving average",
        "SMA_20(C)_t / SMA_20(C)_(t-5) - 1",
        25,
    ),
    Feature(
        "macd",
        "MACD(12,26) in percentage form (PPO)",
        "EMA_12(C) / EMA_26(C) - 1",
        _ema_rows(26),
    ),
    Feature(
        "macd_signal",
        "MACD signal line",
        "EMA_9(macd)",
        _ema_rows(26) + _ema_rows(9) - 1,
    ),
    Feature(
        "macd_hist",
        "MACD histogram",
        "macd - macd_signal",
        _ema_rows(26) + _ema_rows(9) - 1,
    ),
    Feature(
        "rsi_14",
        "Wilder RSI over 14 days",
        "100 W_14(max(dC,0)) / (W_14(max(dC,0)) + W_14(max(-dC,0)))",
        _wilder_rows(14) + 1,
    ),
    Feature(
        "rsi_2",
        "Wilder RSI over 2 days (short-term reversal)",
        "100 W_2(max(dC,0)) / (W_2(max(dC,0)) + W_2(max(-dC,0)))",
        _wilder_rows(2) + 1,
    ),
    Feature(
        "bb_pct_b",
        "Bollinger %b (20, 2 sigma)",
        "(C - (SMA_20 - 2 sd_20)) / (4 sd_20), sd population std",
        20,
    ),
    Feature("bb_width", "Bollinger band width (20, 2 sigma)", "4 sd_20 / SMA_20", 20),
    Feature(
        "natr_14",
        "Average true range (Wilder, 14) relative to the close",
        "W_14(TR) / C, TR = max(H-L, |H-C_prev|, |L-C_prev|)",
        _wilder_rows(14) + 1,
    ),
    Feature(
        "adx_14",
        "Average directional index (14)",
        "W_14(DX), DX = 100 |DI+ - DI-| / (DI+ + DI-), 0 if DI+ + DI- = 0",
        2 * _wilder_rows(14),
    ),
    Feature(
        "di_plus_14",
        "Positive directional indicator (14)",
        "100 W_14(+DM) / W_14(TR), 0 if W_14(TR) = 0",
        _wilder_rows(14) + 1,
    ),
    Feature(
        "di_minus_14",
        "Negative directional indicator (14)",
        "100 W_14(-DM) / W_14(TR), 0 if W_14(TR) = 0",
        _wilder_rows(14) + 1,
    ),
    *(
        Feature(
            f"donchian_pos_{w}",
            f"Close position in the {w}-day Donchian channel",
            f"(C - min_{w}(L)) / (max_{w}(H) - min_{w}(L))",
            w,
        )
        for w in DONCHIAN
    ),
    *(
        Feature(
            f"donchian_width_{w}",
            f"Width of the {w}-day Donchian channel relative to the close",
            f"(max_{w}(H) - min_{w}(L)) / C",
            w,
        )
        for w in DONCHIAN
    ),
    Feature(
        "stoch_k_14",
        "Stochastic %K (14)",
        "100 (C - min_14(L)) / (max_14(H) - min_14(L))",
        14,
    ),
    Feature("stoch_d_14", "Stochastic %D (3-day mean of %K)", "SMA_3(stoch_k_14)", 16),
    Feature(
        "cmf_20",
        "Chaikin money flow (20)",
        "sum_20(MFM V) / sum_20(V), MFM = ((C-L)-(H-C))/(H-L), 0 if H = L",
        20,
    ),
    *(
        Feature(
            f"volume_ratio_{w}",
            f"Adjusted volume relative to its {w}-day mean",
            f"AdjVo / SMA_{w}(AdjVo)",
            w,
        )
        for w in VOLUME_WINDOWS
    ),
    Feature(
        "dist_high_250d",
        "Close relative to the 250-day high",
        "C / max_250(H) - 1",
        250,
    ),
    Feature(
        "dist_low_250d",
        "Close relative to the 250-day low",
        "C / min_250(L) - 1",
        250,
    ),
)

LOOKBACK = ops.lookback(FEATURES)


def _rsi(n: int) -> pl.Expr:
    """100·W_n(gain)/(W_n(gain) + W_n(loss)) from the smoothed columns ``_gain{n}``, ``_loss{n}``."""
    gain, loss = pl.col(f"_gain{n}"), pl.col(f"_loss{n}")
    return ops.ratio(100.0 * gain, gain + loss)


def _directional_index(smoothed_dm: pl.Expr, atr: pl.Expr) -> pl.Expr:
    """100·W₁₄(DM)/W₁₄(TR) from the smoothed columns, 0 when there was no range at all."""
    return pl.when(atr == 0).then(0.0).otherwise(100.0 * smoothed_dm / atr)


def compute(ctx: BlockContext) -> pl.LazyFrame:
    """Moving-average gaps, MACD, RSI, Bollinger, ATR, ADX, Donchian, stochastics, volume."""
    h_, l_, c_, v_ = (pl.col(x) for x in ("AdjH", "AdjL", "AdjC", "AdjVo"))
    prev_c, prev_h, prev_l = ops.lag(c_), ops.lag(h_), ops.lag(l_)
    up, dn = h_ - prev_h, prev_l - l_
    true_range = (
        pl.when(prev_c.is_not_null())
        .then(pl.max_horizontal(h_ - l_, (h_ - prev_c).abs(), (l_ - prev_c).abs()))
        .otherwise(None)
    )
    mfm = pl.when(h_ > l_).then(((c_ - l_) - (h_ - c_)) / (h_ - l_)).otherwise(0.0)
    traded = ops.traded_rows(ctx.base).with_columns(
        *(ops.rolling_mean(c_, w).alias(f"_sma{w}") for w in MA_WINDOWS),
        *(ops.ema_span(c_, s).alias(f"_ema{s}") for s in (*EMA_SPANS, 12, 26)),
        (c_ - prev_c).alias("_delta"),
        true_range.alias("_tr"),
        pl.when(up.is_null() | dn.is_null())
        .then(None)
        .when((up > dn) & (up > 0))
        .then(up)
        .otherwise(0.0)
        .alias("_pdm"),
        pl.when(up.is_null() | dn.is_null())
        .then(None)
        .when((dn > up) & (dn > 0))
        .then(dn)
        .otherwise(0.0)
        .alias("_ndm"),
        ops.rolling_std(c_, 20, ddof=0).alias("_sd20"),
        *(ops.rolling_max(h_, w).alias(f"_hi{w}") for w in (*DONCHIAN, 14, 250)),
        *(ops.rolling_min(l_, w).alias(f"_lo{w}") for w in (*DONCHIAN, 14, 250)),
        ops.ratio(ops.rolling_sum(mfm * v_, 20), ops.rolling_sum(v_, 20)).alias("cmf_20"),
        *(
            ops.ratio(v_, ops.rolling_mean(v_, w)).alias(f"volume_ratio_{w}")
            for w in VOLUME_WINDOWS
        ),
    )
    sma = {w: pl.col(f"_sma{w}") for w in MA_WINDOWS}
    delta = pl.col("_delta")
    # Each Wilder average is a 72-row weighted window read by several features: one column each
    # (written inline, the same window was computed once per use).
    traded = traded.with_columns(
        ops.wilder(pl.col("_tr"), 14).alias("_atr"),
        ops.wilder(pl.col("_pdm"), 14).alias("_wpdm"),
        ops.wilder(pl.col("_ndm"), 14).alias("_wndm"),
        *(ops.wilder(delta.clip(lower_bound=0.0), n).alias(f"_gain{n}") for n in (14, 2)),
        *(ops.wilder((-delta).clip(lower_bound=0.0), n).alias(f"_loss{n}") for n in (14, 2)),
    )
    atr = pl.col("_atr")
    traded = traded.with_columns(
        *(ops.ratio(c_, sma[w]).sub(1.0).alias(f"sma_gap_{w}") for w in MA_WINDOWS),
        *(ops.ratio(c_, pl.col(f"_ema{s}")).sub(1.0).alias(f"ema_gap_{s}") for s in EMA_SPANS),
        ops.ratio(sma[5], sma[20]).sub(1.0).alias("sma_cross_5_20"),
        ops.ratio(sma[20], sma[60]).sub(1.0).alias("sma_cross_20_60"),
        ops.ratio(sma[20], ops.lag(sma[20], 5)).sub(1.0).alias("sma_20_slope_5d"),
        ops.ratio(pl.col("_ema12"), pl.col("_ema26")).sub(1.0).alias("macd"),
        _rsi(14).alias("rsi_14"),
        _rsi(2).alias("rsi_2"),
        ops.ratio(c_ - (sma[20] - 2.0 * pl.col("_sd20")), 4.0 * pl.col("_sd20")).alias("bb_pct_b"),
        ops.ratio(4.0 * pl.col("_sd20"), sma[20]).alias("bb_width"),
        ops.ratio(atr, c_).alias("natr_14"),
        _directional_index(pl.col("_wpdm"), atr).alias("di_plus_14"),
        _directional_index(pl.col("_wndm"), atr).alias("di_minus_14"),
        *(
            ops.ratio(c_ - pl.col(f"_lo{w}"), pl.col(f"_hi{w}") - pl.col(f"_lo{w}")).alias(
                f"donchian_pos_{w}"
            )
            for w in DONCHIAN
        ),
        *(
            ops.ratio(pl.col(f"_hi{w}") - pl.col(f"_lo{w}"), c_).alias(f"donchian_width_{w}")
            for w in DONCHIAN
        ),
        ops.ratio(100.0 * (c_ - pl.col("_lo14")), pl.col("_hi14") - pl.col("_lo14")).alias(
            "stoch_k_14"
        ),
        ops.ratio(c_, pl.col("_hi250")).sub(1.0).alias("dist_high_250d"),
        ops.ratio(c_, pl.col("_lo250")).sub(1.0).alias("dist_low_250d"),
    )
    di_p, di_m = pl.col("di_plus_14"), pl.col("di_minus_14")
    traded = traded.with_columns(
        ops.ema_span(pl.col("macd"), 9).alias("macd_signal"),
        ops.rolling_mean(pl.col("stoch_k_14"), 3).alias("stoch_d_14"),
        pl.when(di_p + di_m == 0)
        .then(0.0)
        .otherwise(100.0 * (di_p - di_m).abs() / (di_p + di_m))
        .alias("_dx"),
    )
    traded = traded.with_columns(
        (pl.col("macd") - pl.col("macd_signal")).alias("macd_hist"),
        ops.wilder(pl.col("_dx"), 14).alias("adx_14"),
    )
    return ops.in_memory(ops.to_base_rows(ctx.base, traded, FEATURES))


BLOCK = Block(
    name="technicals",
    sources=("equities_bars_daily",),
    availability="bars_same_day",
    lookback=LOOKBACK,
    features=FEATURES,
    compute=compute,
)

BLOCKS: tuple[Block, ...] = (BLOCK,)
