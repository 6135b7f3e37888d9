"""TDnet timely disclosures (``td_list``): a per-company stream derived from the market's latents.

Item codes are ``gogooku.jquants.tdnet``'s (the official list is not published). Records, per
stock ``i`` listed on the disclosure day:

- **earnings release** (``101``): one per ``fins_summary`` statement, same ``DiscDate`` and the
  same time (``HH:MM``); a statement without a time gets ``17:00`` (after the close either way);
- **forecast revision at the release** (``201`` up / ``202`` down): with the release when the
  statement revises its forecasts (1Q–3Q and ``|s| > 1``, ``s`` the quarter's surprise), direction
  ``sign(s)``;
- **revision pre-announcement**: for a quarter with ``|s| > 1.5``, with probability 0.4, ``k ~
  U{2..9}`` trading days before the release, direction ``sign(s)``. It precedes the release whose
  surprise drives the post-earnings drift, so it predicts that drift (the planted effect);
- **dividend change** (``301`` up / ``302`` down) at a 2Q/FY release with ``|s| > 1``, probability
  0.5, direction ``sign(s)``;
- **buyback** (``401``): daily hazard ``0.002 exp(-0.7 margin_z)``; a low ``margin_z`` (the latent
  whose negative drives future returns) makes buybacks likelier, so a buyback predicts a mild
  positive drift through the margin channel;
- **M&A** (``501``, hazard 0.0004/day) and **other** (``901``, 0.008/day): no effect;
- **correction** (``999``): 3 % of the records above get one 1–10 trading days later, a new
  ``DiscNo``, title ``（訂正）`` + the original title, ``Docs`` ``g``.

Times other than releases: 70 % 15:00–17:00, 10 % 11:30–12:30, 10 % pre-open 07:30–08:59, 10 %
09:00–14:59 (minute uniform within the band). ``DiscNo`` = ``YYYYMMDD`` + a 6-digit sequence of the
day in (time, code, item) order. ``DiscStatus`` is null and ``RevNo`` ``"1"`` (as the API serves
today). Every draw is keyed by day or quarter end (``rng_for``) or hashed from the record, so a
longer market repeats a shorter one's disclosures.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gogooku.jquants import tdnet as items
from gogooku.synth.config import rng_for
from gogooku.synth.latents import NO_TIME
from gogooku.synth.side._common import conform
from gogooku.synth.state import MarketState

NO_TIME_RELEASE = "17:00"
PRE_PROB, PRE_SURPRISE, PRE_DAYS = 0.4, 1.5, (2, 9)
REVISE_SURPRISE, DIVIDEND_PROB = 1.0, 0.5
BUYBACK_BASE, BUYBACK_MARGIN = 0.002, -0.7
MNA_HAZARD, OTHER_HAZARD = 0.0004, 0.008
CORRECTION_PROB, CORRECTION_MAX_LAG = 0.03, 10
# (cumulative probability, first minute of the day, band width in minutes)
TIME_BANDS = ((0.70, 900, 121), (0.80, 690, 61), (0.90, 450, 90), (1.00, 540, 360))
TITLES = {
    items.REVISION_UP: "業績予想の修正（上方修正）に関するお知らせ",
    items.REVISION_DOWN: "業績予想の修正（下方修正）に関するお知らせ",
    items.DIVIDEND_UP: "配当予想の修正（増配）に関するお知らせ",
    items.DIVIDEND_DOWN: "配当予想の修正（減配）に関するお知らせ",
    items.BUYBACK: "自己株式の取得に係る事項の決定に関するお知らせ",
    items.MNA: "株式取得（子会社化）に関するお知らせ",
    items.OTHER: "代表取締役の異動に関するお知らせ",
}
PERIOD_TITLE = {
    1: "第1四半期決算短信",
    2: "第2四半期決算短信",
    3: "第3四半期決算短信",
    4: "決算短信",
}
_SCHEMA = {"t": pl.Int64, "i": pl.Int64, "minute": pl.Int64, "item": pl.String, "title": pl.String}


def band_minutes(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Minute of the day of a non-release disclosure from two uniforms (``TIME_BANDS``)."""
    edges = np.array([b[0] for b in TIME_BANDS])
    band = np.minimum(np.searchsorted(edges, u, side="right"), len(TIME_BANDS) - 1)
    start = np.array([b[1] for b in TIME_BANDS])[band]
    width = np.array([b[2] for b in TIME_BANDS])[band]
    return start + np.floor(v * width).astype(np.int64)


def _frame(t, i, minute, item, title) -> pl.DataFrame:
    return pl.DataFrame(
        {"t": t, "i": i, "minute": minute, "item": item, "title": title}, schema=_SCHEMA
    )


def _releases(state: MarketState) -> pl.DataFrame:
    """Earnings releases plus the revisions and dividend changes that come with them."""
    events = state.latents.disclosures.filter(pl.col("disclosed"))
    if events.height == 0:
        return _frame([], [], [], [], [])
    hhmm = events.select(
        pl.when(pl.col("disc_time") == NO_TIME)
        .then(pl.lit(NO_TIME_RELEASE))
        .otherwise(pl.col("disc_time"))
    ).to_series()
    minute = (
        hhmm.str.slice(0, 2).cast(pl.Int64) * 60 + hhmm.str.slice(3, 2).cast(pl.Int64)
    ).to_numpy()
    t, i = events["day_idx"].to_numpy(), events["code_idx"].to_numpy()
    fq, s = events["fq"].to_numpy(), events["surprise"].to_numpy()
    u = np.empty(events.height)
    for q_end in events["period_end"].unique().to_list():
        rows = (events["period_end"] == q_end).to_numpy()
        u[rows] = rng_for(state.config.seed, "tdnet_release", q_end).random(state.universe.height)[
            i[rows]
        ]
    up = s > 0
    revise = (fq < 4) & (np.abs(s) > REVISE_SURPRISE)
    dividend = np.isin(fq, (2, 4)) & (np.abs(s) > REVISE_SURPRISE) & (u < DIVIDEND_PROB)
    rev_item = np.where(up, items.REVISION_UP, items.REVISION_DOWN)
    div_item = np.where(up, items.DIVIDEND_UP, items.DIVIDEND_DOWN)
    m = minute
    return pl.concat(
        [
            _frame(t, i, m, [items.EARNINGS] * t.size, [PERIOD_TITLE[q] for q in fq]),
            _frame(t[revise], i[revise], m[revise], rev_item[revise], None),
            _frame(t[dividend], i[dividend], m[dividend], div_item[dividend], None),
        ]
    )


def _pre_announcements(state: MarketState) -> pl.DataFrame:
    """Revision pre-announcements ``k`` trading days before a release with a large surprise."""
    events = state.latents.disclosures
    n_days, n = state.listed.shape
    parts = []
    for q_end in events["period_end"].unique().sort().to_list():
        quarter = events.filter(pl.col("period_end") == q_end)
        rng = rng_for(state.config.seed, "tdnet_pre", q_end)
        u, k, tu, tv = rng.random(n), rng.integers(*PRE_DAYS, n, endpoint=True), *rng.random((2, n))
        i = quarter["code_idx"].to_numpy()
        t = quarter["day_idx"].to_numpy() - k[i]
        s = quarter["surprise"].to_numpy()
        keep = (np.abs(s) > PRE_SURPRISE) & (u[i] < PRE_PROB) & (t >= 0) & (t < n_days)
        keep[keep] &= state.listed[t[keep], i[keep]]
        item = np.where(s > 0, items.REVISION_UP, items.REVISION_DOWN)
        minute = band_minutes(tu[i], tv[i])
        parts.append(_frame(t[keep], i[keep], minute[keep], item[keep], None))
    return pl.concat(parts) if parts else _frame([], [], [], [], [])


def _daily(state: MarketState) -> pl.DataFrame:
    """Buybacks (hazard tied to ``margin_z``), M&A and other disclosures, drawn day by day."""
    n = state.listed.shape[1]
    margin_z = state.latents.margin_z
    parts = []
    for t, day in enumerate(state.days):
        u = rng_for(state.config.seed, "tdnet_daily", day).random((5, n))
        hazard = (
            (items.BUYBACK, BUYBACK_BASE * np.exp(BUYBACK_MARGIN * margin_z[t])),
            (items.MNA, np.full(n, MNA_HAZARD)),
            (items.OTHER, np.full(n, OTHER_HAZARD)),
        )
        for row, (item, p) in enumerate(hazard):
            hit = np.nonzero((u[row] < p) & state.listed[t])[0]
            if hit.size:
                minute = band_minutes(u[3, hit], u[4, hit])
                parts.append(_frame(np.full(hit.size, t), hit, minute, [item] * hit.size, None))
    return pl.concat(parts) if parts else _frame([], [], [], [], [])


def _hash_uniform(frame: pl.DataFrame, salt: int) -> pl.Expr:
    """A uniform in [0, 1) from the record's day, stock, minute and item (stable arithmetic)."""
    c = pl.col
    key = (
        c("t") * 40503 + c("i") * 2654435761 + c("minute") * 97 + c("item").cast(pl.Int64) * 7919
    ) + salt
    return ((key % 1_000_003) * 48271 % 1_000_003).cast(pl.Float64) / 1_000_003


def _corrections(records: pl.DataFrame, state: MarketState) -> pl.DataFrame:
    n_days = state.listed.shape[0]
    c = pl.col
    picked = records.with_columns(
        _hash_uniform(records, 1).alias("u"),
        (1 + (_hash_uniform(records, 2) * CORRECTION_MAX_LAG).floor().cast(pl.Int64)).alias("lag"),
    ).filter(c("u") < CORRECTION_PROB)
    t = (picked["t"] + picked["lag"]).to_numpy()
    i = picked["i"].to_numpy()
    keep = t < n_days
    keep[keep] &= state.listed[t[keep], i[keep]]
    minute = band_minutes(_hash_col(picked, 3), _hash_col(picked, 4))
    return _frame(
        t[keep],
        i[keep],
        minute[keep],
        [items.CORRECTION] * int(keep.sum()),
        ("（訂正）「" + picked["title"] + "」の一部訂正について").to_numpy()[keep],
    )


def _hash_col(frame: pl.DataFrame, salt: int) -> np.ndarray:
    return frame.select(_hash_uniform(frame, salt)).to_series().to_numpy()


def render_tdnet(state: MarketState) -> dict[str, pl.DataFrame]:
    """``td_list``: every disclosure of the market's days (see the module docstring)."""
    c = pl.col
    records = pl.concat([_releases(state), _pre_announcements(state), _daily(state)])
    records = records.with_columns(
        c("title").fill_null(c("item").replace_strict(TITLES, default=None))
    )
    records = pl.concat([records, _corrections(records, state)])
    docs = pl.when(c("item") == items.EARNINGS).then(pl.lit("g|s|x")).otherwise(pl.lit("g"))
    days = pl.Series("DiscDate", state.days, dtype=pl.Date)
    universe = state.universe.select("Code", c("CoName").alias("Name")).with_row_index("i")
    time = pl.format(
        "{}:{}",
        (c("minute") // 60).cast(pl.String).str.zfill(2),
        (c("minute") % 60).cast(pl.String).str.zfill(2),
    )
    out = (
        records.with_columns(
            pl.lit(days).gather(c("t")).alias("DiscDate"),
            time.alias("DiscTime"),
            docs.alias("Docs"),
        )
        .join(universe.with_columns(c("i").cast(pl.Int64)), on="i", how="left")
        .sort("DiscDate", "DiscTime", "Code", "item")
        .with_columns(
            (
                c("DiscDate").dt.strftime("%Y%m%d")
                + (pl.int_range(pl.len()).over("DiscDate") + 1).cast(pl.String).str.zfill(6)
            ).alias("DiscNo"),
            c("title").alias("Title"),
            pl.lit("1").alias("RevNo"),
            c("item").alias("DiscItems"),
        )
    )
    return {"td_list": conform(out.drop("t", "i", "minute", "item", "title"), "td_list")}
