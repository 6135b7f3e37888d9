"""Deterministic synthetic Japanese equity market that speaks the J-Quants V2 data model."""

from gogooku.synth.config import MarketState, SynthConfig, rng_for, rng_static

__all__ = ["MarketState", "SynthConfig", "rng_for", "rng_static"]
