"""Future invariance of the fins and premium blocks on the synthetic market.

Built from the raw data as it stood at 19:00 JST on D (every record cut until its source's
publication rule makes it usable, ``support.published``) and from the full raw data, every feature
of every row dated ≤ D must be identical. The cuts are chosen from the
data: a statement disclosed after the close (stored on D, usable only after D), the day an
earnings schedule was moved, and a dividend notice's publication day.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from gogooku.dataset.build import build_dataset
from gogooku.dataset.labels import label_names
from gogooku.features.registry import BLOCKS

from ..support.tables import TableStore

MINE = ("statements", "dividends", "earnings", "breakdown", "futures")
START, END = date(2021, 1, 4), date(2022, 12, 29)


@pytest.fixture(scope="module")
def market() -> dict[str, pl.DataFrame]:
    from gogooku.synth.config import SynthConfig
    from gogooku.synth.market import generate_market

    config = SynthConfig(seed=5, stocks=24, start=date(2020, 6, 1), end=END)
    return generate_market(config).tables


def _cuts(market) -> list[date]:
    # A few months after START, so the cut panels are more than a label horizon long.
    lo = date(2021, 4, 1)
    fs = market["fins_summary"].filter(pl.col("DiscDate").is_between(lo, END))
    after_close = fs.filter(pl.col("DiscTime") >= "15:00")["DiscDate"].min()
    ed = market["fins_earnings_date"]
    moved = (
        ed.filter(pl.col("PubDate") >= lo)
        .filter(pl.len().over("Code", "FQName", pl.col("SchDate").dt.year()) > 1)
        .sort("PubDate")["PubDate"]
    )
    notice = market["fins_dividend"].filter(pl.col("PubDate") > lo)["PubDate"].min()
    cuts = [after_close, notice]
    if moved.len():
        cuts.append(moved[-1])
    assert len(cuts) == 3 and all(c is not None for c in cuts), cuts
    return sorted(set(cuts))


@pytest.mark.slow
def test_future_invariance_of_fins_and_premium_blocks(market):
    registry = {name: BLOCKS[name] for name in MINE}
    full = pl.read_parquet(
        build_dataset(
            "full", START, END, store=TableStore(market), registry=registry, show_progress=False
        ).path
        / "panel.parquet"
    )
    features = [c for c in full.columns if c not in {"Code", "Date", *label_names()}]
    assert set(features) == {f.name for name in MINE for f in BLOCKS[name].features}
    for cut in _cuts(market):
        early = pl.read_parquet(
            build_dataset(
                f"cut_{cut:%Y%m%d}",
                START,
                END,
                store=TableStore(market, cut),
                registry=registry,
                show_progress=False,
            ).path
            / "panel.parquet"
        )
        late = full.filter(pl.col("Date") <= cut)
        assert early.select("Code", "Date").equals(late.select("Code", "Date"))
        for col in features:
            assert early[col].equals(late[col]), f"{col} changes when data after {cut} exists"
    # The blocks are not vacuous on the synthetic market.
    filled = full.select(pl.col(features).is_not_null().mean())
    empty = [c for c in features if filled[c].item() == 0.0]
    assert empty == ["div_days_to_ex"], empty
