"""docs/features.md lists every fins/premium column with its dtype and formula in its section."""

from __future__ import annotations

from pathlib import Path

from gogooku.features import dividends, earnings, premium, statements

MODULES = (statements, dividends, earnings, premium)
HEADING = "## Fundamentals, dividends, earnings calendar and Premium data"


def test_docs_list_every_fins_and_premium_column_with_its_formula():
    text = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
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
    assert f"{len(declared)} columns" in section.split("\n", 3)[2]
    for block in (b for m in MODULES for b in m.BLOCKS):
        assert f"### `{block.name}`" in section, block.name
