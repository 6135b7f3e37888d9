"""The morning-session block ``am``: formulas on a hand frame, Premium build and non-Premium skip."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from gogooku.calendar import TradingCalendar
from gogooku.dataset.build import build_dataset
from gogooku.dataset.plan import plan_blocks
from gogooku.features.base import BlockContext
from gogooku.features.registry import BLOCKS
from gogooku.features.session import BLOCK, FEATURES, LOOKBACK
from gogooku.settings import Plan
from gogooku.store.raw import RawStore
from gogooku.store.synthetic import fetch_synthetic_market
from gogooku.synth.config import SynthConfig
from gogooku.synth.market import generate_market

from .conftest import BASE_SCHEMA, finish_base

CAL_DAYS = TradingCalendar.from_xtks(date(2021, 3, 1), date(2021, 3, 31)).days(
    date(2021, 3, 1), date(2021, 3, 31)
)
# (O, H, L, C, Vo, AdjFactor) and (MO, MH, ML, MC, MVo, AO, AC) per day; None = no trade
WHOLE = [
    (100.0, 110.0, 95.0, 105.0, 1000.0, 1.0),
    (106.0, 112.0, 104.0, 110.0, 2000.0, 1.0),
    None,
    (56.0, 58.0, 54.0, 55.0, 4000.0, 0.5),  # 1:2 split ex-date: previous close 110 → 55
    (55.0, 57.0, 54.0, 56.0, 3000.0, 1.0),
    (56.0, 60.0, 55.0, 59.0, 3000.0, 1.0),
    (59.0, 60.0, 57.0, 58.0, 3000.0, 1.0),
]
SESSIONS = [
    (100.0, 108.0, 95.0, 104.0, 600.0, 104.0, 105.0),
    (106.0, 112.0, 104.0, 108.0, 500.0, 109.0, 110.0),
    None,
    (56.0, 58.0, 54.0, 57.0, 2000.0, 56.0, 55.0),
    (55.0, 57.0, 54.0, 55.0, 1000.0, 55.0, 56.0),
    (56.0, 59.0, 55.0, 58.0, 1500.0, 58.0, 59.0),
    (59.0, 60.0, 57.0, 57.0, 1500.0, 57.0, 58.0),
]


class _Store:
    def __init__(self, bars: pl.DataFrame) -> None:
        self.bars = bars

    def scan(self, dataset: str) -> pl.LazyFrame:
        assert dataset == "equities_bars_daily"
        return self.bars.lazy()


def _hand_context() -> BlockContext:
    days = CAL_DAYS[: len(WHOLE)]
    rows = []
    for day, whole in zip(days, WHOLE, strict=True):
        o, h, low, c, vo, f = whole or (None, None, None, None, None, 1.0)
        rows.append({"Code": "13010", "Date": day, "O": o, "H": h, "L": low, "C": c, "Vo": vo,
                     "Va": vo and vo * c, "AdjFactor": f, "UL": False, "LL": False, "S33": "0050",
                     "S17": "1", "Mkt": "0111", "ScaleCat": "-", "topix_C": 1.0, "topix_O": 1.0,
                     "topix_H": 1.0, "topix_L": 1.0})  # fmt: skip
    base = finish_base(pl.DataFrame(rows, schema_overrides=BASE_SCHEMA))
    session_names = ("MO", "MH", "ML", "MC", "MVo", "AO", "AC")
    bars = pl.DataFrame(
        [
            {"Code": "13010", "Date": d, **dict(zip(session_names, s or (None,) * 7, strict=True))}
            for d, s in zip(days, SESSIONS, strict=True)
        ],
        schema_overrides=dict.fromkeys(session_names, pl.Float64),
    )
    calendar = TradingCalendar.from_xtks(days[0], days[-1])
    return BlockContext(base=base.lazy(), calendar=calendar, store=_Store(bars), asof_join=None)


def test_formulas_match_hand_computed_values():
    out = BLOCK.compute(_hand_context()).collect()
    assert out.columns == ["Code", "Date", *(f.name for f in FEATURES)]
    assert out.schema["am_ret"] == pl.Float32
    rows = out.rows(named=True)
    first, second, idle, split = rows[0], rows[1], rows[2], rows[3]
    assert first["am_ret"] == pytest.approx(0.04, rel=1e-6)
    assert first["am_pm_ret"] == pytest.approx(105 / 104 - 1, rel=1e-6)
    assert first["am_pm_minus_am"] == pytest.approx(105 / 104 - 1.04, rel=1e-5)
    assert first["am_vol_share"] == pytest.approx(0.6)
    assert first["am_range"] == pytest.approx(0.13, rel=1e-6)
    assert first["am_gap_ret"] is None  # no previous close
    assert second["am_gap_ret"] == pytest.approx(108 / 105 - 1, rel=1e-6)
    assert all(v is None for k, v in idle.items() if k.startswith("am_"))
    assert split["am_gap_ret"] == pytest.approx(57 / 55 - 1, rel=1e-6)  # across the no-trade day
    diffs = [(s[6] / s[5]) - (s[3] / s[0]) for s in SESSIONS if s is not None]
    # traded rows are 0, 1, 3, 4, 5, 6: the fifth (row 5) is the first with a full window
    assert [r["am_pm_minus_am_ma5"] is None for r in rows] == [True] * 5 + [False] * 2
    assert rows[5]["am_pm_minus_am_ma5"] == pytest.approx(sum(diffs[0:5]) / 5, rel=1e-5)
    assert rows[6]["am_pm_minus_am_ma5"] == pytest.approx(sum(diffs[1:6]) / 5, rel=1e-5)
    assert out["am_pm_minus_am_ma20"].null_count() == out.height
    assert LOOKBACK >= 20 and BLOCKS["am"] is BLOCK


CONFIG = SynthConfig(seed=5, stocks=20, start=date(2020, 9, 1), end=date(2020, 12, 30))
DATASETS = ["markets_calendar", "equities_master", "equities_bars_daily", "indices_topix"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[Plan, RawStore]:
    """The same synthetic market fetched on the Premium and on the Standard plan."""
    market = generate_market(CONFIG, side_tables=False)
    out = {}
    for plan in (Plan.PREMIUM, Plan.STANDARD):
        store = RawStore(tmp_path_factory.mktemp(f"raw_{plan}"))
        fetch_synthetic_market(store, market, DATASETS, plan, progress=False)
        out[plan] = store
    return out


@pytest.mark.slow
def test_premium_store_builds_am_and_standard_store_skips_it(stores):
    premium = build_dataset(
        "am_premium", date(2020, 10, 1), date(2020, 12, 30), blocks=["returns", "am"],
        store=stores[Plan.PREMIUM], warmup_days=25, show_progress=False,
    )  # fmt: skip
    panel = pl.read_parquet(premium.path / "panel.parquet")
    assert premium.blocks == ("returns", "am")
    late = panel.filter(pl.col("Date") >= date(2020, 12, 1))
    for feature in BLOCK.feature_names:
        assert late[feature].null_count() < late.height * 0.1, feature
    assert late["am_vol_share"].is_between(0, 1).all()

    standard = build_dataset(
        "am_standard", date(2020, 10, 1), date(2020, 12, 30), blocks=["returns", "am"],
        store=stores[Plan.STANDARD], warmup_days=25, show_progress=False,
    )  # fmt: skip
    assert standard.blocks == ("returns",)
    index = json.loads((standard.path / "features.json").read_text())
    assert index["skipped"] == [
        {
            "block": "am",
            "reason": "no values of column(s) equities_bars_daily.MO in the store "
            "(Premium-only fields, absent below the Premium plan)",
        }
    ]
    assert not any(
        c.startswith("am_") for c in pl.read_parquet_schema(standard.path / "panel.parquet")
    )
    _, skipped = plan_blocks(["am"], stores[Plan.PREMIUM], BLOCKS)
    assert skipped == {}


def test_docs_list_every_am_column_with_its_formula():
    text = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    section = text.split("## Morning and afternoon sessions (Premium)", 1)[1].split("\n## ", 1)[0]
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in section.splitlines()
        if line.startswith("| `")
    }
    assert set(rows) == set(BLOCK.feature_names)
    for feature in FEATURES:
        assert (
            f"| {feature.dtype} | {feature.window or '–'} | {feature.formula} |"
            in rows[feature.name]
        )
    assert f"lookback {LOOKBACK} trading days; {len(FEATURES)} columns" in section
