"""Trading calendar, stock universe, listings and the hidden peer graph of the synthetic market.

The calendar is the real JPX calendar (``exchange_calendars`` XTKS) with one correction:
2020-10-01 (the arrowhead outage) is closed in XTKS but J-Quants lists it as a business day with
null bars, so it is a trading day here (HolDiv ``"1"``). XTKS has no half-day sessions in recent
history, so HolDiv ``"2"`` never occurs; year-end closure (Dec 31 - Jan 3) comes from XTKS. Like
J-Quants', the calendar is published ahead: through 31 December of the year after the last
trading day (``build_calendar``).

Prefix stability: everything here is drawn from ``rng_static`` (keyed by seed, stocks, start) over
a fixed *horizon* of ``HORIZON_YEARS`` after ``start``; ``end`` only decides which part of the
horizon is visible. In particular the universe always has the same rows (stocks listed at start
plus every IPO of the horizon, ordered by ``Code``) whatever ``end`` is, so per-day draws of size
``N`` are the same for every ``end``; a stock whose IPO is after ``end`` is simply never listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
import scipy.sparse as sp

from gogooku.calendar import published_through, xtks_sessions
from gogooku.jquants.endpoints import ENDPOINTS
from gogooku.synth.config import SynthConfig, rng_static

HORIZON_YEARS = 12
HALT_DAY = date(2020, 10, 1)
REFORM_DAY = date(2022, 4, 4)  # TSE market restructuring: Prime / Standard / Growth
IPO_RATE = 0.012  # IPOs per listed stock per year
DELIST_RATE = 0.008  # delistings per stock per year
CRASH_SHARE = 0.7  # share of delistings that follow a crash (as real ones often do)
CRASH_DEPTH = (0.5, 0.9)  # fall of the crash, uniform
CRASH_SESSIONS = (10, 30)  # its length in sessions before the delisting, uniform (inclusive)
PEER_GROUP_SIZE = 5

# S33 code, Japanese name, English stem for names, S17 code, relative frequency in the universe
SECTORS_33: tuple[tuple[str, str, str, str, float], ...] = (
    ("0050", "水産・農林業", "Marine", "1", 0.3),
    ("1050", "鉱業", "Mining", "2", 0.2),
    ("2050", "建設業", "Construction", "3", 4.3),
    ("3050", "食料品", "Foods", "1", 3.3),
    ("3100", "繊維製品", "Textile", "4", 1.3),
    ("3150", "パルプ・紙", "Paper", "4", 0.6),
    ("3200", "化学", "Chemical", "4", 5.5),
    ("3250", "医薬品", "Pharma", "5", 1.9),
    ("3300", "石油・石炭製品", "Oil", "2", 0.3),
    ("3350", "ゴム製品", "Rubber", "6", 0.5),
    ("3400", "ガラス・土石製品", "Ceramics", "3", 1.5),
    ("3450", "鉄鋼", "Steel", "7", 1.2),
    ("3500", "非鉄金属", "Metals", "7", 0.9),
    ("3550", "金属製品", "Metal Products", "3", 2.3),
    ("3600", "機械", "Machinery", "8", 5.8),
    ("3650", "電気機器", "Electric", "9", 6.5),
    ("3700", "輸送用機器", "Motors", "6", 2.3),
    ("3750", "精密機器", "Precision", "9", 1.4),
    ("3800", "その他製品", "Products", "10", 2.9),
    ("4050", "電気・ガス業", "Power", "11", 0.7),
    ("5050", "陸運業", "Railway", "12", 1.7),
    ("5100", "海運業", "Shipping", "12", 0.3),
    ("5150", "空運業", "Airlines", "12", 0.1),
    ("5200", "倉庫・運輸関連業", "Logistics", "12", 1.0),
    ("5250", "情報・通信業", "Systems", "10", 13.5),
    ("6050", "卸売業", "Trading", "13", 7.8),
    ("6100", "小売業", "Retail", "14", 8.7),
    ("7050", "銀行業", "Bank", "15", 2.1),
    ("7100", "証券、商品先物取引業", "Securities", "16", 1.0),
    ("7150", "保険業", "Insurance", "16", 0.3),
    ("7200", "その他金融業", "Finance", "16", 0.8),
    ("8050", "不動産業", "Realty", "17", 3.7),
    ("9050", "サービス業", "Services", "10", 12.8),
)
SECTORS_17: dict[str, str] = {
    "1": "食品",
    "2": "エネルギー資源",
    "3": "建設・資材",
    "4": "素材・化学",
    "5": "医薬品",
    "6": "自動車・輸送機",
    "7": "鉄鋼・非鉄",
    "8": "機械",
    "9": "電機・精密",
    "10": "情報通信・サービスその他",
    "11": "電力・ガス",
    "12": "運輸・物流",
    "13": "商社・卸売",
    "14": "小売",
    "15": "銀行",
    "16": "金融（除く銀行）",
    "17": "不動産",
}
MARKETS: dict[str, str] = {
    "0101": "東証一部",
    "0102": "東証二部",
    "0104": "マザーズ",
    "0106": "JASDAQ スタンダード",
    "0107": "JASDAQ グロース",
    "0111": "プライム",
    "0112": "スタンダード",
    "0113": "グロース",
}
MARGIN_NAMES: dict[str, str] = {"1": "信用", "2": "貸借", "3": "その他"}
UNIVERSE_COLUMNS = (
    "Code",
    "CoName",
    "CoNameEn",
    "S17",
    "S17Nm",
    "S33",
    "S33Nm",
    "ScaleCat",
    "Mkt",
    "MktNm",
    "Mrgn",
    "MrgnNm",
    "ProdCat",
    "list_date",
    "delist_date",
    "shares_outstanding",
    "size_score",
)
MASTER_COLUMNS = tuple(ENDPOINTS["equities_master"].schema)

_NAME_JA = (
    "日本", "東京", "大和", "三和", "東洋", "中央", "北海", "関西", "新光", "太陽",
    "富士", "昭和", "明治", "平和", "協和", "丸栄", "日東", "朝日", "光陽", "扶桑",
)  # fmt: skip
_NAME_EN = (
    "Nippon", "Tokyo", "Daiwa", "Sanwa", "Toyo", "Chuo", "Hokkai", "Kansai", "Shinko", "Taiyo",
    "Fuji", "Showa", "Meiji", "Heiwa", "Kyowa", "Maruei", "Nitto", "Asahi", "Koyo", "Fuso",
)  # fmt: skip
_SUFFIX = (
    ("", ", Ltd."),
    ("ホールディングス", " Holdings, Inc."),
    ("工業", " Industries Co., Ltd."),
)
_ALNUM_LETTERS = "ACDFGHJKLMNPRSTUWXY"  # TSE alphanumeric codes avoid B, E, I, O, Q, V, Z


def horizon_end(config: SynthConfig) -> date:
    """Last calendar day of the fixed horizon that static draws cover."""
    return date(config.start.year + HORIZON_YEARS, config.start.month, 1) - timedelta(days=1)


def trading_sessions(first: date, last: date) -> list[date]:
    """XTKS sessions in ``first..last`` plus 2020-10-01 (J-Quants business day, null bars)."""
    return xtks_sessions(first, last)


def build_calendar(config: SynthConfig) -> tuple[pl.DataFrame, list[date]]:
    """``markets_calendar`` for every calendar day from start and the list of trading days.

    Trading days run start..end. The calendar is published ahead like J-Quants': through
    ``published_through(last trading day)``, 31 December of the following year. HolDiv is ``"1"``
    on trading days and ``"0"`` otherwise (no half days, no OSE holiday trading).
    """
    if config.end > horizon_end(config):
        raise ValueError(
            f"SynthConfig.end {config.end} is beyond the simulator horizon {horizon_end(config)} "
            f"(start + {HORIZON_YEARS} years)"
        )
    # One XTKS range for everything (the same as the horizon's, so usually already cached).
    known = trading_sessions(config.start, max(horizon_end(config), published_through(config.end)))
    days = [d for d in known if d <= config.end]
    if not days:
        raise ValueError(f"no trading days between {config.start} and {config.end}")
    last = published_through(days[-1])
    sessions = [d for d in known if d <= last]
    calendar = (
        pl.DataFrame({"Date": pl.date_range(config.start, last, "1d", eager=True)})
        .with_columns(
            pl.when(pl.col("Date").is_in(sessions))
            .then(pl.lit("1"))
            .otherwise(pl.lit("0"))
            .alias("HolDiv")
        )
        .select("Date", "HolDiv")
    )
    return calendar, days


@dataclass
class StockParams:
    """Hidden per-stock constants (index ``i`` matches universe row ``i``)."""

    sector: np.ndarray  # int, index into SECTORS_33
    beta: np.ndarray  # market beta
    idio_vol: np.ndarray  # daily idiosyncratic volatility at the base market volatility
    group: np.ndarray  # int, peer group id (co-moving cluster)
    peers: sp.csr_matrix  # (N, N) 0/1 adjacency of the hidden peer graph (same group, i != j)
    list_idx: np.ndarray  # int, horizon session index of the first listed day
    delist_idx: np.ndarray  # int, horizon session index of the first day no longer listed
    initial_price: np.ndarray  # unadjusted price on the first listed day
    shares: np.ndarray  # shares outstanding on the first listed day
    no_trade_prob: np.ndarray  # probability of a day without trades
    turnover: np.ndarray  # daily traded value as a fraction of market capitalisation
    crash_idx: np.ndarray  # int, horizon session index a pre-delisting crash starts (no crash: -1)
    crash_return: np.ndarray  # daily return added from crash_idx to the day before delisting


def _crashes(
    config: SynthConfig, list_idx: np.ndarray, delist_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Start and daily return of the crash before each stock's delisting (``CRASH_SHARE`` of them).

    A crash of depth ``D ~ U(CRASH_DEPTH)`` over ``L ~ U(CRASH_SESSIONS)`` sessions adds
    ``(1 − D)^(1/L) − 1`` to the stock's daily return on its last ``L`` listed sessions (never
    before its listing). Drawn from its own static stream, so the other draws do not change.
    """
    rng = rng_static(config, "delist_crash")
    n = len(delist_idx)
    crash = rng.random(n) < CRASH_SHARE
    depth = rng.uniform(*CRASH_DEPTH, size=n)
    length = rng.integers(CRASH_SESSIONS[0], CRASH_SESSIONS[1] + 1, size=n)
    start = np.maximum(delist_idx - length, list_idx + 1)
    sessions = np.maximum(delist_idx - start, 1)
    daily = (1.0 - depth) ** (1.0 / sessions) - 1.0
    return np.where(crash, start, -1), np.where(crash, daily, 0.0)


def _codes(rng: np.random.Generator, n: int) -> np.ndarray:
    numbers = rng.choice(np.arange(1301, 9998), size=n, replace=False)
    codes = np.array([f"{k}0" for k in numbers], dtype=object)
    alnum = rng.random(n) < 0.02
    heads = rng.integers(130, 600, size=n)
    letters = rng.integers(0, len(_ALNUM_LETTERS), size=n)
    for i in np.flatnonzero(alnum):
        code = f"{heads[i]}{_ALNUM_LETTERS[letters[i]]}0"
        if code not in set(codes):
            codes[i] = code
    return codes


def _names(rng: np.random.Generator, sector: np.ndarray, codes: np.ndarray) -> tuple[list, list]:
    head = rng.integers(0, len(_NAME_JA), size=len(codes))
    suffix = rng.integers(0, len(_SUFFIX), size=len(codes))
    ja, en, seen = [], [], set()
    for i, code in enumerate(codes):
        s33 = SECTORS_33[sector[i]]
        stem_ja = f"{_NAME_JA[head[i]]}{s33[1].split('・')[0].removesuffix('業')}"
        stem_en = f"{_NAME_EN[head[i]]} {s33[2]}"
        if stem_ja in seen:
            stem_ja, stem_en = f"{stem_ja}{code[:4]}", f"{stem_en} {code[:4]}"
        seen.add(stem_ja)
        ja.append(stem_ja + _SUFFIX[suffix[i]][0])
        en.append(stem_en + _SUFFIX[suffix[i]][1])
    return ja, en


def _peer_graph(rng: np.random.Generator, sector: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
    """Random groups of about ``PEER_GROUP_SIZE`` stocks inside each sector; peers = group mates."""
    n = len(sector)
    group = np.empty(n, dtype=np.int64)
    next_id = 0
    for s in np.unique(sector):
        members = rng.permutation(np.flatnonzero(sector == s))
        n_groups = max(1, round(len(members) / PEER_GROUP_SIZE))
        group[members] = next_id + np.arange(len(members)) % n_groups
        next_id += n_groups
    by_group = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[by_group])) + 1
    rows, cols = [], []
    for members in np.split(by_group, bounds):
        a, b = np.meshgrid(members, members, indexing="ij")
        off = a != b
        rows.append(a[off])
        cols.append(b[off])
    r, c = np.concatenate(rows), np.concatenate(cols)
    return group, sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n))


def build_universe(
    config: SynthConfig, horizon_days: list[date]
) -> tuple[pl.DataFrame, StockParams]:
    """Universe frame (``UNIVERSE_COLUMNS`` plus segment-history columns) and hidden constants.

    Extra columns: ``MktOld`` (segment code before 2022-04-04), ``MktChange`` (date the stock
    moves to ``MktNew``, nullable) and ``MktNew``. ``Mkt``/``MktNm`` hold the post-reform segment.
    """
    rng = rng_static(config, "universe")
    n_days = len(horizon_days)
    years = n_days / 245.0
    n_ipo = int(rng.poisson(config.stocks * IPO_RATE * years))
    n = config.stocks + n_ipo
    list_idx = np.concatenate(
        [np.zeros(config.stocks, dtype=np.int64), np.sort(rng.integers(1, n_days, size=n_ipo))]
    )
    life = rng.exponential(245.0 / DELIST_RATE, size=n).astype(np.int64)
    delist_idx = list_idx + np.maximum(life, 120)

    weights = np.array([s[4] for s in SECTORS_33])
    sector = rng.choice(len(SECTORS_33), size=n, p=weights / weights.sum())
    log_cap = np.clip(rng.normal(np.log(3e10), 1.5, size=n), np.log(8e8), np.log(4e13))
    size_score = (log_cap - log_cap.mean()) / log_cap.std()
    log_price = np.clip(
        6.7 + 0.45 * size_score + rng.normal(0.0, 0.75, size=n), np.log(120), np.log(60000)
    )
    price = np.exp(log_price)
    shares = np.round(np.exp(log_cap) / price, -3)
    beta = np.clip(1.0 + 0.12 * size_score + rng.normal(0.0, 0.22, size=n), 0.3, 1.8)
    idio_vol = np.clip(
        (0.30 - 0.05 * size_score + rng.normal(0.0, 0.05, size=n)) / np.sqrt(245), 0.009, 0.04
    )
    size_rank = np.argsort(np.argsort(-log_cap))  # 0 = largest
    no_trade_prob = np.where(size_rank >= 0.85 * n, 0.004, 0.0)
    turnover = np.exp(rng.normal(np.log(0.004), 0.5, size=n) - 0.15 * size_score)

    codes = _codes(rng, n)
    co_name, co_name_en = _names(rng, sector, codes)

    # Segments: large caps -> 1st section / Prime; the rest spread over the other boards.
    u = rng.random(n)
    big = size_rank < 0.55 * n
    mkt_old = np.where(
        big,
        "0101",
        np.select([u < 0.25, u < 0.55, u < 0.85], ["0102", "0104", "0106"], default="0107"),
    )
    mkt_new = np.select(
        [mkt_old == "0101", np.isin(mkt_old, ["0104", "0107"])], ["0111", "0113"], "0112"
    )
    mkt_new = np.where((mkt_old == "0101") & (size_rank > 0.45 * n), "0112", mkt_new)
    moves = (mkt_new != "0111") & (rng.random(n) < 0.08)
    reform_idx = np.searchsorted(np.array(horizon_days), REFORM_DAY)
    change_idx = rng.integers(reform_idx + 20, max(reform_idx + 21, n_days), size=n)
    mkt_change = [
        horizon_days[change_idx[i]] if moves[i] and change_idx[i] < n_days else None
        for i in range(n)
    ]
    prime = (mkt_old == "0101") | (mkt_new == "0111")
    prime_rank = np.argsort(np.argsort(np.where(prime, -log_cap, np.inf)))
    n_prime = max(int(prime.sum()), 1)
    bounds = np.array([30, 100, 500, 1000]) * n_prime / 2000.0
    scale = np.select(
        [prime_rank < b for b in bounds],
        ["TOPIX Core30", "TOPIX Large70", "TOPIX Mid400", "TOPIX Small 1"],
        "TOPIX Small 2",
    )
    scale = np.where(prime, scale, "-")
    mrgn = np.where(size_rank < 0.6 * n, "2", np.where(rng.random(n) < 0.05, "3", "1"))

    group, peers = _peer_graph(rng, sector)
    crash_idx, crash_return = _crashes(config, list_idx, delist_idx)
    last_visible = np.searchsorted(np.array(horizon_days), config.end, side="right")
    frame = pl.DataFrame(
        {
            "Code": codes.astype(str),
            "CoName": co_name,
            "CoNameEn": co_name_en,
            "S17": [SECTORS_33[s][3] for s in sector],
            "S17Nm": [SECTORS_17[SECTORS_33[s][3]] for s in sector],
            "S33": [SECTORS_33[s][0] for s in sector],
            "S33Nm": [SECTORS_33[s][1] for s in sector],
            "ScaleCat": scale,
            "Mkt": mkt_new,
            "MktNm": [MARKETS[m] for m in mkt_new],
            "Mrgn": mrgn,
            "MrgnNm": [MARGIN_NAMES[m] for m in mrgn],
            "ProdCat": ["011"] * n,
            "list_date": [horizon_days[k] for k in list_idx],
            "delist_date": [horizon_days[k] if k < last_visible else None for k in delist_idx],
            "shares_outstanding": shares,
            "size_score": size_score,
            "MktOld": mkt_old,
            "MktChange": pl.Series(mkt_change, dtype=pl.Date),
            "MktNew": np.where(moves, "0111", mkt_new),
        }
    ).with_columns(pl.col("delist_date").cast(pl.Date))
    order = np.argsort(codes.astype(str), kind="stable")
    params = StockParams(
        sector=sector[order],
        beta=beta[order],
        idio_vol=idio_vol[order],
        group=group[order],
        peers=peers[order][:, order].tocsr(),
        list_idx=list_idx[order],
        delist_idx=delist_idx[order],
        initial_price=price[order],
        shares=shares[order],
        no_trade_prob=no_trade_prob[order],
        turnover=turnover[order],
        crash_idx=crash_idx[order],
        crash_return=crash_return[order],
    )
    return frame[order], params


def listed_mask(params: StockParams, n_days: int) -> np.ndarray:
    """bool (T, N): listed from the first listed day up to the day before delisting."""
    t = np.arange(n_days)[:, None]
    return (t >= params.list_idx[None, :]) & (t < params.delist_idx[None, :])


def master_table(universe: pl.DataFrame, days: list[date], listed: np.ndarray) -> pl.DataFrame:
    """``equities_master``: one row per (Date, Code) for every listed stock on every trading day.

    ``Mkt`` is ``MktOld`` before 2022-04-04, the post-reform segment after it, and ``MktNew``
    from ``MktChange`` on. Built column by column with gathers (no joins): at 4,000 stocks ×
    10 years the table has about 10 M rows.
    """
    t_idx, i_idx = np.nonzero(listed)
    day_ord = np.array([d.toordinal() for d in days])[t_idx]
    change = universe["MktChange"].to_list()
    change_ord = np.array([c.toordinal() if c is not None else 10**9 for c in change])[i_idx]
    codes = list(MARKETS)
    position = {c: k for k, c in enumerate(codes)}
    old, now, new = (
        np.array([position[c] for c in universe[col]])[i_idx] for col in ("MktOld", "Mkt", "MktNew")
    )
    segment = np.where(
        day_ord < REFORM_DAY.toordinal(), old, np.where(day_ord >= change_ord, new, now)
    )
    columns = {
        "Date": pl.Series("Date", days, dtype=pl.Date).gather(t_idx),
        "Mkt": pl.Series("Mkt", codes).gather(segment),
        "MktNm": pl.Series("MktNm", list(MARKETS.values())).gather(segment),
    }
    frame = pl.DataFrame(
        [columns[c] if c in columns else universe[c].gather(i_idx) for c in MASTER_COLUMNS]
    )
    # The API writes "-" for stocks outside TOPIX; the catalogue's type rule reads it as null.
    return frame.with_columns(pl.col("ScaleCat").replace("-", None))
