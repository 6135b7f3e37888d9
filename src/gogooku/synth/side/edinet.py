"""EDINET ownership documents: ``edinet_major_shareholders``, ``edinet_cross_shareholdings`` and
``edinet_large_volume_shareholders``, rendered from ``Latents.ownership`` (``synth.ownership``).

* **Annual reports.** A listed stock files one annual securities report per fiscal year
  (``PerEn`` = the month end of its fiscal-year-end month, ``PerSt`` the day after the previous
  one) on the first trading day on or after ``PerEn + lag``, ``lag`` ~ U{80..92} calendar days,
  at a minute uniform over 09:00-17:59. Its ``Hldrs`` lists the ten standing holders, their
  year's total ``top10 · exp(0.06 e)`` split by ``weights · LN(0, 0.1)``, merged with the large
  holders whose latest report on or before ``PerEn`` is >= 5 % (the standing ratios scaled down
  where needed so that all of them sum below 95 %), sorted by ratio, the first ten;
  ``Shares = Ratio · shares outstanding`` (100-share lots).
* **Cross-shareholdings** (the same document, ``DocId`` shared) for the 60 % of stocks that hold
  strategic shares: ``Report.ListedBookValue = x_i · MktCap`` (million JPY, the close at the
  submission day), ``x_i ~ LN(log 0.06, 0.6)`` clipped to [0.002, 0.5]; ``ListedCount`` ~
  ``c_i · exp(0.1 e)``, ``ListedChg`` its change from the stock's previous report; ``Spec[]`` the
  five largest holdings (other listed stocks of the market); ``Largest``/``SecondLargest`` for a
  quarter / an eighth of the filers.
* **Large-volume reports** are the ``Ownership.reports`` rows: type ``"1"`` first report, ``"2"``
  change report (including the last one, below 5 %); ``Hldrs`` holds the filer alone.

Coverage starts: like the API, each table holds no filing before its endpoint's
``coverage_from`` (annual reports from 2016-06-01, cross-shareholdings from 2020-03-31,
large-volume reports from 2021-07-01). The hidden states run from the market's start all the
same (a holder that crossed 5 % before 2021-07-01 shows first in its next change report, and the
planted effects act on prices from the start).
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl

from gogooku.jquants.endpoints import get_endpoint
from gogooku.synth.config import rng_for, rng_static
from gogooku.synth.latents import quarter_ends
from gogooku.synth.ownership import FIRST_MINUTE, LAST_MINUTE, LV_SLOTS
from gogooku.synth.side._common import conform, round_lots, shares_outstanding
from gogooku.synth.state import MarketState

STANDING = (
    (
        "日本マスタートラスト信託銀行株式会社（信託口）",
        "The Master Trust Bank of Japan, Ltd. (Trust Account)",
    ),
    ("株式会社日本カストディ銀行（信託口）", "Custody Bank of Japan, Ltd. (Trust Account)"),
    ("日本生命保険相互会社", "Nippon Life Insurance Company"),
    ("株式会社三菱UFJ銀行", "MUFG Bank, Ltd."),
    ("株式会社みずほ銀行", "Mizuho Bank, Ltd."),
    ("株式会社三井住友銀行", "Sumitomo Mitsui Banking Corporation"),
    ("従業員持株会", "Employee Stock Ownership Association"),
    ("STATE STREET BANK AND TRUST COMPANY 505001", "STATE STREET BANK AND TRUST COMPANY 505001"),
    ("JP MORGAN CHASE BANK 385632", "JP MORGAN CHASE BANK 385632"),
    ("THE BANK OF NEW YORK MELLON 140044", "THE BANK OF NEW YORK MELLON 140044"),
    ("第一生命保険株式会社", "The Dai-ichi Life Insurance Company, Limited"),
    ("東京海上日動火災保険株式会社", "Tokio Marine & Nichido Fire Insurance Co., Ltd."),
    ("取引先持株会", "Business Partners Shareholding Association"),
    ("創業家資産管理株式会社", "Founder Family Asset Management K.K."),
    ("野村信託銀行株式会社（投信口）", "Nomura Trust and Banking Co., Ltd. (Investment Trust)"),
    ("GOLDMAN SACHS INTERNATIONAL", "GOLDMAN SACHS INTERNATIONAL"),
)
LARGE = (
    ("ストラテジックキャピタル", "Strategic Capital, Inc."),
    ("エフィッシモ キャピタル", "Effissimo Capital Management Pte Ltd"),
    ("オアシス・マネジメント", "Oasis Management Company Ltd."),
    ("ダルトン・インベストメンツ", "Dalton Investments, Inc."),
    ("野村アセットマネジメント株式会社", "Nomura Asset Management Co., Ltd."),
    ("ブラックロック・ジャパン株式会社", "BlackRock Japan Co., Ltd."),
    ("三井住友トラスト・アセットマネジメント", "Sumitomo Mitsui Trust Asset Management"),
    ("アセットマネジメントOne株式会社", "Asset Management One Co., Ltd."),
    ("シルチェスター", "Silchester International Investors LLP"),
    ("バリューアクト", "ValueAct Capital"),
    ("エリオット", "Elliott Investment Management L.P."),
    ("村上ファンド系投資会社", "Murakami-affiliated Investment Company"),
)
PER_SLOT = len(LARGE) // LV_SLOTS
PURPOSES = (
    "取引関係の維持・強化",
    "業務提携関係の維持",
    "金融取引の円滑化",
    "安定株主としての保有",
)
ANNUAL_DOC = "120"
MAX_LISTED = 0.95


def _edinet_code(code_idx: pl.Expr) -> pl.Expr:
    return pl.format("E{}", (code_idx + 10001).cast(pl.String).str.zfill(5))


def _doc_id(number: np.ndarray) -> list[str]:
    return [f"S{n:07X}" for n in number.tolist()]


def _minute_text(minutes: np.ndarray) -> list[str]:
    return [f"{m // 60:02d}:{m % 60:02d}:00" for m in minutes.tolist()]


def _lots(shares: float) -> float:
    """Shares rounded to 100-share units (``round_lots`` of one Python number)."""
    return float(round(float(shares) / 100.0) * 100)


def _to_json(values: list) -> list[str | None]:
    return [
        None
        if v is None
        else json.dumps(v, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        for v in values
    ]


def _last_close(state: MarketState) -> np.ndarray:
    """``(T, N)`` last unadjusted close at or before each day (NaN before the first)."""
    close = state.close
    idx = np.where(np.isfinite(close), np.arange(close.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return np.take_along_axis(close, idx, axis=0)


def _annual_events(state: MarketState) -> pl.DataFrame:
    """One row per annual report filed within the market: day, stock, period, minute, draws."""
    cfg, days = state.config, state.days
    ords = np.array([d.toordinal() for d in days])
    fye = state.latents.fiscal_year_end_month
    n = fye.size
    rows = []
    for per_en in quarter_ends(cfg.start - timedelta(days=100), cfg.end):
        rng = rng_for(cfg.seed, "annual_report", per_en)
        lag = rng.integers(80, 93, n)
        minute = rng.integers(FIRST_MINUTE, LAST_MINUTE + 1, n)
        total = rng.normal(0.0, 1.0, n)
        drift = rng.normal(0.0, 1.0, (n, 10))
        count = rng.normal(0.0, 1.0, n)
        idx = np.searchsorted(ords, per_en.toordinal() + lag)
        ok = (fye == per_en.month) & (idx < len(days))
        ok[ok] &= state.listed[idx[ok], np.nonzero(ok)[0]]
        for i in np.nonzero(ok)[0]:
            rows.append((int(idx[i]), int(i), per_en, int(minute[i]), total[i], drift[i], count[i]))
    return pl.DataFrame(
        rows,
        schema={
            "day_idx": pl.Int64,
            "code_idx": pl.Int64,
            "PerEn": pl.Date,
            "minute": pl.Int64,
            "total": pl.Float64,
            "drift": pl.Array(pl.Float64, 10),
            "count": pl.Float64,
        },
        orient="row",
    ).sort("day_idx", "code_idx")


def _large_names(reports: pl.DataFrame) -> pl.DataFrame:
    """``reports`` plus ``holder`` (index into LARGE): slot-disjoint names, a new one per entry."""
    gen = (pl.col("kind") == 1).cast(pl.Int64).cum_sum().over("code_idx", "slot") - 1
    name = pl.col("slot") + LV_SLOTS * ((pl.col("code_idx") * 7 + gen) % PER_SLOT)
    return reports.with_columns(name.alias("holder"))


def _holders(state: MarketState, events: pl.DataFrame, reports: pl.DataFrame) -> list[list]:
    """The ``Hldrs`` list of each annual report (standing and large holders, top ten)."""
    own = state.latents.ownership
    n = own.top10.size
    order = np.argsort(rng_static(state.config, "standing_holders").random((n, len(STANDING))))
    so = shares_outstanding(state)
    ords = np.array([d.toordinal() for d in state.days])
    per_en = np.array([d.toordinal() for d in events["PerEn"].to_list()], dtype=np.int64)
    per_idx = np.searchsorted(ords, per_en, side="right") - 1
    latest = (
        reports.with_columns(pl.col("day_idx").alias("asof"))
        .sort("asof")
        .group_by("code_idx", "slot", maintain_order=True)
        .agg(pl.col("asof"), pl.col("ratio"), pl.col("holder"))
    )
    by_stock: dict[int, list[tuple]] = {}
    for code_idx, _slot, asof, ratio, holder in latest.iter_rows():
        by_stock.setdefault(code_idx, []).append((np.array(asof), ratio, holder))
    out = []
    for k, (t, i, total, drift) in enumerate(
        zip(
            events["day_idx"].to_list(),
            events["code_idx"].to_list(),
            events["total"].to_list(),
            events["drift"].to_list(),
            strict=True,
        )
    ):
        year_total = own.top10[i] * np.exp(0.06 * total)
        w = own.weights[i] * np.exp(0.1 * np.asarray(drift))
        ratios = year_total * w / w.sum()
        large = []
        for asof, ratio, holder in by_stock.get(i, []):
            pos = int(np.searchsorted(asof, per_idx[k], side="right")) - 1
            if pos >= 0 and ratio[pos] >= 0.05:
                large.append((LARGE[holder[pos]], float(ratio[pos])))
        # The standing holders give way to large ones: every listed ratio together stays < 95 %.
        room = MAX_LISTED - sum(r for _, r in large)
        ratios = ratios * min(1.0, room / year_total)
        holders = [(STANDING[order[i, j]], float(r)) for j, r in enumerate(ratios)] + large
        holders.sort(key=lambda h: -h[1])
        out.append(
            [
                {
                    "Name": name[0],
                    "NameEn": name[1],
                    "Shares": _lots(r * so[t, i]),
                    "Ratio": round(r, 4),
                }
                for name, r in holders[:10]
            ]
        )
    return out


def _scope(rng: np.random.Generator, count: int, book: float, codes: list[str]) -> dict:
    weights = np.sort(rng.dirichlet(np.ones(max(count, 1))))[::-1]
    spec = [
        {
            "Code": codes[j % len(codes)],
            "Name": None,
            "Shares": _lots(book * w * 1e6 / 1500.0),
            "BookValue": round(float(book * w), 1),
            "Purpose": PURPOSES[j % len(PURPOSES)],
        }
        for j, w in enumerate(weights[:5])
    ]
    return {
        "ListedCount": count,
        "UnlistedCount": int(rng.integers(0, 15)),
        "ListedBookValue": round(book, 1),
        "UnlistedBookValue": round(book * float(rng.uniform(0.02, 0.2)), 1),
        "Spec": spec,
        "Deem": spec[:1] if rng.random() < 0.2 else [],
    }


def _cross(state: MarketState, events: pl.DataFrame, close: np.ndarray) -> pl.DataFrame:
    """Cross-shareholding scopes of the annual reports of stocks holding strategic shares."""
    n = state.universe.height
    rng = rng_static(state.config, "cross_holdings")
    holds = rng.random(n) < 0.6
    ratio = np.clip(np.exp(rng.normal(np.log(0.06), 0.6, n)), 0.002, 0.5)
    base = 3 + rng.poisson(20, n)
    groups = rng.random(n)
    picks = rng.integers(0, n, (n, 5))
    codes = state.universe["Code"].to_list()
    names = dict(zip(codes, state.universe["CoName"].to_list(), strict=True))
    so = shares_outstanding(state)
    report, largest, second, counts = [], [], [], []
    keep = []
    for k, (t, i, count_draw) in enumerate(
        zip(
            events["day_idx"].to_list(),
            events["code_idx"].to_list(),
            events["count"].to_list(),
            strict=True,
        )
    ):
        if not holds[i] or not np.isfinite(close[t, i]):
            continue
        keep.append(k)
        mcap = close[t, i] * so[t, i] / 1e6
        count = max(1, round(base[i] * np.exp(0.1 * count_draw)))
        doc_rng = rng_for(state.config.seed, f"cross/{i}", state.days[t])
        held = [codes[j] for j in picks[i] if j != i] or [codes[(i + 1) % n]]
        scope = _scope(doc_rng, count, ratio[i] * mcap, held)
        for entry in scope["Spec"] + scope["Deem"]:
            entry["Name"] = names[entry["Code"]]
        report.append(scope)
        counts.append(count)
        largest.append(
            _scope(doc_rng, max(1, count // 4), 0.2 * ratio[i] * mcap, held)
            if groups[i] < 0.25
            else None
        )
        second.append(
            _scope(doc_rng, max(1, count // 8), 0.05 * ratio[i] * mcap, held)
            if groups[i] < 0.125
            else None
        )
    frame = events[keep].with_columns(pl.Series("ListedCount", counts, dtype=pl.Int64))
    chg = (pl.col("ListedCount") - pl.col("ListedCount").shift(1)).over("code_idx")
    changes = frame.select(chg.alias("chg"))["chg"].to_list()
    for scope, change in zip(report, changes, strict=True):
        scope["ListedChg"] = change
    return frame.with_columns(
        pl.Series("Report", _to_json(report), dtype=pl.String),
        pl.Series("Largest", _to_json(largest), dtype=pl.String),
        pl.Series("SecondLargest", _to_json(second), dtype=pl.String),
    )


def _covered(frame: pl.DataFrame, dataset: str) -> pl.DataFrame:
    """``frame`` without the filings before ``dataset``'s coverage start, in the API's order."""
    start = get_endpoint(dataset).coverage_from
    kept = frame if start is None else frame.filter(pl.col("SubDate") >= start)
    return conform(kept.sort("SubDate", "DocId"), dataset)


def render_edinet(state: MarketState) -> dict[str, pl.DataFrame]:
    """The three EDINET tables of ``state``, each from its coverage start."""
    universe = state.universe.select("Code", "CoName", "CoNameEn").with_row_index("code_idx")
    universe = universe.with_columns(
        pl.col("code_idx").cast(pl.Int64), _edinet_code(pl.col("code_idx")).alias("EdinetCode")
    )
    days = pl.Series("SubDate", state.days, dtype=pl.Date)
    reports = _large_names(state.latents.ownership.reports)
    events = _annual_events(state)
    doc = _doc_id(events["code_idx"].to_numpy() * 64 + events["PerEn"].dt.year().to_numpy() - 1990)
    annual = events.with_columns(
        pl.Series("DocId", doc, dtype=pl.String),
        days.gather(events["day_idx"]),
        pl.Series("SubTime", _minute_text(events["minute"].to_numpy()), dtype=pl.String),
        pl.lit(ANNUAL_DOC).alias("DocTypeCode"),
    ).join(universe, on="code_idx", how="left", maintain_order="left")
    annual = annual.with_columns(
        pl.col("PerEn").dt.offset_by("-1y").dt.offset_by("1d").alias("PerSt"),
        pl.col("CoName").alias("FilerName"),
        pl.col("CoNameEn").alias("FilerNameEn"),
    )
    major = annual.with_columns(
        pl.Series("Hldrs", _to_json(_holders(state, events, reports)), dtype=pl.String)
    )
    cross = _cross(state, annual, _last_close(state))
    so = shares_outstanding(state)
    t, i = reports["day_idx"].to_numpy(), reports["code_idx"].to_numpy()
    outstanding = round_lots(so[t, i]) if t.size else np.empty(0)
    ratio = reports["ratio"].to_numpy()
    first = reports["kind"].to_numpy() == 1
    holders = [
        [{"Name": LARGE[h][0], "NameEn": LARGE[h][1], "Shares": float(s), "Ratio": r}]
        for h, s, r in zip(
            reports["holder"].to_list(),
            round_lots(ratio * outstanding).tolist(),
            ratio.tolist(),
            strict=True,
        )
    ]
    up = ratio >= np.nan_to_num(reports["prev_ratio"].to_numpy(), nan=0.0)
    large = reports.with_columns(
        pl.Series("DocId", _doc_id(0x4000000 + np.arange(reports.height)), dtype=pl.String),
        days.gather(reports["day_idx"]),
        pl.Series("SubTime", _minute_text(reports["minute"].to_numpy()), dtype=pl.String),
        pl.lit("350").alias("DocTypeCode"),
        pl.Series("LargeHldgTypeCode", np.where(first, "1", "2"), dtype=pl.String),
        pl.Series("DocTitle", np.where(first, "大量保有報告書", "変更報告書"), dtype=pl.String),
        pl.Series(
            "ChgRsn",
            [
                None
                if f
                else ("株券等保有割合の1%以上の増加" if u else "株券等保有割合の1%以上の減少")
                for f, u in zip(first.tolist(), up.tolist(), strict=True)
            ],
            dtype=pl.String,
        ),
        pl.Series("TotalShsHeld", round_lots(ratio * outstanding)),
        pl.col("ratio").alias("TotalShsRatio"),
        pl.col("prev_ratio").alias("TotalShsRatioLast"),
        pl.Series("TotalOutStks", outstanding, dtype=pl.Float64),
        pl.Series("Hldrs", _to_json(holders), dtype=pl.String),
    ).join(universe, on="code_idx", how="left", maintain_order="left")
    large = large.rename({"CoName": "IsrName"})
    drop = ["day_idx", "code_idx", "minute", "total", "drift", "count", "CoName", "CoNameEn"]
    return {
        "edinet_major_shareholders": _covered(
            major.drop(drop, strict=False), "edinet_major_shareholders"
        ),
        "edinet_cross_shareholdings": _covered(
            cross.drop([*drop, "Hldrs", "ListedCount"], strict=False),
            "edinet_cross_shareholdings",
        ),
        "edinet_large_volume_shareholders": _covered(
            large.drop(
                ["slot", "kind", "ratio", "prev_ratio", "holder", *drop, "CoNameEn"], strict=False
            ),
            "edinet_large_volume_shareholders",
        ),
    }
