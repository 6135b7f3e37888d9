"""Registry of feature blocks: ``BLOCKS[name] -> Block``.

Each built-in block module exposes a module-level ``BLOCKS: tuple[Block, ...]`` and is listed in
``_BLOCK_MODULES`` below. Other packages add blocks through the entry point group
``gogooku.features``: an entry ``name = "package.module:BLOCKS"`` names a :class:`Block` or a
tuple of them (``docs/extending.md``). Block names must be unique, and so must feature names
across all blocks (the panel has one column per feature).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from types import ModuleType

from gogooku.errors import GogookuError
from gogooku.features import (
    calendar_flags,
    daily_margin,
    dividends,
    earnings,
    flows,
    graph,
    graph_embedding,
    interactions,
    limits,
    liquidity,
    margin,
    market,
    minute,
    options,
    ownership,
    premium,
    returns,
    sector,
    session,
    short_selling,
    statement_details,
    statements,
    tdnet,
    technicals,
    valuation,
    volatility,
)
from gogooku.features.base import Block

ENTRY_POINT_GROUP = "gogooku.features"


class BlockRegistryError(GogookuError, ValueError):
    """Two blocks share a name or a feature, or a plugin's entry point is not a block."""


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
    statement_details,
    dividends,
    valuation,
    tdnet,
    ownership,
    earnings,
    premium,
    session,
    minute,
    graph,
    graph_embedding,
    interactions,
)


def plugin_blocks() -> list[tuple[str, Block]]:
    """(entry point, block) of every block the installed plugins register."""
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            value = ep.load()
        except Exception as exc:
            raise BlockRegistryError(
                f"feature entry point {ep.name!r} ({ep.value}) cannot be loaded: {exc}"
            ) from exc
        blocks = value if isinstance(value, tuple | list) else (value,)
        for block in blocks:
            if not isinstance(block, Block):
                raise BlockRegistryError(
                    f"feature entry point {ep.name!r} ({ep.value}) is not a Block or a tuple of "
                    f"Blocks: {type(block).__name__}"
                )
            found.append((f"entry point {ep.name!r}", block))
    return found


def _collect(sources: list[tuple[str, Block]]) -> dict[str, Block]:
    blocks: dict[str, Block] = {}
    owner: dict[str, str] = {}
    for source, block in sources:
        if block.name in blocks:
            raise BlockRegistryError(f"duplicate block name {block.name!r} in {source}")
        for feature in block.features:
            if feature.name in owner:
                raise BlockRegistryError(
                    f"feature {feature.name!r} declared by blocks {owner[feature.name]!r} "
                    f"and {block.name!r}"
                )
            owner[feature.name] = block.name
        blocks[block.name] = block
    return blocks


BLOCKS: dict[str, Block] = _collect(
    [(m.__name__, b) for m in _BLOCK_MODULES for b in m.BLOCKS] + plugin_blocks()
)
