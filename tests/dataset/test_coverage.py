"""Coverage from the panel's Parquet footer, against hand counts."""

from __future__ import annotations

import json

import polars as pl
import pytest

from gogooku.dataset.coverage import block_coverage, column_coverage, coverage_table


def _dataset(tmp_path, row_group_size: int):
    panel = pl.DataFrame(
        {
            "Code": ["A", "A", "B", "B", "C"],
            "a1": [1.0, None, 2.0, None, None],  # 2 of 5
            "a2": [1.0, 2.0, 3.0, 4.0, 5.0],  # 5 of 5
            "b1": [None, None, None, None, 1.0],  # 1 of 5
        }
    )
    panel.write_parquet(tmp_path / "panel.parquet", row_group_size=row_group_size)
    columns = [{"name": "Code", "role": "key", "block": None}] + [
        {"name": n, "role": "feature", "block": n[0]} for n in ("a1", "a2", "b1")
    ]
    (tmp_path / "features.json").write_text(json.dumps({"columns": columns}))
    return tmp_path


@pytest.mark.parametrize("row_group_size", [2, 5])
def test_coverage_counts_nulls_over_every_row_group(tmp_path, row_group_size):
    path = _dataset(tmp_path, row_group_size)
    assert column_coverage(path / "panel.parquet") == {
        "Code": 1.0,
        "a1": pytest.approx(0.4),
        "a2": 1.0,
        "b1": pytest.approx(0.2),
    }
    a, b = block_coverage(path)
    assert (a.block, a.features, a.mean, a.least, a.least_feature) == (
        "a",
        2,
        pytest.approx(0.7),
        pytest.approx(0.4),
        "a1",
    )
    assert (b.block, b.features, b.mean, b.least_feature) == ("b", 1, pytest.approx(0.2), "b1")
    assert [c._cells for c in coverage_table([a, b]).columns][2] == ["70.0", "20.0"]
