"""docs/features.md lists every side-data column with its formula in the side-data section."""

from __future__ import annotations

from pathlib import Path

from gogooku.features import daily_margin, flows, margin, options, short_selling

MODULES = (margin, daily_margin, flows, short_selling, options)


def test_docs_list_every_side_column_with_its_formula():
    text = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    section = text.split("## Side data: margin, investor flows, short selling", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in section.splitlines()
        if line.startswith("| `")
    }
    declared = {f.name: f for m in MODULES for b in m.BLOCKS for f in b.features}
    assert set(rows) == set(declared)
    for name, feature in declared.items():
        assert feature.formula.replace("|", "\\|") in rows[name], name
        assert f"| {feature.dtype} |" in rows[name], name
    assert f"{len(declared)} columns in total" in section
