"""``bench/render_zoo.py``: the model-zoo tables rendered from bench_zoo.py's JSON into the block
between the markers of docs/models.md (and the shipped doc has the markers); bench_zoo.py's
model table names shipped configs of registered kinds."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("render_zoo", ROOT / "bench" / "render_zoo.py")
render_zoo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_zoo)


def _row(ric: float, sharpe: float, wall: float, cpu: float, **extra) -> dict:
    return {
        "period": ["2022-06-27", "2022-12-20"],
        "rank_ic_5d": ric,
        "rank_ic_5d_ci95": [ric - 0.01, ric + 0.01],
        "ls_net_sharpe_5d": sharpe,
        "ls_net_sharpe_5d_ci95": [sharpe - 1, sharpe + 1],
        "wall_s_per_fold": wall,
        "cpu_s_per_fold": cpu,
        **extra,
    }


DIFF = {"estimate": 0.004, "low": -0.001, "high": 0.009}
DOC = {
    "market": {"version": 2, "stocks": 60, "years": 2, "end": "2022-12-30", "seeds": [7, 8]},
    "test_days_per_fold": 40,
    "cores": 2,
    "models": {
        "ridge": {"kind": "linear", "what": "ridge per horizon", "paper": "Hoerl & Kennard 1970"},
        "ensemble": {"kind": "ensemble", "what": "ridge + …", "paper": "Caruana et al. 2004"},
    },
    "seeds": {
        "7": {
            "folds": 3,
            "models": {
                "ridge": _row(0.05, 1.0, 10.0, 4.0),
                "ensemble": _row(
                    0.06, 1.5, 2.0, 1.0, members=["ridge", "lgbm"],
                    vs_ridge={"rank_ic_diff": DIFF, "ls_sharpe_diff": DIFF},
                ),
            },
        },
        "8": {"folds": 3, "models": {"ridge": _row(0.04, -0.5, 20.0, 6.0)}},
    },
}  # fmt: skip


def test_render_zoo_tables():
    block = render_zoo.render(DOC, "zoo.json")
    lines = block.splitlines()
    assert lines[0].startswith(
        "Measured by `bench/bench_zoo.py` (`zoo.json`): market version 2, 60 stocks"
    )
    assert "seed 7: 3 folds, test 2022-06-27..2022-12-20" in lines[0]
    assert lines[2] == (
        "| model | kind | what it is | paper | RankIC(5d) seed 7 | RankIC(5d) seed 8 | "
        "LS net Sharpe seed 7 | LS net Sharpe seed 8 | wall / CPU s per fold |"
    )
    # cost: mean over the seeds that ran the model; a seed without it is n/a
    assert (
        "| ridge | `linear` | ridge per horizon | Hoerl & Kennard 1970 | 0.050 [+0.040, +0.060] | "
        "0.040 [+0.030, +0.050] | +1.000 [+0.000, +2.000] | -0.500 [-1.500, +0.500] | 15.0 / 5.0 |"
    ) in lines
    assert any(line.startswith("| ensemble | `ensemble` |") and "| n/a |" in line for line in lines)
    assert "| ensemble | 7 | +0.004 [-0.001, +0.009] | — | +0.004 [-0.001, +0.009] | — |" in lines
    assert lines[-1] == "Ensemble members (chosen on validation): seed 7: ridge + lgbm."


def test_render_zoo_replaces_the_marked_block(tmp_path):
    result, doc = tmp_path / "zoo.json", tmp_path / "models.md"
    result.write_text(json.dumps(DOC))
    doc.write_text(f"# Models\n\n{render_zoo.BEGIN}\nold table\n{render_zoo.END}\n\nafter\n")
    block = render_zoo.main([str(result), "--doc", str(doc)])
    assert doc.read_text() == f"# Models\n\n{render_zoo.BEGIN}\n{block}{render_zoo.END}\n\nafter\n"
    doc.write_text("# Models\n")
    with pytest.raises(SystemExit, match="needs one <!-- zoo:begin --> line"):
        render_zoo.main([str(result), "--doc", str(doc)])
    shipped = (ROOT / "docs" / "models.md").read_text()
    assert shipped.count(render_zoo.BEGIN) == shipped.count(render_zoo.END) == 1


def test_every_zoo_row_names_a_shipped_config_of_its_kind(monkeypatch):
    from gogooku.config import CONFIGS_DIR, read_toml
    from gogooku.models.registry import kind_names

    spec = importlib.util.spec_from_file_location("bench_zoo", ROOT / "bench" / "bench_zoo.py")
    bench_zoo = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_zoo", bench_zoo)  # dataclasses look their module up
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script adds studies/ to it
    spec.loader.exec_module(bench_zoo)
    for name, row in bench_zoo.ZOO.items():
        assert row.what and row.paper, name
        if row.config is None:
            assert row.kind == "ensemble", name
            continue
        assert row.kind in kind_names(), name
        assert read_toml(CONFIGS_DIR / row.config)["model"]["kind"] == row.kind, name
