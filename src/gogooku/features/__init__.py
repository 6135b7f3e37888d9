"""Feature blocks of the point-in-time panel (declarations in ``base``, registry in ``registry``,
when a source record may first be used in ``availability``)."""

from gogooku.features.base import Block, BlockContext, Feature

__all__ = ["Block", "BlockContext", "Feature"]
