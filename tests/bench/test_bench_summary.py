"""``bench/summary.py``: baselines and ratios pulled out of benchmark JSON documents; and the
layout rule: no bench script imports another, no study imports a bench script."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "summary.py"
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


def _imported(path: Path) -> set[str]:
    """Top-level names of the modules ``path`` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_bench_script_imports_another_and_no_study_imports_bench():
    """Scripts (``bench_*.py``, ``summary.py``) share code only through helper modules."""
    bench = {p.stem for p in (ROOT / "bench").glob("*.py")}
    scripts = {s for s in bench if s.startswith("bench_")} | {"summary"}
    assert {"bench_train", "bench_loader", "summary"} <= scripts
    for path in sorted((ROOT / "bench").glob("*.py")):
        assert not _imported(path) & scripts, f"{path.name} imports {_imported(path) & scripts}"
    studies = sorted((ROOT / "studies").glob("*.py"))
    assert studies
    for path in studies:
        assert not _imported(path) & (bench | {"bench"}), f"studies/{path.name} imports bench"
