"""The HTML report opens in headless Chromium without JavaScript errors and its charts render."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

import polars as pl
import pytest
from typer.testing import CliRunner

from gogooku.cli import app
from gogooku.models.factor import FactorConfig, predict_factor
from gogooku.runs import Ranges, create_run, write_predictions
from gogooku.target import TargetConfig

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]


def _dump_dom(path, profile) -> tuple[str, str]:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make test` installs it (Makefile target chromium)"
    proc = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def _console_errors(log: str) -> list[str]:
    return [
        line
        for line in log.splitlines()
        if "CONSOLE" in line and re.search(r"Uncaught|Error|error", line)
    ]


@pytest.mark.slow
def test_report_renders_in_headless_chromium(synthetic_home, tmp_path):
    runner = CliRunner()
    ranges = Ranges(
        train=(date(2020, 4, 1), date(2020, 7, 31)),
        valid=(date(2020, 8, 1), date(2020, 9, 30)),
        test=(date(2020, 10, 1), date(2020, 12, 31)),
    )
    panel = pl.scan_parquet(synthetic_home / "datasets" / "t1" / "panel.parquet")
    for factor in ("oracle", "reversal"):
        run_dir, info = create_run(f"factor_{factor}", "t1", [1, 5], ranges, run_id=factor)
        cfg = FactorConfig(factor=factor, choose_sign=False)
        write_predictions(
            run_dir,
            predict_factor(cfg, panel, ranges, TargetConfig(horizons=info.horizons), run_dir),
        )
        result = runner.invoke(
            app, ["evaluate", "--run", factor, "--top-k", "5", "--bootstrap", "50"]
        )
        assert result.exit_code == 0, result.output
    compare = tmp_path / "compare.html"
    assert (
        runner.invoke(app, ["compare", "oracle", "reversal", "--out", str(compare)]).exit_code == 0
    )

    report = synthetic_home / "runs" / "oracle" / "report.html"
    source = report.read_text()
    plot_ids = re.findall(r'<div id="([a-z-]+)" class="plotly-graph-div"', source)
    # the charts top-down, then the details (report.py module doc)
    assert plot_ids == [
        "ic-distribution",
        "ic-over-time",
        "turnover-over-time",
        "quantile-cumulative",
        "drawdown",
        "long-only-cumulative",
        "monthly",
        "sector-contribution",
        "deciles",
        "ic-decay",
    ]
    dom, log = _dump_dom(report, tmp_path / "profile1")
    assert _console_errors(log) == []
    for plot_id in plot_ids:
        start = dom.index(f'id="{plot_id}"')
        end = dom.find('class="plotly-graph-div"', start + 1)
        chunk = dom[start : end if end > 0 else len(dom)]
        assert 'class="main-svg"' in chunk, f"{plot_id} did not render"
        assert re.search(r'class="(trace|bars|hm|scatterlayer)', chunk), f"{plot_id} has no traces"
    assert "Summary" in dom and "RankIC" in dom

    # The console check does see script errors: the same page with a broken script fails it.
    broken = tmp_path / "broken.html"
    broken.write_text(source.replace("</body>", "<script>notDefinedAnywhere();</script></body>"))
    _, log = _dump_dom(broken, tmp_path / "profile3")
    assert any("notDefinedAnywhere" in line for line in _console_errors(log))

    compare_html = compare.read_text()
    assert compare_html.count("window.PlotlyConfig") == 1
    assert '<div id="plot-0"' in compare_html
    assert "reversal" in compare_html and "oracle" in compare_html
