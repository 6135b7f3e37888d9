"""The feature index ``features.json``: what every panel column is and when its inputs are usable.

``{"dataset": name, "columns": [...], "skipped": [...]}`` with, for every column, ``name``,
``role`` (key | feature | target), ``block``, ``description``, ``formula``, ``sources``,
``window``, ``availability`` (rule key, rule text, per-source rule lines) and ``dtype``;
``skipped`` lists ``{"block", "reason"}`` for every requested block left out; ``null_columns``
lists ``{"column", "block", "reason"}`` for every built feature that is null because an optional
source of its block has no data (``Block.null_features``), and such a column carries ``null``
(the reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gogooku.dataset.compute import LABEL_DTYPE
from gogooku.dataset.labels import label_formula, label_names
from gogooku.features.availability import AVAILABILITY, describe_source
from gogooku.features.base import Block


def feature_index(
    name: str, blocks: Sequence[Block], skipped: Mapping[str, str] | None = None
) -> dict:
    """The ``features.json`` document of dataset ``name`` built from ``blocks``; see module doc."""
    columns: list[dict] = [
        {
            "name": "Code",
            "role": "key",
            "block": None,
            "description": "5-character J-Quants issue code",
            "formula": "Code",
            "sources": ["equities_bars_daily", "equities_master"],
            "window": None,
            "availability": None,
            "dtype": "String",
        },
        {
            "name": "Date",
            "role": "key",
            "block": None,
            "description": "trading day t; the row is the state at 19:00 JST on t",
            "formula": "Date",
            "sources": ["markets_calendar"],
            "window": None,
            "availability": None,
            "dtype": "Date",
        },
    ]
    null_columns = [
        {"column": feature, "block": block.name, "reason": reason}
        for block in blocks
        for feature, reason in block.null_features
    ]
    for block in blocks:
        nulls = dict(block.null_features)
        rule = AVAILABILITY[block.availability]
        availability = {
            "rule": rule.key,
            "description": rule.description,
            "sources": [describe_source(s) for s in block.sources if s != "markets_calendar"],
        }
        for feature in block.features:
            columns.append(
                {
                    "name": feature.name,
                    "role": "feature",
                    "block": block.name,
                    "description": feature.description,
                    "formula": feature.formula,
                    "sources": list(block.sources),
                    "window": feature.window,
                    "availability": availability,
                    "dtype": feature.dtype,
                }
                | ({"null": nulls[feature.name]} if feature.name in nulls else {})
            )
    for label in label_names():
        columns.append(
            {
                "name": label,
                "role": "target",
                "block": "labels",
                "description": "forward return bought at the close of t+1 (never a feature)",
                "formula": label_formula(label),
                "sources": ["equities_bars_daily", "indices_topix", "equities_master"],
                "window": int(label.split("_")[1].rstrip("d")) + 1,
                "availability": {
                    "rule": "label",
                    "description": "reads closes after t: a target, unusable as an input",
                    "sources": [],
                },
                "dtype": LABEL_DTYPE,
            }
        )
    skipped_list = [{"block": b, "reason": r} for b, r in (skipped or {}).items()]
    return {
        "dataset": name,
        "columns": columns,
        "skipped": skipped_list,
        "null_columns": null_columns,
    }
