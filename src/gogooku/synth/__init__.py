"""Deterministic synthetic Japanese equity market that speaks the J-Quants V2 data model."""

from gogooku.synth.config import MarketState, SynthConfig, rng_for, rng_static
from gogooku.synth.market import SyntheticMarket, generate_market

__all__ = [
    "MarketState",
    "SynthConfig",
    "SyntheticMarket",
    "generate_market",
    "rng_for",
    "rng_static",
]
