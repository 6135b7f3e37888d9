"""Summarise ``bench/results/*.json``: each benchmark's baseline figures and its ratios.

    python bench/summary.py [bench/results] [--out bench/results/summary.md]
    python bench/summary.py studies/results      # the studies' results (make studies)

Every benchmark writes its own JSON shape; this walks each document and reports

* **ratios**: numeric leaves whose key names a comparison (``ratio_…``, ``…_ratio_…``,
  ``speedup``, ``_over_``, ``_vs_``; a block named ``short_ratio`` is not one), e.g.
  ``pandas_over_polars`` = pandas seconds / Polars seconds;
* **baseline**: numeric timing/throughput leaves (``*seconds``, ``*_s`` incl.
  ``samples_per_s``, ``*_ms``, ``*_rps``, ``*_ms_per_day``) whose own key names the simple
  reference (``baseline``, ``pandas``) or that sit under a key starting with ``baseline``.

It prints one Markdown table (benchmark, kind, JSON path, value) and writes it to ``--out``;
a benchmark with neither says so in one row, so the table lists every result file.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path

from gogooku.io import atomic_write_text

RATIO = re.compile(r"(^|_)ratio_|speedup|_over_|_vs_")
BASELINE = re.compile(r"baseline|pandas")
TIMING = re.compile(r"seconds$|_s$|_ms$|_rps$|ms_per_day$")


def leaves(tree: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], float]]:
    """(path, value) of every int/float leaf (booleans excluded) of a JSON document."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, (*path, str(key)))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from leaves(value, (*path, str(i)))
    elif isinstance(tree, int | float) and not isinstance(tree, bool):
        yield path, float(tree)


def summarise(doc: object) -> list[tuple[str, str, float]]:
    """(kind, dotted path, value) rows: kind is ``ratio`` or ``baseline``."""
    rows = []
    for path, value in leaves(doc):
        dotted = ".".join(path)
        if RATIO.search(path[-1]):
            rows.append(("ratio", dotted, value))
        elif TIMING.search(path[-1]) and (
            BASELINE.search(path[-1]) or any(p.startswith("baseline") for p in path[:-1])
        ):
            rows.append(("baseline", dotted, value))
    return rows


def table(results: Path) -> str:
    lines = ["| benchmark | kind | figure | value |", "|---|---|---|---|"]
    files = sorted(p for p in results.glob("*.json"))
    if not files:
        raise SystemExit(f"{results}: no *.json benchmark results (run scripts/bench.sh)")
    for file in files:
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            lines.append(f"| {file.stem} | error | {file}: not JSON ({exc.msg}) | |")
            continue
        rows = summarise(doc)
        if not rows:
            lines.append(f"| {file.stem} | – | no baseline or ratio in the JSON | |")
        for kind, dotted, value in rows:
            lines.append(f"| {file.stem} | {kind} | `{dotted}` | {value:g} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=Path("bench/results"))
    parser.add_argument("--out", type=Path, default=None, help="default: RESULTS/summary.md")
    args = parser.parse_args()
    text = table(args.results)
    out = args.out or args.results / "summary.md"
    atomic_write_text(out, text)
    print(text, end="")


if __name__ == "__main__":
    main()
