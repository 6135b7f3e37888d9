"""Coverage of a built panel: the share of rows where each feature has a value, per block.

Read from ``panel.parquet``'s footer (every column chunk records its null count), so it costs no
scan of the data: ``coverage(column) = 1 - nulls(column) / rows``. A block's coverage is the mean
over its features (and its minimum, the least covered feature); ``features.json`` says which block
a column belongs to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from rich.table import Table


@dataclass(frozen=True)
class BlockCoverage:
    block: str
    features: int
    mean: float
    least: float
    least_feature: str


def column_coverage(panel: Path) -> dict[str, float]:
    """Each column of ``panel`` → the share of its rows that are not null (from the footer)."""
    meta = pq.ParquetFile(panel).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    nulls = dict.fromkeys(names, 0)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i, name in enumerate(names):
            stats = group.column(i).statistics
            if stats is None or not stats.has_null_count:
                raise ValueError(f"{panel}: column {name!r} has no null count in row group {g}")
            nulls[name] += stats.null_count
    rows = meta.num_rows
    return {name: (1.0 - nulls[name] / rows) if rows else 0.0 for name in names}


def block_coverage(dataset: Path) -> list[BlockCoverage]:
    """Coverage per feature block of the dataset at ``dataset``, in ``features.json`` order."""
    columns = json.loads((dataset / "features.json").read_text())["columns"]
    covered = column_coverage(dataset / "panel.parquet")
    blocks: dict[str, list[str]] = {}
    for column in columns:
        if column["role"] == "feature":
            blocks.setdefault(column["block"], []).append(column["name"])
    result = []
    for block, names in blocks.items():
        least = min(names, key=lambda n: covered[n])
        mean = sum(covered[n] for n in names) / len(names)
        result.append(BlockCoverage(block, len(names), mean, covered[least], least))
    return result


def coverage_table(rows: list[BlockCoverage], title: str = "feature coverage by block") -> Table:
    """A Rich table of ``rows``: block, features, mean and least coverage (percent)."""
    table = Table(title=title)
    for name in ("block", "features", "mean %", "least %", "least covered feature"):
        table.add_column(name, justify="left" if "block" in name or "feature " in name else "right")
    for row in rows:
        table.add_row(
            row.block,
            str(row.features),
            f"{100 * row.mean:.1f}",
            f"{100 * row.least:.1f}",
            row.least_feature,
        )
    return table
