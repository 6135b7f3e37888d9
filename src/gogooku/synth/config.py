"""Synthetic market configuration and day-keyed random streams (the shared state the simulator
fills is ``gogooku.synth.state.MarketState``).

Determinism and prefix stability rest on two rules:

* every per-day random number comes from ``rng_for(seed, stream, day)``, a generator keyed by
  ``(seed, crc32(stream), day.toordinal())``, so the numbers drawn for a day never depend on the
  configured ``end``;
* per-stock constants (universe, listing dates, peer graph, betas) come from ``rng_static``,
  keyed only by ``(seed, stocks, start)`` and a stream name.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np

from gogooku.errors import GogookuError


class SynthConfigError(GogookuError, ValueError):
    """A synthetic-market parameter out of range; names the parameter and its value. Like a usage
    error it exits 2."""

    exit_code = 2


MARKET_VERSIONS = (1, 2)
"""1: the linear market (planted effects linear in filtered states); 2 (default): adds the
nonlinear effects of ``gogooku.synth.nonlinear`` and the value effect of ``gogooku.synth.value``
(docs/synthetic_market.md, "Market version 2")."""


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of one synthetic market; the market is a pure function of them.

    ``market_version`` selects the return model (``MARKET_VERSIONS``); version 1 reproduces the
    markets of earlier releases bit for bit.
    """

    seed: int = 7
    stocks: int = 300
    start: date = date(2019, 1, 1)
    end: date = date(2023, 12, 31)
    market_version: int = 2

    def __post_init__(self) -> None:
        if self.market_version not in MARKET_VERSIONS:
            raise SynthConfigError(
                f"SynthConfig.market_version must be one of {MARKET_VERSIONS}, "
                f"got {self.market_version}"
            )
        if self.stocks < 20:
            raise SynthConfigError(f"SynthConfig.stocks must be >= 20, got {self.stocks}")
        if self.end <= self.start:
            raise SynthConfigError(
                f"SynthConfig.end ({self.end}) must be after start ({self.start})"
            )
        if self.seed < 0:
            raise SynthConfigError(f"SynthConfig.seed must be >= 0, got {self.seed}")


def _stream_key(stream: str) -> int:
    return zlib.crc32(stream.encode("utf-8"))


def rng_for(seed: int, stream: str, day: date) -> np.random.Generator:
    """Generator for the random numbers of ``stream`` on ``day``.

    ``np.random.default_rng([seed, crc32(stream), day.toordinal()])``: independent of the
    configured end date, so a longer market repeats the draws of a shorter one day by day.
    """
    return np.random.default_rng([seed, _stream_key(stream), day.toordinal()])


def rng_static(config: SynthConfig, stream: str) -> np.random.Generator:
    """Generator for per-stock constants, keyed by ``(seed, stocks, start)`` and ``stream`` only."""
    return np.random.default_rng(
        [config.seed, config.stocks, config.start.toordinal(), _stream_key(stream)]
    )
