"""One copy of plotly.js per home instead of 4.7 MB inlined in every HTML page.

``plotly_src(page)`` returns the ``<script src>`` of the page about to be written at ``page``:

- a page inside ``$GOGOOKU_HOME`` references ``$GOGOOKU_HOME/assets/plotly-<version>.min.js``
  by a path relative to the page's folder (``os.path.relpath``), so the home can be moved or
  opened offline as a whole;
- a page written elsewhere (``gogooku compare --out /tmp/x.html``) gets the same file next to it
  (``plotly-<version>.min.js`` in the page's folder) and references it by name.

The asset is ``plotly.offline.get_plotlyjs()`` of the installed plotly, written atomically and
only when absent (its name carries plotly's version, so an upgrade writes a new file and leaves
the old one for pages that still reference it).
"""

from __future__ import annotations

import os
from pathlib import Path

import plotly
import plotly.offline

from gogooku.io import atomic_write_text
from gogooku.settings import get_settings

ASSETS_DIR = "assets"


def asset_name() -> str:
    return f"plotly-{plotly.__version__}.min.js"


def ensure_asset(folder: Path) -> Path:
    """``folder/plotly-<version>.min.js``, written (atomically) if it does not exist yet."""
    path = Path(folder) / asset_name()
    if not path.is_file():
        atomic_write_text(path, plotly.offline.get_plotlyjs())
    return path


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def plotly_src(page: Path, home: Path | None = None) -> str:
    """The relative ``src`` of plotly.js for an HTML page written at ``page`` (module doc)."""
    page = Path(page)
    home = Path(home) if home is not None else get_settings().home
    folder = home / ASSETS_DIR if _inside(page.parent, home) else page.parent
    asset = ensure_asset(folder)
    return Path(os.path.relpath(asset.resolve(), page.parent.resolve())).as_posix()
