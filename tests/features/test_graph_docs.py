"""docs/features.md lists every graph_*, gemb_* and x_* column with its dtype and formula."""

from __future__ import annotations

from pathlib import Path

from gogooku.features import graph, graph_embedding, interactions


def test_docs_list_every_graph_embedding_and_interaction_column():
    text = (Path(__file__).resolve().parents[2] / "docs" / "features.md").read_text()
    section = text.split("## Correlation graph and interactions", 1)[1].split("\n## ", 1)[0]
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in section.splitlines()
        if line.startswith("| `")
    }
    declared = {
        f.name: f
        for m in (graph, graph_embedding, interactions)
        for b in m.BLOCKS
        for f in b.features
    }
    assert set(rows) == set(declared)
    for name, feature in declared.items():
        assert feature.formula.replace("|", "\\|") in rows[name], name
        assert f"| {feature.dtype} |" in rows[name], name
        assert feature.description in rows[name], name
    assert f"{len(declared)} columns in total" in section
