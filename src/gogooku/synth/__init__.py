"""Deterministic synthetic Japanese equity market that speaks the J-Quants V2 data model."""

from gogooku.synth.config import SynthConfig, rng_for, rng_static
from gogooku.synth.market import SyntheticMarket, generate_market
from gogooku.synth.state import MarketState

__all__ = [
    "MarketState",
    "SynthConfig",
    "SyntheticMarket",
    "generate_market",
    "rng_for",
    "rng_static",
]
