"""Feature and block declarations shared by every feature block and the dataset builder.

A *block* is a named group of features computed together from the base price frame (and, for
side-data blocks, from other raw sources joined point-in-time). ``Block.compute`` receives a
:class:`BlockContext` and returns a lazy frame with exactly ``Code``, ``Date`` and the declared
feature columns, one row per base-frame row.

The base frame (built by the dataset layer) is sorted by (Code, Date) and holds one row per
(Code, trading day) while the stock is listed. Every rolling window must run over each stock's
own rows (``.over("Code")``); warm-up rows are null, never imputed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from gogooku.calendar import TradingCalendar


@dataclass(frozen=True)
class Feature:
    """One output column of a block.

    ``window`` is the number of trading days of history the value needs (None for point values);
    ``dtype`` is the Polars dtype name of the column in the panel (``"Float32"`` unless declared).
    """

    name: str
    description: str
    formula: str
    window: int | None
    dtype: str = "Float32"


@dataclass(frozen=True)
class Block:
    """A group of features computed together.

    ``availability`` is a key of ``gogooku.features.availability.AVAILABILITY`` naming the rule
    that decides when the block's source records may first be used; ``lookback`` is the number of
    trading days of history before the build start the block needs to fill its windows.

    Availability keys: ``"bars_same_day"`` (own bars, TOPIX and index bars of day t: usable on
    t), ``"statement_disclosure"``, ``"weekly_margin"``, ``"margin_interest"``,
    ``"next_trading_day"``, ``"earnings_calendar"``, ``"master_valid_from"``,
    ``"edinet_submission"`` (see
    ``gogooku.features.availability``).

    ``cross_sectional`` marks a block whose value on a row depends on other stocks' rows (an
    aggregate over a date's cross-section, a series taken from whichever stocks trade on a
    date): the builder computes it once on the whole base frame, every other block stock chunk
    by stock chunk.

    ``whole_frame`` marks a per-stock block that the builder still runs once on the whole base
    frame, because its cost is reading a base table (the bars' session fields) that every stock
    chunk would read whole again to keep its own codes.

    ``optional_sources`` pairs a source with the features that need it: when that source has no
    rows in the store the block is still built and those features are null. The dataset planner
    records such features in ``null_features`` (feature, reason); a declaration leaves it empty.

    ``opt_in`` marks a block built only when requested by name (``--blocks default,NAME``): a
    build without a block list leaves it out (its cost is not in the default build's budget).
    ``history_dependent`` marks a block whose values on a day depend on the whole history of the
    base frame, not only on its declared lookback (a chain of refreshes warm-started from the
    previous one): a dataset holding it is rebuilt in full rather than extended.

    ``jpx_only`` names the Japanese rule a block encodes (price limits, TSE sessions): the
    builder skips it, with that reason, on a store holding another market (``gogooku.market``).
    ``jpx_features`` pairs such a rule with the features of an otherwise general block that encode
    it (the JPX SQ day of the calendar block): on another market they are null, recorded in
    ``null_features`` like those of an absent optional source.
    """

    name: str
    sources: tuple[str, ...]
    availability: str
    lookback: int
    features: tuple[Feature, ...]
    compute: Callable[[BlockContext], pl.LazyFrame]
    cross_sectional: bool = field(default=False, kw_only=True)
    whole_frame: bool = field(default=False, kw_only=True)
    required_columns: tuple[tuple[str, str], ...] = field(default=(), kw_only=True)
    optional_sources: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), kw_only=True)
    null_features: tuple[tuple[str, str], ...] = field(default=(), kw_only=True)
    jpx_only: str | None = field(default=None, kw_only=True)
    jpx_features: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), kw_only=True)
    opt_in: bool = field(default=False, kw_only=True)
    history_dependent: bool = field(default=False, kw_only=True)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)


@dataclass
class BlockContext:
    """What a block's ``compute`` may read.

    ``base`` is the base price frame; ``store`` is the raw store (``RawStore``) for blocks that
    join other sources; ``asof_join`` is the dataset layer's point-in-time as-of join, the only
    sanctioned way to attach a source record to a panel row. ``shared`` holds frames a block
    derives from the store alone, the same for every stock chunk (the stored split factors): the
    builder gives every chunk of a build the same dict, so they are computed once.
    """

    base: pl.LazyFrame
    calendar: TradingCalendar
    store: Any
    asof_join: Callable[..., pl.LazyFrame]
    shared: dict[str, pl.DataFrame] = field(default_factory=dict)
