"""``bench/summary.py``: baselines and ratios pulled out of benchmark JSON documents."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "summary.py"
spec = importlib.util.spec_from_file_location("bench_summary", SCRIPT)
summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summary)


def test_ratios_and_baselines_are_found_and_block_names_are_not_ratios():
    doc = {
        "results": [{"baseline": {"cpu_seconds": 2.5, "rows": 3}, "fetch": {"cpu_seconds": 1}}],
        "block_seconds": {"short_ratio": 10.0},
        "price_features": {"polars_seconds": 0.4, "pandas_seconds": 1.6, "pandas_over_polars": 4.0},
        "speedup_per_day": 35,
        "ratio_raw_vs_parquet": 499.0,
        "ok": True,
    }
    assert summary.summarise(doc) == [
        ("baseline", "results.0.baseline.cpu_seconds", 2.5),
        ("baseline", "price_features.pandas_seconds", 1.6),
        ("ratio", "price_features.pandas_over_polars", 4.0),
        ("ratio", "speedup_per_day", 35.0),
        ("ratio", "ratio_raw_vs_parquet", 499.0),
    ]


def test_table_lists_every_result_file(tmp_path):
    (tmp_path / "bench_a.json").write_text(json.dumps({"speedup": 3}))
    (tmp_path / "bench_b.json").write_text(json.dumps({"samples_per_s": 9}))
    (tmp_path / "bench_c.json").write_text("")
    text = summary.table(tmp_path)
    assert "| bench_a | ratio | `speedup` | 3 |" in text
    assert "| bench_b | – | no baseline or ratio in the JSON | |" in text
    assert "| bench_c | error |" in text
    with pytest.raises(SystemExit, match=r"no \*\.json"):
        summary.table(tmp_path / "empty")
