"""Feature blocks of the point-in-time panel (declarations in ``base``, registry in ``registry``)."""

from gogooku.features.base import Block, BlockContext, Feature

__all__ = ["Block", "BlockContext", "Feature"]
