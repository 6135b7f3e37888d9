"""What every HTML page of the evaluate area shares (``report.html``, ``compare.html``): the style
sheet, cell formatting, the page frame and the figure collector that loads plotly.js once
(``gogooku.evaluate.plotlyjs`` gives the ``src`` of the home's one copy)."""

from __future__ import annotations

import html
from collections.abc import Iterable

import plotly.graph_objects as go

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
.warn { color: #a33; } .flag { color: #a60; } .note { color: #555; font-size: 0.9em; }
table.headline td { font-size: 1.05em; } table.headline td.ci { color: #555; }
"""


def fmt(value: object, pct: bool = False) -> str:
    """A table cell: – for null, 4 decimals, or a percentage with 2 (HTML-escaped)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value * 100:.2f}%" if pct else f"{value:.4f}"
    return html.escape(str(value))


def get(d: object, *keys: str) -> object:
    """``d[k1][k2]…``, or None where a key is missing."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


class Figures:
    """Collects figure divs; the first carries plotly.js (inlined, or a ``<script src>`` when
    ``plotlyjs`` is a path ending in ``.js``), the rest reference it."""

    def __init__(self, plotlyjs: str | bool = True) -> None:
        self.parts: list[str] = []
        self.plotlyjs = plotlyjs

    def add(self, fig: go.Figure, title: str, div_id: str | None = None) -> None:
        fig.update_layout(title=title, height=380, margin={"l": 50, "r": 20, "t": 50, "b": 40})
        self.parts.append(
            fig.to_html(
                full_html=False,
                include_plotlyjs=False if self.parts else self.plotlyjs,
                div_id=div_id or f"plot-{len(self.parts)}",
                config={"displaylogo": False, "responsive": True},
            )
        )


def page(title: str, body: Iterable[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
