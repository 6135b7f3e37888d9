"""Registry of feature blocks: ``BLOCKS[name] -> Block``.

Each block module exposes a module-level ``BLOCKS: tuple[Block, ...]``; add the module to
``_BLOCK_MODULES`` below to register its blocks. Block names must be unique, and so must feature
names across all blocks (the panel has one column per feature).
"""

from __future__ import annotations

from types import ModuleType

from gogooku.features import (
    calendar_flags,
    daily_margin,
    dividends,
    earnings,
    flows,
    graph,
    interactions,
    limits,
    liquidity,
    margin,
    market,
    options,
    premium,
    returns,
    sector,
    session,
    short_selling,
    statements,
    technicals,
    volatility,
)
from gogooku.features.base import Block

_BLOCK_MODULES: tuple[ModuleType, ...] = (
    returns,
    volatility,
    technicals,
    liquidity,
    limits,
    market,
    sector,
    calendar_flags,
    margin,
    daily_margin,
    flows,
    short_selling,
    options,
    statements,
    dividends,
    earnings,
    premium,
    session,
    graph,
    interactions,
)


def _collect(modules: tuple[ModuleType, ...]) -> dict[str, Block]:
    blocks: dict[str, Block] = {}
    owner: dict[str, str] = {}
    for module in modules:
        for block in module.BLOCKS:
            if block.name in blocks:
                raise ValueError(f"duplicate block name {block.name!r} in {module.__name__}")
            for feature in block.features:
                if feature.name in owner:
                    raise ValueError(
                        f"feature {feature.name!r} declared by blocks {owner[feature.name]!r} "
                        f"and {block.name!r}"
                    )
                owner[feature.name] = block.name
            blocks[block.name] = block
    return blocks


BLOCKS: dict[str, Block] = _collect(_BLOCK_MODULES)
