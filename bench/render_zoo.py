"""Render ``bench/bench_zoo.py``'s JSON as the model-zoo tables of ``docs/models.md``.

    python bench/render_zoo.py bench/results/bench_zoo.json [--doc docs/models.md]

Replaces the text between the lines ``<!-- zoo:begin -->`` and ``<!-- zoo:end -->`` of
``--doc`` (written atomically; both markers must be there) with:

1. a line saying what was measured and where its JSON is (market version, stocks, years,
   seeds, folds × test days, the test period per seed);
2. the zoo table: per model its kind, what it is, the paper, per market seed the stitched test
   mean daily RankIC(5d) and the long-short net Sharpe(5d) each with its block-bootstrap 95 %
   interval, and the cost per fold (wall / CPU seconds, mean over the seeds);
3. the paired table: per model and seed the RankIC(5d) and long-short net Sharpe differences
   against ridge and against LightGBM with their paired block-bootstrap 95 % intervals
   (``gogooku compare`` on the common test days), and the ensemble's members per seed.

Prints the rendered block.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gogooku.io import atomic_write_text

BEGIN, END = "<!-- zoo:begin -->", "<!-- zoo:end -->"


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _with_ci(value: float | None, ci: list | None, signed: bool = False) -> str:
    low, high = ci or (None, None)
    return f"{_num(value, signed)} [{_num(low, True)}, {_num(high, True)}]"


def _diff(row: dict | None, key: str) -> str:
    if not row or not row.get(key):
        return "—"
    d = row[key]
    return _with_ci(d.get("estimate"), [d.get("low"), d.get("high")], signed=True)


def render(doc: dict, source: str) -> str:
    """The Markdown block (module doc) of one bench_zoo.py result read from ``source``."""
    market, seeds = doc["market"], list(doc["seeds"])
    periods = "; ".join(
        f"seed {s}: {doc['seeds'][s]['folds']} folds, test "
        + "..".join(next(iter(doc["seeds"][s]["models"].values()))["period"])
        for s in seeds
    )
    lines = [
        f"Measured by `bench/bench_zoo.py` (`{source}`): market version {market['version']}, "
        f"{market['stocks']} stocks, {market['years']} years to {market['end']}, market seeds "
        f"{', '.join(seeds)}; walk-forward over all folds, {doc['test_days_per_fold']} test "
        f"days per fold ({periods}); {doc['cores']} cores.",
        "",
        "| model | kind | what it is | paper | "
        + " | ".join(f"RankIC(5d) seed {s}" for s in seeds)
        + " | "
        + " | ".join(f"LS net Sharpe seed {s}" for s in seeds)
        + " | wall / CPU s per fold |",
        "|---" * (5 + 2 * len(seeds)) + "|",
    ]
    for name, meta in doc["models"].items():
        rows = [doc["seeds"][s]["models"].get(name) for s in seeds]
        present = [r for r in rows if r]
        cost = (
            f"{sum(r['wall_s_per_fold'] for r in present) / len(present):.1f} / "
            f"{sum(r['cpu_s_per_fold'] for r in present) / len(present):.1f}"
            if present
            else "n/a"
        )
        ric = [_with_ci(r["rank_ic_5d"], r["rank_ic_5d_ci95"]) if r else "n/a" for r in rows]
        sharpe = [
            _with_ci(r["ls_net_sharpe_5d"], r["ls_net_sharpe_5d_ci95"], signed=True) if r else "n/a"
            for r in rows
        ]
        lines.append(
            f"| {name} | `{meta['kind']}` | {meta['what']} | {meta['paper']} | "
            + " | ".join(ric + sharpe)
            + f" | {cost} |"
        )
    lines += [
        "",
        "| model | seed | Δ RankIC(5d) vs ridge | Δ RankIC(5d) vs LightGBM | "
        "Δ LS net Sharpe vs ridge | Δ LS net Sharpe vs LightGBM |",
        "|---|---|---|---|---|---|",
    ]
    members = []
    for name in doc["models"]:
        for s in seeds:
            row = doc["seeds"][s]["models"].get(name)
            if not row:
                continue
            ridge, lgbm = row.get("vs_ridge"), row.get("vs_lgbm")
            lines.append(
                f"| {name} | {s} | {_diff(ridge, 'rank_ic_diff')} | {_diff(lgbm, 'rank_ic_diff')}"
                f" | {_diff(ridge, 'ls_sharpe_diff')} | {_diff(lgbm, 'ls_sharpe_diff')} |"
            )
            if "members" in row:
                members.append(f"seed {s}: {' + '.join(row['members'])}")
    if members:
        lines += ["", f"Ensemble members (chosen on validation): {'; '.join(members)}."]
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str, source: Path) -> str:
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"{source}: needs one {BEGIN} line followed by one {END} line")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path, help="bench_zoo.py's JSON")
    parser.add_argument("--doc", type=Path, default=Path(__file__).parents[1] / "docs/models.md")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    result = args.result.resolve()
    source = str(result.relative_to(root)) if result.is_relative_to(root) else str(args.result)
    block = render(json.loads(result.read_text(encoding="utf-8")), source)
    text = replace_block(args.doc.read_text(encoding="utf-8"), block, args.doc)
    atomic_write_text(args.doc, text)
    print(block, end="")
    return block


if __name__ == "__main__":
    main()
